"""portkit trace: a program run on the CPU under the tracer, its operators judged against the
torch_npu tables (docs/trace.md).

The judging is tested on records made up here (with the tags torch gives those operators); the
tracer itself on real runs: a small program that breaks each rule on a marked line, a program that
fails, one that runs into --timeout, and the three examples, original and ported, as CI runs them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from portkit.model import FileStatus
from portkit.pipeline.check import Level
from portkit.pipeline.trace import (OperatorFacts, Program, Record, TraceCommandError, TraceOptions, TraceRun,
                                    parse_command, run_trace)
from portkit.pipeline.trace_findings import TraceFinding, judge, unjudged
from portkit.pipeline.trace_report import build_report, check_run, inventory, trace_rules
from portkit.reports.check_formats import sarif_log
from portkit.reports.runreport import from_json_data, to_json_data
from portkit.ruleset.operators import OperatorTable

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
TABLE = OperatorTable.load("2.13.0")
PYTHON = sys.executable


# --- the command ---------------------------------------------------------------------------------


def test_the_command_is_one_python_program() -> None:
    program = parse_command([PYTHON, "-u", "-W", "error", "train.py", "--lr", "1"])
    assert (program.options, program.script, program.module, program.args) == (("-u", "-W", "error"), "train.py",
                                                                                None, ("--lr", "1"))
    module = parse_command([PYTHON, "-m", "pkg.train", "-x"])
    assert (module.script, module.module, module.args) == (None, "pkg.train", ("-x",))
    for words, reason in ((["torchrun", "train.py"], "not a Python interpreter"), ([PYTHON, "-c", "pass"], "`-c`"),
                          ([PYTHON], "no script"), ([], "after `--`"), ([PYTHON, "-m"], "module name")):
        with pytest.raises(TraceCommandError, match=reason):
            parse_command(words)


# --- judging records -------------------------------------------------------------------------------

DYNAMIC = OperatorFacts("operator", frozenset({"dynamic_output_shape"}))
SYNC = OperatorFacts("operator", frozenset({"data_dependent_output"}))
FACTS = {"aten::index.Tensor": DYNAMIC, "aten::nonzero": DYNAMIC, "aten::repeat_interleave.Tensor": DYNAMIC,
         "aten::_local_scalar_dense": SYNC, "aten::view": OperatorFacts("operator", view=True),
         "Tensor.tolist": OperatorFacts("call")}


def record(op: str, line: int, *, inputs: tuple[str, ...] = ("float32",), outputs: tuple[str, ...] = ("float32",),
           zero_dim: tuple[str, ...] = (), detail: str = "", device: bool = True, count: int = 1,
           training: bool = True, via: str = "") -> Record:
    return Record(op, inputs, zero_dim, outputs, detail, device, "/work/train.py", line, via, count, training)


def traced(*records: Record, training_started: bool = True) -> TraceRun:
    program = Program(PYTHON, (), "train.py", None, (), ("python", "train.py"))
    operators = {r.op: FACTS.get(r.op, OperatorFacts("operator")) for r in records}
    return TraceRun(program, Path("/work"), "steps", 0, None, 3, training_started, 1.0, "2.13.0", records, operators, ())


def found(*records: Record, training_started: bool = True) -> list[tuple[str, str, int, int]]:
    return [(f.rule_id, f.op, f.line, f.count) for f in judge(traced(*records, training_started=training_started), TABLE)]


def test_an_operator_without_an_npu_kernel_falls_back_to_the_cpu() -> None:
    [finding] = judge(traced(record("aten::_linalg_eigh", 7, via="backward")), TABLE)
    assert (finding.rule_id, finding.line) == ("op-unsupported", 7)
    assert "no NPU kernel for `_linalg_eigh.eigenvalues`" in finding.fact
    assert "TORCH_NPU_FALLBACK_CPU_DISABLE=1 makes it an error" in finding.fact
    assert finding.message().endswith("(1 call, in the backward pass started on this line).")
    # torch_npu registers it but says it runs on the CPU (its own message, from the wheel)
    assert found(record("aten::_fused_adam_", 8)) == [("op-unsupported", "aten::_fused_adam_", 8, 1)]
    # the NPU has these: nothing to say
    assert found(record("aten::addmm", 9), record("aten::gelu", 9), record("aten::_foreach_add_.List", 9)) == []


def test_the_cpu_branch_of_a_composite_kernel_is_not_the_npus() -> None:
    # scaled_dot_product_attention calls it on the CPU only; torch_npu registers the composite itself
    assert TABLE.coverage("_scaled_dot_product_flash_attention_for_cpu").status == "missing"
    assert found(record("aten::_scaled_dot_product_flash_attention_for_cpu", 3)) == []


def test_operators_on_the_host_are_not_judged() -> None:
    host = [record(op, 4, device=False, outputs=("float64",)) for op in
            ("aten::_linalg_eigh", "aten::nonzero", "aten::_local_scalar_dense", "aten::mul.Tensor")]
    assert found(*host) == []


def test_float64_is_compute_on_float64_not_moving_it() -> None:
    assert found(record("aten::mul.Tensor", 1, inputs=("float64",), outputs=("float64",))) == [
        ("float64", "aten::mul.Tensor", 1, 1)]
    assert found(record("aten::lt.Scalar", 2, inputs=("float64",), outputs=("bool",))) == [
        ("float64", "aten::lt.Scalar", 2, 1)]
    assert found(record("aten::_to_copy", 3, inputs=("float32",), outputs=("float64",)),
                 record("aten::view", 3, inputs=("float64",), outputs=("float64",)),
                 record("aten::arange", 3, inputs=(), outputs=("float64",)),  # a factory: its users compute
                 record("aten::mul.Tensor", 3, zero_dim=("float64",), outputs=("float32",))) == []


def test_data_dependent_shapes_unless_an_argument_fixes_them() -> None:
    assert found(record("aten::index.Tensor", 5, detail="bool-index"), record("aten::nonzero", 6),
                 record("aten::repeat_interleave.Tensor", 7)) == [
        ("dynamic-shape", "aten::index.Tensor", 5, 1), ("dynamic-shape", "aten::nonzero", 6, 1),
        ("dynamic-shape", "aten::repeat_interleave.Tensor", 7, 1)]
    assert found(record("aten::index.Tensor", 5, detail="integer-index"),
                 record("aten::repeat_interleave.Tensor", 7, detail="output_size")) == []


def test_host_syncs_count_once_the_program_trains() -> None:
    setup = record("aten::_local_scalar_dense", 2, training=False)
    step = record("Tensor.tolist", 9, training=True)
    assert found(setup, step) == [("host-sync", "Tensor.tolist", 9, 1)]
    # a program that never trains (inference) is all step
    assert found(setup, training_started=False) == [("host-sync", "aten::_local_scalar_dense", 2, 1)]


def test_one_finding_per_rule_operator_and_line_with_the_calls_added() -> None:
    [finding] = judge(traced(record("aten::mul.Tensor", 4, inputs=("float64",), outputs=("float64",), count=3),
                             record("aten::mul.Tensor", 4, inputs=("float32", "float64"), outputs=("float64",),
                                    count=2)), TABLE)
    assert (finding.count, finding.dtypes) == (5, ("float32", "float64"))
    assert isinstance(finding, TraceFinding) and "(5 calls)" in finding.message()


def test_the_report_points_at_the_line_and_honours_suppressions(tmp_path: Path) -> None:
    source = tmp_path / "train.py"
    source.write_text("import torch\n    v = loss.item()\nx = t.tolist()  # portkit: ignore[host-sync]\n",
                      encoding="utf-8")
    run = traced(Record("aten::_local_scalar_dense", (), ("float32",), (), "", True, str(source), 2, "", 4, True),
                 Record("Tensor.tolist", (), (), (), "", True, str(source), 3, "", 1, True))
    run = dataclasses.replace(run, cwd=tmp_path)
    rules = trace_rules()
    report = build_report(run, TABLE, rules)
    [(result, finding)] = report.findings
    assert (result.path, result.status, finding.rule_id, finding.evidence) == ("train.py", FileStatus.UNCHANGED,
                                                                               "host-sync", "cpu-trace")
    assert (finding.span.line, finding.span.column, finding.line_text) == (2, 5, "    v = loss.item()")
    advice = rules.get("host-sync").spec.message  # type: ignore[union-attr]
    assert finding.message.endswith(advice[1:] + ".") and "(4 calls)" in finding.message
    # the JSON report reads back; check's formats render it as manual findings
    assert from_json_data(to_json_data(report)).findings[0][1] == finding
    checked = check_run(report, rules)
    assert [d.level for d in checked.diagnostics] == [Level.MANUAL]
    [result_sarif] = sarif_log(checked)["runs"][0]["results"]
    assert result_sarif["ruleId"] == "host-sync" and result_sarif["locations"][0]["physicalLocation"]["region"][
        "startLine"] == 2


# --- real runs -------------------------------------------------------------------------------------

PROGRAM = '''
import json, os, socket, sys
import torch
import torch_npu

facts = {"npu": torch.npu.is_available(), "version": torch_npu.__version__,
         "offline": os.environ.get("HF_HUB_OFFLINE"), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")}
try:
    socket.create_connection(("192.0.2.1", 80), timeout=5)  # TEST-NET-1: reachable only with a network
    facts["network"] = "connected"
except OSError as error:
    facts["network"] = str(error)
with open(sys.argv[1], "w") as stream:
    json.dump(facts, stream)

device = torch.device("npu" if torch.npu.is_available() else "cpu")
model = torch.nn.Linear(4, 4).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
setup = model.weight.sum().item()  # mark: setup
data = torch.randn(64, 4)
for step in range(10):
    rows = int(torch.randint(1, 4, ()).item())  # mark: host
    x = data[step * 4:step * 4 + rows + 1].to(device)
    out = model(x)
    loss = out.pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad()
    value = loss.item()  # mark: item
    picked = out[out > 0]  # mark: mask
    extra = out.detach().double().sum()  # mark: double
    values = torch.linalg.eigvalsh(out.detach().T @ out.detach())  # mark: eigh
    listed = out.tolist()  # portkit: ignore[host-sync]
    copied = out.cpu()  # mark: cpu
    print(loss)  # mark: print
'''


def marks(text: str) -> dict[str, int]:
    return {line.split("# mark: ")[1]: number for number, line in enumerate(text.splitlines(), 1)
            if "# mark: " in line}


def test_trace_a_program_that_breaks_every_rule(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "train.py").write_text(PROGRAM, encoding="utf-8")
    result = cli("trace", "--steps", "2", "--torch-npu", "2.6.0", "-o", "json", "--report", "run.json", "--ops",
                 "ops.json", "--", PYTHON, "train.py", "facts.json")
    assert result.exit_code == 1, result.output
    lines = marks(PROGRAM)
    findings = {(f["rule"], f["line"]) for f in json.loads(result.stdout)["findings"]}
    assert findings == {("host-sync", lines["item"]), ("dynamic-shape", lines["mask"]), ("float64", lines["double"]),
                        ("op-unsupported", lines["eigh"]), ("host-sync", lines["cpu"]), ("host-sync", lines["print"])}
    facts = json.loads((tmp_path / "facts.json").read_text(encoding="utf-8"))
    assert facts["npu"] is False and facts["version"] == "2.6.0"  # the stand-in mirrors --torch-npu
    assert (facts["offline"], facts["gpus"]) == ("1", "")
    assert facts["network"].startswith("[Errno") and "portkit trace blocks network access" in facts["network"]
    report = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert (report["command"], report["torch_npu"]) == ("trace", "2.6.0")
    items = [m for f in report["files"] for m in f["manual_items"]]
    assert {m["evidence"] for m in items} == {"cpu-trace"} and len(items) == 6
    eigh = next(m for m in items if m["rule"] == "op-unsupported")
    assert "torch_npu 2.6.0" in eigh["message"] and "_linalg_eigh" in eigh["message"]
    operators = {o["op"]: o for o in json.loads((tmp_path / "ops.json").read_text(encoding="utf-8"))["operators"]}
    assert operators["aten::addmm"]["npu"] == "implemented" and operators["aten::_linalg_eigh"]["npu"] == "unsupported"
    # the host's `.item()` (a number made on the host) is recorded, not judged
    host_item = operators["aten::_local_scalar_dense"]
    assert f"train.py:{lines['host']}" in {s["site"] for s in host_item["sites"]} and host_item["host_calls"] >= 2
    assert f"train.py:{lines['setup']}" in {s["site"] for s in host_item["sites"]}  # before training: not a finding


def test_how_a_program_ends(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A failure is exit 2 with its error and last stderr lines; --timeout ends a program that does not end
    and its record is kept (the two runs side by side: each waits mostly for torch to import)."""
    (tmp_path / "broken.py").write_text("import torch\nx = torch.ones(2) + 1\nraise ValueError('boom')\n",
                                        encoding="utf-8")
    (tmp_path / "forever.py").write_text("import torch\nx = torch.zeros(3)\nwhile True:\n    x = x + 1\n",
                                         encoding="utf-8")
    with ThreadPoolExecutor(1) as pool:
        forever = pool.submit(run_trace, TraceOptions(parse_command([PYTHON, "forever.py"]), "2.13.0", timeout=3,
                                                      cwd=tmp_path))
        result = cli("trace", "--", PYTHON, "-m", "broken")  # a module, run as `python -m` runs it
        run = forever.result()
    assert result.exit_code == 2
    assert "failed: ValueError: boom" in result.stderr and "| ValueError: boom" in result.stderr
    assert "2 operators, 2 calls from 1 line" in result.stdout  # what it ran before failing is still reported
    assert (run.status, run.completed) == ("timeout", True)
    assert any(r.op == "aten::add.Tensor" and r.line == 4 for r in run.records), run.records


# --- the examples, as CI traces them ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def trace_example(name: str, script: str, args: list[str], steps: int, tmp_path: Path,
                  env: dict[str, str] | None = None) -> Iterator[tuple[TraceRun, list[tuple[str, str, str]]]]:
    """The original and the ported example traced side by side; per run its findings as (rule, op, line text)."""
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}

    def one(variant: str) -> TraceRun:
        program = parse_command([PYTHON, str(EXAMPLES / name / variant / script),
                                 *[a.replace("OUT", str(tmp_path / variant)) for a in args]])
        extra = {**(env or {}), "MASTER_PORT": str(free_port())} if env else {}
        return run_trace(TraceOptions(program, "2.13.0", steps=steps, cwd=tmp_path, env={**base, **extra}))

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(one, ("original", "ported")))
    for run in runs:
        assert run.completed, (run.status, run.error, run.stderr_tail)
        lines = Path(str(run.program.script)).read_text(encoding="utf-8").splitlines()
        yield run, [(f.rule_id, f.op, lines[f.line - 1].strip()) for f in judge(run, TABLE)]


def assert_same_program(results: list[tuple[TraceRun, list[tuple[str, str, str]]]]) -> None:
    """The port runs the same operators and breaks the same rules on the same lines as the original."""
    (original, original_found), (ported, ported_found) = results
    assert {r.op for r in original.records} == {r.op for r in ported.records}
    assert original_found == ported_found
    assert not any(rule == "op-unsupported" for rule, _, _ in ported_found)


def test_trace_mnist(tmp_path: Path) -> None:
    results = list(trace_example("mnist", "train.py", ["--steps", "5", "--seed", "1", "--log-interval", "2"], 3,
                                 tmp_path))
    assert_same_program(results)
    run, found_here = results[1]
    assert run.status == "steps" and run.steps == 3
    assert {"aten::convolution", "aten::convolution_backward", "aten::max_pool2d_with_indices",
            "aten::_foreach_addcmul_.Scalar"} <= {r.op for r in run.records}  # Adadelta takes the NPU's foreach path
    # the loss read back for the record and for the log, each step: the only findings
    assert found_here == [("host-sync", "aten::_local_scalar_dense", 'state["loss"] = loss.item()'),
                          ("host-sync", "aten::_local_scalar_dense", "100. * batch_idx / len(train_loader), loss.item()))")]


def test_trace_amp_to_the_end(tmp_path: Path) -> None:
    results = list(trace_example("amp", "train_amp.py", ["--steps", "3", "--seed", "0", "--out", "OUT"], 0, tmp_path))
    assert_same_program(results)
    run, found_here = results[1]
    assert run.status == "finished" and run.steps == 6  # three steps, a checkpoint, three more
    assert {"aten::gelu", "aten::mse_loss", "aten::_foreach_lerp_.Scalar"} <= {r.op for r in run.records}
    # the RESULT line's checksum sums the parameters in float64 and reads them back: after training, by design
    checksum = "checksum = sum(p.detach().double().sum().item() for p in model.parameters())"
    assert found_here == [("float64", "aten::sum", checksum), ("host-sync", "aten::_local_scalar_dense", checksum),
                          ("host-sync", "aten::_local_scalar_dense",
                           'print(f"RESULT {loss.item():.6f} {checksum:.10f}")')]


def test_trace_ddp_single_process(tmp_path: Path) -> None:
    env = {"MASTER_ADDR": "127.0.0.1", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    results = list(trace_example("ddp", "train_ddp.py", ["--steps", "4", "--seed", "0"], 0, tmp_path, env))
    assert_same_program(results)
    run, found_here = results[1]
    assert run.status == "finished" and run.steps == 4
    assert [rule for rule, _, _ in found_here] == ["float64", "host-sync", "host-sync"]  # the checksum, as in amp
    # gradients are all-reduced by c10d operators: not ATen, so the tables do not judge them (and say so)
    assert "c10d::allreduce_ (not ATen)" in unjudged(run, TABLE)
    assert any(r.op == "c10d::allreduce_" and r.via == "backward" for r in run.records)
    assert inventory(run, TABLE)["optimizer_steps"] == 4
