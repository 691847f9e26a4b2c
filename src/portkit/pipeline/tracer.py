"""The child side of `portkit trace`: run one Python program on the CPU and count what it executes.

portkit.pipeline.trace starts it in the program's own interpreter, which need not have portkit
installed (this file imports only the standard library and torch):

    PYTHON .../portkit/pipeline/tracer.py --raw FILE --steps N --timeout S -- SCRIPT ARGS...
    PYTHON .../portkit/pipeline/tracer.py --raw FILE --steps N --timeout S -- -m MODULE ARGS...

It runs the program as `python SCRIPT` would (sys.argv, sys.path[0], `__main__`) under a
TorchDispatchMode that counts every operator call by (operator, dtypes, the program's line that
reached it). When the program ends, after its N-th optimizer step, or at the timeout, it writes the
counts to FILE as JSON and exits at once, without running the rest of the program. The parent
judges the counts (trace_findings.py); this side records facts only.
"""

from __future__ import annotations

import os
import sys

# Python put this file's folder (portkit/pipeline) first on sys.path, where trace.py, config.py ...
# would shadow the standard library and the program's own modules: it goes before anything else is
# imported, and the program's folder takes its place (_prepare_program).
if sys.path and os.path.realpath(sys.path[0] or ".") == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import errno  # noqa: E402
import importlib  # noqa: E402
import ipaddress  # noqa: E402
import json  # noqa: E402
import runpy  # noqa: E402
import socket  # noqa: E402
import sysconfig  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import weakref  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from types import CodeType, FrameType  # noqa: E402
from typing import Any, Callable, NoReturn  # noqa: E402

RAW_FORMAT = 1
# operators that only instrument the program (torch.profiler.record_function): not the program's work
_INSTRUMENTATION = ("profiler::",)
# Tensor methods that hand a value to the host without an ATen operator on a CPU tensor (an NPU
# tensor copies and waits); printing a tensor reads all of it. Recorded as calls, by method name.
HOST_TRANSFERS = ("cpu", "numpy", "tolist", "__repr__")


@dataclass
class _Count:
    count: int = 0
    training: bool = False  # seen at least once since the first backward pass (what runs only before it is setup)

    def add(self, training: bool) -> None:
        self.count += 1
        self.training = self.training or training


# (op, input dtypes, 0-dim input dtypes, output dtypes, detail, on the device, file, line, via)
_Key = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], str, bool, "str | None", int, str]


class _Frames:
    """The program's line that reached an operator: the innermost frame outside torch, portkit (and
    with it the torch_npu stand-in) and the standard library; third-party packages count as the
    program's code. And what it came through on the way: the autograd engine ("backward": the line
    called backward()) or a torch.optim optimizer ("optimizer"). Decided once per code object."""

    def __init__(self, torch_dir: str, packages: list[str], stdlib: list[str], site_packages: list[str]) -> None:
        self.packages, self.stdlib, self.site_packages = (
            tuple(os.path.join(os.path.realpath(d), "") for d in dirs if d) for dirs in (packages, stdlib, site_packages))
        self.optim = os.path.join(os.path.realpath(torch_dir), "optim", "")
        self.codes: dict[CodeType, tuple[str | None, str]] = {}  # code -> (its file if the program's, via)

    def site(self, frame: FrameType | None) -> tuple[str | None, int, str]:
        via = ""
        while frame is not None:
            code = frame.f_code
            if code not in self.codes:
                self.codes[code] = self._classify(code)
            file, marks = self.codes[code]
            if file is not None:
                return file, frame.f_lineno, via
            via = via or marks
            frame = frame.f_back
        return None, 0, via

    def _classify(self, code: CodeType) -> tuple[str | None, str]:
        if code.co_filename.startswith("<"):  # <frozen runpy>, <string>: no file to point at
            return None, ""
        path = os.path.realpath(code.co_filename)
        if path.startswith(self.packages):
            if code.co_name == "_engine_run_backward":  # torch/autograd/graph.py runs the autograd engine
                return None, "backward"
            return None, "optimizer" if path.startswith(self.optim) else ""
        # site-packages may sit inside the standard library's folder
        return (path if path.startswith(self.site_packages) or not path.startswith(self.stdlib) else None), ""


def _frames(torch_dir: str) -> _Frames:
    paths = sysconfig.get_paths()
    portkit_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return _Frames(torch_dir, [torch_dir, portkit_dir],
                   [paths["stdlib"], paths["platstdlib"], os.path.dirname(os.__file__)],
                   [paths["purelib"], paths["platlib"]])


def _tensors(values: Any, torch: Any) -> list[Any]:
    """The tensors among values (arguments, results), one level of lists included (cat's, index's)."""
    found = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(item for item in value if isinstance(item, torch.Tensor))
    return found


class DeviceTensors:
    """The tensors that live on the NPU when the program runs there: parameters, what `.to(...)`
    moved to a device, and every operator result computed from one of them. The rest (data before
    it is moved, a DataLoader's batches, optimizers' step counters, numbers made on the host) stays
    on the host in the NPU program too, where it waits for nothing and runs whatever the CPU runs.
    Known by identity, weakly: a tensor the program drops is forgotten."""

    def __init__(self, torch: Any) -> None:
        self.parameter = torch.nn.Parameter
        self.refs: dict[int, weakref.ref[Any]] = {}

    def __contains__(self, tensor: Any) -> bool:
        if isinstance(tensor, self.parameter):
            return True
        ref = self.refs.get(id(tensor))
        return ref is not None and ref() is tensor  # `is`: a tensor's == compares elements

    def add(self, tensor: Any) -> None:
        key, refs = id(tensor), self.refs

        def forget(ref: weakref.ref[Any]) -> None:
            if refs.get(key) is ref:
                del refs[key]
        refs[key] = weakref.ref(tensor, forget)


def _detail(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], torch: Any) -> str:
    """Argument facts that decide whether an operator tagged dynamic_output_shape has a static shape."""
    if name == "aten::index.Tensor" and len(args) > 1:
        kinds = {str(i.dtype) for i in args[1] if isinstance(i, torch.Tensor)}
        return "bool-index" if kinds & {"torch.bool", "torch.uint8"} else "integer-index"
    if name == "aten::repeat_interleave.Tensor":
        return "output_size" if kwargs.get("output_size") is not None else ""
    if name == "aten::one_hot":
        classes = args[1] if len(args) > 1 else kwargs.get("num_classes", -1)
        return "num_classes" if isinstance(classes, int) and classes >= 0 else ""
    return ""


class Recording:
    """What the program executed, counted; written once, by `finish`, which ends the process."""

    def __init__(self, raw: str, steps_limit: int, frames: _Frames, torch: Any) -> None:
        self.raw, self.steps_limit, self.frames, self.torch = raw, steps_limit, frames, torch
        self.devices = DeviceTensors(torch)
        self.counts: dict[_Key, _Count] = {}
        self.operators: dict[Any, str | None] = {}  # OpOverload -> its name (None: not recorded)
        self.facts: dict[str, dict[str, Any]] = {}  # name -> tags / kind, for the parent
        self.steps = 0
        self.training = False
        self.quiet = 0  # >0 while a host transfer runs: printing a tensor runs operators of its own
        self.error: str | None = None  # the first call the tracer failed to record (the program goes on)
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.ending = threading.Lock()  # taken once, by the first finish, and never released

    def operator(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> None:
        name = self.operators.get(func, "")
        if name == "":
            name = self._learn(func)
        if name is None or self.quiet:
            return
        torch = self.torch
        arguments = _tensors((*args, *kwargs.values()), torch)
        results = _tensors(result if isinstance(result, (list, tuple)) else (result,), torch)
        device = any(a in self.devices for a in arguments)
        if device:
            for tensor in results:
                self.devices.add(tensor)
        shaped = sorted({str(a.dtype)[6:] for a in arguments if a.dim()})
        zero_dim = sorted({str(a.dtype)[6:] for a in arguments if not a.dim()})
        outputs = sorted({str(r.dtype)[6:] for r in results})
        file, line, via = self.frames.site(sys._getframe(1))
        self.training = self.training or via == "backward"
        self._add((name, tuple(shaped), tuple(zero_dim), tuple(outputs), _detail(name, args, kwargs, torch),
                   device, file, line, via))

    def call(self, method: str, tensor: Any, frame: FrameType | None) -> None:
        """A host transfer by a Tensor method (HOST_TRANSFERS)."""
        name = f"Tensor.{method}"
        self.facts.setdefault(name, {"kind": "call"})
        file, line, via = self.frames.site(frame)
        self._add((name, (), (), (), "", tensor in self.devices, file, line, via))

    def _learn(self, func: Any) -> str | None:
        name = func.name()
        name = name.removesuffix(".default")
        recorded = None if name.startswith(_INSTRUMENTATION) else name
        self.operators[func] = recorded
        if recorded is not None:
            self.facts[recorded] = {"kind": "operator", "tags": sorted(t.name for t in func.tags),
                                    "view": bool(func.is_view)}
        return recorded

    def _add(self, key: _Key) -> None:
        with self.lock:
            count = self.counts.get(key)
            if count is None:
                count = self.counts[key] = _Count()
            count.add(self.training)

    def stepped(self, *_hook_args: Any) -> None:
        """torch's global optimizer step post-hook: one more step; the N-th ends the trace."""
        self.steps += 1
        self.training = True
        if self.steps_limit and self.steps >= self.steps_limit:
            self.finish("steps")

    def finish(self, status: str, exit_code: int = 0, error: str | None = None) -> NoReturn:
        """Write the record and end the process now (the first caller wins; others wait for the exit)."""
        self.ending.acquire()
        with self.lock:
            counts = list(self.counts.items())
        document = {
            "format": RAW_FORMAT, "status": status, "exit_code": exit_code, "error": error,
            "steps": self.steps, "training_started": self.training,
            "seconds": round(time.monotonic() - self.started, 3), "torch": self.torch.__version__,
            "operators": self.facts, "tracer_error": self.error,
            "records": [_record(key, count) for key, count in counts],
        }
        temporary = f"{self.raw}.partial"
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(document, stream)
        os.replace(temporary, self.raw)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(exit_code)


def _record(key: _Key, count: _Count) -> dict[str, Any]:
    op, inputs, zero_dim, outputs, detail, device, file, line, via = key
    return {"op": op, "inputs": list(inputs), "zero_dim_inputs": list(zero_dim), "outputs": list(outputs),
            "detail": detail, "device": device, "file": file, "line": line, "via": via, "count": count.count,
            "training": count.training}


# --- what the program may do (no network) and what the tracer follows (steps, devices, transfers) ---


def _refuse_remote(family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return
    host = str(address[0]).split("%", 1)[0]
    if host in ("", "localhost"):
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    mapped = getattr(ip, "ipv4_mapped", None)
    if ip is not None and (ip.is_loopback or ip.is_unspecified or (mapped is not None and mapped.is_loopback)):
        return
    raise OSError(errno.ENETUNREACH, f"portkit trace blocks network access (to {host})")


def block_network() -> None:
    """Connections and datagrams to anything but this machine fail, as on a host without network."""

    def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: socket.socket, *args: Any) -> Any:
            _refuse_remote(self.family, args[-1])  # the address is the last argument of all three
            return method(self, *args)
        return call

    for name in ("connect", "connect_ex", "sendto"):
        setattr(socket.socket, name, guarded(getattr(socket.socket, name)))


def _host_transfer(recording: Recording, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def call(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if not recording.quiet:
            recording.call(name, tensor, sys._getframe(1))
        recording.quiet += 1
        try:
            return method(tensor, *args, **kwargs)
        finally:
            recording.quiet -= 1
    return call


def _moved(recording: Recording, to: Callable[..., Any], parse_to: Callable[..., Any]) -> Callable[..., Any]:
    """Tensor.to: a result sent to a device (any device: on the CPU the program's device is the CPU)
    is a device tensor, and so are parameters and buffers that Module.to moves through it."""
    def call(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        result = to(tensor, *args, **kwargs)
        if parse_to(*args, **kwargs)[0] is not None or tensor in recording.devices:
            recording.devices.add(result)
        return result
    return call


def instrument(recording: Recording, torch: Any) -> None:
    """Count optimizer steps, follow tensors to the device, record host transfers, and let optimizers
    take the foreach path torch takes on every accelerator (the NPU too) but the CPU."""
    optimizer = importlib.import_module("torch.optim.optimizer")
    optimizer.register_optimizer_step_post_hook(recording.stepped)
    supported = optimizer._get_foreach_kernels_supported_devices
    optimizer._get_foreach_kernels_supported_devices = lambda: [*supported(), "cpu"]
    torch.Tensor.to = _moved(recording, torch.Tensor.to, torch._C._nn._parse_to)
    for name in HOST_TRANSFERS:
        setattr(torch.Tensor, name, _host_transfer(recording, name, getattr(torch.Tensor, name)))


# --- running the program ---------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="portkit-tracer")
    parser.add_argument("--raw", required=True)
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=0.0)
    parser.add_argument("program", nargs=argparse.REMAINDER, help="-- SCRIPT ARGS... or -- -m MODULE ARGS...")
    options = parser.parse_args(argv)
    program = options.program[1:] if options.program[:1] == ["--"] else options.program
    options.module = program[1] if program[:1] == ["-m"] and len(program) > 1 else None
    options.program = program[2:] if options.module else program
    return options


def _prepare_program(options: argparse.Namespace) -> Callable[[], Any]:
    """sys.argv and sys.path[0] as `python SCRIPT` / `python -m MODULE` set them, and the call that runs it."""
    if options.module:
        sys.argv = [options.module, *options.program]
        sys.path.insert(0, os.getcwd())
        return lambda: runpy.run_module(options.module, run_name="__main__", alter_sys=True)
    script, *arguments = options.program
    sys.argv = [script, *arguments]
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))
    return lambda: runpy.run_path(os.path.abspath(script), run_name="__main__")


def _exit_status(code: Any) -> tuple[str, int, str | None]:
    """What `sys.exit(code)` means, as Python's own interpreter treats it."""
    if code is None or code == 0:
        return "finished", 0, None
    if isinstance(code, int):
        return "exited", code, None
    print(code, file=sys.stderr)
    return "exited", 1, str(code)


def main(argv: list[str]) -> NoReturn:
    options = _parse(argv)
    block_network()
    import torch  # the program's torch, after the network is closed
    from torch.utils._python_dispatch import TorchDispatchMode

    recording = Recording(options.raw, options.steps, _frames(os.path.dirname(torch.__file__)), torch)

    class OperatorRecorder(TorchDispatchMode):  # type: ignore[misc]
        def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                               kwargs: dict[str, Any] | None = None) -> Any:
            kwargs = kwargs or {}
            result = func(*args, **kwargs)
            try:
                recording.operator(func, args, kwargs, result)
            except Exception as error:  # a bug of the tracer's must not change what the program does
                recording.error = recording.error or f"{func}: {type(error).__name__}: {error}"
            return result

    if not options.module and (not options.program or not os.path.exists(options.program[0])):
        name = options.program[0] if options.program else ""
        print(f"portkit trace: can't open file {name!r}: no such file", file=sys.stderr)
        recording.finish("failed", 2, f"can't open file {name!r}")
    run = _prepare_program(options)
    instrument(recording, torch)
    if options.timeout > 0:
        timer = threading.Timer(options.timeout, recording.finish, ("timeout",))
        timer.daemon = True
        timer.start()
    try:
        with OperatorRecorder():
            run()
    except SystemExit as exit_:
        recording.finish(*_exit_status(exit_.code))
    except BaseException as error:  # the program's own failure, reported as Python would
        traceback.print_exc()
        recording.finish("failed", 1, "".join(traceback.format_exception_only(type(error), error)).strip())
    recording.finish("finished")


if __name__ == "__main__":
    main(sys.argv[1:])
