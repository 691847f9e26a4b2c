"""`portkit trace`: run a program on the CPU under the tracer (tracer.py) and read back what it executed.

The program runs in a child process, so its crash or `sys.exit` cannot take portkit down, with
the CPU stand-in for torch_npu (npu_stub/) first on its PYTHONPATH: ported code imports it and
takes its no-NPU path, original code never imports it. The child never reaches the network (no
Hugging Face downloads, sockets only to this machine) and sees no GPU. It stops by itself after
`steps` optimizer steps or `timeout` seconds; `KILL_GRACE` seconds later portkit kills it.
trace_findings.py judges the records.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_STEPS = 5
DEFAULT_TIMEOUT = 600.0
KILL_GRACE = 30.0  # seconds the child gets after its own timeout to write its record
STDERR_TAIL = 20  # lines of the program's stderr shown when it fails
TRACER = Path(__file__).with_name("tracer.py")
STUB = Path(__file__).with_name("npu_stub")  # its torch_npu package is the stand-in

# what the child sees besides the caller's environment: offline, CPU only, no torch_npu autoload
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
    "CUDA_VISIBLE_DEVICES": "", "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "PYTHONUNBUFFERED": "1",
}
_INTERPRETER = re.compile(r"^python(\d+(\.\d+)*)?(\.exe)?$")
_FLAGS = frozenset("bBdEiIOqsSuvR")  # interpreter options without a value, kept as given
_FLAGS_WITH_VALUE = frozenset({"-W", "-X"})
COMPLETED = ("finished", "steps", "timeout")  # statuses of a run whose record can be trusted


class TraceCommandError(ValueError):
    """The command after `--` is not one Python program portkit can run (one line)."""


@dataclass(frozen=True)
class Program:
    """`python [options] SCRIPT ARGS...` or `python [options] -m MODULE ARGS...`."""

    interpreter: str  # the executable, resolved on PATH
    options: tuple[str, ...]  # interpreter options before the program (-u, -W error, -X dev)
    script: str | None
    module: str | None
    args: tuple[str, ...]
    words: tuple[str, ...]  # the command as given, for messages

    @property
    def shown(self) -> str:
        return " ".join(self.words)


def parse_command(words: Sequence[str]) -> Program:
    """The program of `portkit trace -- python train.py ARGS`: a Python interpreter, its options,
    then a script or `-m module`. Anything else (torchrun, `python -c`, a shell script) is an error."""
    if not words:
        raise TraceCommandError("give the program to trace after `--`: python SCRIPT [ARGS...]")
    interpreter = shutil.which(words[0]) if os.sep not in words[0] else words[0]
    if not _INTERPRETER.match(Path(words[0]).name) or interpreter is None:
        raise TraceCommandError(f"`{words[0]}` is not a Python interpreter: portkit trace runs one Python process "
                                "(python SCRIPT ARGS or python -m MODULE ARGS; for torchrun, run one rank with "
                                "RANK=0 WORLD_SIZE=1)")
    options: list[str] = []
    index = 1
    while index < len(words) and words[index].startswith("-") and words[index] != "-m":
        word = words[index]
        if word in _FLAGS_WITH_VALUE and index + 1 < len(words):
            options += [word, words[index + 1]]
            index += 2
        elif word[1:] and set(word[1:]) <= _FLAGS:
            options.append(word)
            index += 1
        else:
            raise TraceCommandError(f"`{word}`: portkit trace runs a script or `-m module`, "
                                    "with the interpreter options -W, -X and single letters")
    rest = list(words[index:])
    if rest[:1] == ["-m"]:
        if len(rest) < 2:
            raise TraceCommandError("`-m` needs a module name")
        return Program(interpreter, tuple(options), None, rest[1], tuple(rest[2:]), tuple(words))
    if not rest:
        raise TraceCommandError("no script to run after the interpreter")
    return Program(interpreter, tuple(options), rest[0], None, tuple(rest[1:]), tuple(words))


@dataclass(frozen=True)
class TraceOptions:
    program: Program
    torch_npu: str  # the release the stand-in mirrors and the findings are judged against
    steps: int = DEFAULT_STEPS  # stop after this many optimizer steps; 0: no limit
    timeout: float = DEFAULT_TIMEOUT  # seconds
    cwd: Path | None = None  # where the program runs (default: the current folder)
    env: Mapping[str, str] | None = None  # the program's environment before OFFLINE_ENV (default: os.environ)


@dataclass(frozen=True)
class Record:
    """Calls of one operator, with one set of dtypes, reached from one line of the program."""

    op: str  # 'aten::addmm', 'aten::add.Tensor', 'c10d::allreduce_', or a host transfer 'Tensor.tolist'
    inputs: tuple[str, ...]  # dtypes of tensor arguments with dimensions
    zero_dim_inputs: tuple[str, ...]  # dtypes of 0-dim tensor arguments (scalars kept as tensors)
    outputs: tuple[str, ...]
    detail: str  # argument facts: 'bool-index', 'integer-index', 'output_size', 'num_classes'
    device: bool  # it works on tensors that live on the NPU in the NPU program (tracer.DeviceTensors)
    file: str | None  # absolute; None: no frame of the program was on the stack
    line: int
    via: str  # 'backward': the autograd engine ran it (the line called backward()); 'optimizer': torch.optim; ''
    count: int
    training: bool  # ran at least once since the first backward pass or optimizer step (before: setup)


@dataclass(frozen=True)
class OperatorFacts:
    kind: str  # 'operator' (an ATen or other dispatcher operator) or 'call' (a host transfer)
    tags: frozenset[str] = frozenset()  # torch's tags: dynamic_output_shape, data_dependent_output...
    view: bool = False


@dataclass(frozen=True)
class TraceRun:
    program: Program
    cwd: Path
    status: str  # COMPLETED, or 'exited' / 'failed' (the program's error), 'no-record' (no record came back)
    exit_code: int | None
    error: str | None  # one line
    steps: int
    training_started: bool
    seconds: float
    torch_version: str
    records: tuple[Record, ...]
    operators: Mapping[str, OperatorFacts]
    stderr_tail: tuple[str, ...]
    tracer_error: str | None = None  # the first operator call the tracer failed to record

    @property
    def completed(self) -> bool:
        return self.status in COMPLETED


def child_command(program: Program, raw: Path, steps: int, timeout: float) -> list[str]:
    target = ["-m", program.module] if program.module else [program.script or ""]
    return [program.interpreter, *program.options, str(TRACER), "--raw", str(raw), "--steps", str(steps),
            "--timeout", str(timeout), "--", *target, *program.args]


def child_env(base: Mapping[str, str], torch_npu: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(STUB), base.get("PYTHONPATH", "")) if p)
    return {**base, **OFFLINE_ENV, "PYTHONPATH": path, "PORTKIT_NPU_STUB_VERSION": torch_npu}


def run_trace(options: TraceOptions) -> TraceRun:
    cwd = (options.cwd or Path.cwd()).resolve()
    env = child_env(os.environ if options.env is None else options.env, options.torch_npu)
    with tempfile.TemporaryDirectory(prefix="portkit-trace-") as folder:
        raw = Path(folder) / "raw.json"
        command = child_command(options.program, raw, options.steps, options.timeout)
        with open(Path(folder) / "stdout", "wb") as stdout, open(Path(folder) / "stderr", "wb") as stderr:
            exit_code = _run_child(command, cwd, env, options.timeout + KILL_GRACE, stdout, stderr)
        tail = tuple(_tail(Path(folder) / "stderr"))
        data = _read_raw(raw)
    if data is None:
        reason = ("it was killed after --timeout and the grace period" if exit_code is None
                  else f"it ended with exit code {exit_code} before the tracer wrote its record "
                       "(os._exit, a crash, or a signal)")
        return TraceRun(options.program, cwd, "no-record", exit_code, reason, 0, False, 0.0, "", (), {}, tail)
    return _from_raw(data, options.program, cwd, tail)


def _run_child(command: list[str], cwd: Path, env: dict[str, str], limit: float, stdout: Any, stderr: Any) -> int | None:
    """The child's exit code; None if it had to be killed. Its whole process group (DataLoader
    workers, anything it started) goes with it, so nothing it started outlives the trace."""
    child = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             start_new_session=True)
    try:
        return child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    finally:
        _kill_group(child)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    if sys.platform != "win32":
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if child.poll() is None:
        child.kill()
    child.wait()


def _tail(path: Path) -> list[str]:
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return lines[-STDERR_TAIL:]


def _read_raw(raw: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _from_raw(data: dict[str, Any], program: Program, cwd: Path, tail: tuple[str, ...]) -> TraceRun:
    records = tuple(Record(
        op=r["op"], inputs=tuple(r["inputs"]), zero_dim_inputs=tuple(r["zero_dim_inputs"]), outputs=tuple(r["outputs"]),
        detail=r["detail"], device=r["device"], file=r["file"], line=r["line"], via=r["via"], count=r["count"],
        training=r["training"]) for r in data["records"])
    operators = {name: OperatorFacts(kind=facts["kind"], tags=frozenset(facts.get("tags", ())),
                                     view=bool(facts.get("view", False)))
                 for name, facts in data["operators"].items()}
    return TraceRun(program, cwd, data["status"], data["exit_code"], data["error"], data["steps"],
                    data["training_started"], data["seconds"], data["torch"], records, operators, tail,
                    data.get("tracer_error"))


__all__ = ["COMPLETED", "DEFAULT_STEPS", "DEFAULT_TIMEOUT", "OperatorFacts", "Program", "Record", "STUB",
           "TraceCommandError", "TraceOptions", "TraceRun", "child_env", "parse_command", "run_trace"]
