"""What a trace's records mean on the NPU: the findings of `portkit trace`.

The rules are documented in rules/analysis.toml; this module decides, record by record, which of
them a call of an operator from a line of the program breaks, and merges the calls into one finding
per (rule, operator, line) with their count. Only calls on tensors that live on the NPU in the NPU
program are judged (tracer.DeviceTensors): what the program does on the host it does on the CPU
there as well, without waiting for the NPU.

- op-unsupported: an ATen operator the torch_npu release runs on the CPU or not at all
  (OperatorTable.coverage: a missing kernel on the way, or torch_npu's own "runs on the CPU" message);
- float64: an operator computing on float64 tensors (moving or converting them is not computing);
- dynamic-shape: an operator torch tags dynamic_output_shape, unless an argument fixes the shape;
- host-sync: a value read back to the host (torch's data_dependent_output tag, .cpu(), .numpy(),
  .tolist(), printing a tensor) from the first backward pass on (what runs only before it is setup);
  a program that never trains is all "step".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from portkit.model import counted
from portkit.pipeline.trace import OperatorFacts, Record, TraceRun
from portkit.ruleset.operators import OperatorTable

RULES = ("op-unsupported", "float64", "dynamic-shape", "host-sync")
EVIDENCE = "cpu-trace"
# Operators that copy, convert, allocate or hand out data rather than compute on it: a float64
# tensor passing through them is not float64 compute (what computes on it is reported). Views
# (torch's is_view) and factories (no tensor argument) are not compute either.
MOVEMENT = frozenset({
    "aten::_to_copy", "aten::copy_", "aten::clone", "aten::lift_fresh", "aten::lift_fresh_copy", "aten::detach",
    "aten::detach_", "aten::alias", "aten::contiguous", "aten::_local_scalar_dense", "aten::empty_like",
    "aten::empty_strided", "aten::new_empty", "aten::new_empty_strided", "aten::zeros_like", "aten::ones_like",
    "aten::full_like", "aten::zero_", "aten::fill_.Scalar", "aten::fill_.Tensor", "aten::resize_",
    "aten::set_.source_Storage", "aten::set_.source_Storage_storage_offset", "aten::_copy_from",
    "aten::_copy_from_and_resize", "aten::_unsafe_view", "aten::_has_compatible_shallow_copy_type",
})
# operators tagged dynamic_output_shape whose shape the arguments fix: the tracer's detail that says so
STATIC_WHEN = {"aten::index.Tensor": "integer-index", "aten::repeat_interleave.Tensor": "output_size",
               "aten::one_hot": "num_classes"}
HOST_TRANSFERS = {"Tensor.cpu": "`.cpu()`", "Tensor.numpy": "`.numpy()`", "Tensor.tolist": "`.tolist()`",
                  "Tensor.__repr__": "printing a tensor"}
_SCALAR_READS = "`.item()`, `float()`, `int()`, `bool()`, an `if` on a tensor or formatting a 0-dim tensor"
_WAITS = "the host waits for every operator queued on the NPU"


@dataclass(frozen=True)
class TraceFinding:
    """One rule broken by the calls of one operator from one line of the program."""

    rule_id: str
    op: str
    file: str | None  # absolute; None: no line of the program was on the stack
    line: int
    count: int  # calls
    dtypes: tuple[str, ...]
    via: str  # 'backward': the calls came from the backward pass started on this line; 'optimizer'; ''
    fact: str  # what the trace saw, one sentence without the rule's advice

    def message(self, advice: str = "") -> str:
        where = {"backward": ", in the backward pass started on this line",
                 "optimizer": ", in the optimizer step"}.get(self.via, "")
        said = f"{self.fact} ({counted(self.count, 'call')}{where})."
        return f"{said} {advice[:1].upper()}{advice[1:]}." if advice else said


def judge(run: TraceRun, table: OperatorTable) -> list[TraceFinding]:
    """The findings of a run, sorted by file, line, rule and operator."""
    groups: dict[tuple[str, str, str | None, int], list[Record]] = {}
    for record in run.records:
        for rule_id in rules_broken(record, run.operators.get(record.op, OperatorFacts("operator")), table,
                                    run.training_started):
            groups.setdefault((rule_id, record.op, record.file, record.line), []).append(record)
    found = [_finding(rule_id, op, file, line, records, table)
             for (rule_id, op, file, line), records in groups.items()]
    return sorted(found, key=lambda f: (f.file or "", f.line, RULES.index(f.rule_id), f.op))


def rules_broken(record: Record, facts: OperatorFacts, table: OperatorTable, training_started: bool) -> list[str]:
    if not record.device:
        return []
    broken = []
    if facts.kind == "operator" and unsupported(record.op, table) is not None:
        broken.append("op-unsupported")
    if facts.kind == "operator" and computes_in_float64(record, facts):
        broken.append("float64")
    if "dynamic_output_shape" in facts.tags and record.detail != STATIC_WHEN.get(record.op):
        broken.append("dynamic-shape")
    reads_back = facts.kind == "call" or "data_dependent_output" in facts.tags
    if reads_back and (record.training or not training_started):
        broken.append("host-sync")
    return broken


def computes_in_float64(record: Record, facts: OperatorFacts) -> bool:
    """A float64 result, or a float64 argument with dimensions: a 0-dim one that does not make the
    result float64 is a scalar riding along (type promotion keeps the other argument's dtype)."""
    if facts.view or record.op in MOVEMENT or not (record.inputs or record.zero_dim_inputs):
        return False
    return "float64" in record.outputs or "float64" in record.inputs


@cache
def unsupported(op: str, table: OperatorTable) -> str | None:
    """What the release does with an ATen operator it runs on the CPU or not at all, as a predicate
    ("runs on the CPU with torch_npu 2.13.0: ..."); None when the NPU runs it."""
    if not op.startswith("aten::"):
        return None  # the tables are ATen's: c10d, torchvision and other namespaces are not judged
    coverage = table.coverage(op)
    version = table.npu_version
    if coverage.status == "missing" and not _cpu_branch(op, table):
        names = ", ".join(f"`{m}`" for m in coverage.missing)
        if coverage.no_cpu_kernel:
            return (f"fails on the NPU with torch_npu {version}: no NPU kernel for {names}, "
                    "and no CPU kernel to fall back to")
        disable = table.unregistered.disable_env
        error = f"; {disable}=1 makes it an error" if disable else ""
        return (f"runs on the CPU with torch_npu {version}: no NPU kernel for {names}, so torch_npu falls back "
                f"to the CPU, warning once and copying the tensors to the host and back on every call{error}")
    if coverage.notes:
        return f"runs on the CPU although torch_npu {version} registers it (torch_npu says: \"{coverage.notes[0]}\")"
    return None


def _cpu_branch(op: str, table: OperatorTable) -> bool:
    """An operator only the CPU has a kernel for (torch has no CUDA or composite one): the CPU branch
    of a composite kernel (scaled_dot_product_attention's `_scaled_dot_product_flash_attention_for_cpu`,
    LSTM's `mkldnn_rnn_layer`) that takes another branch on the NPU, or host work the GPU program did
    on the CPU as well."""
    found = table.aten(op)
    return found is not None and found.cpu_only


def _finding(rule_id: str, op: str, file: str | None, line: int, records: list[Record],
             table: OperatorTable) -> TraceFinding:
    dtypes = tuple(sorted({d for r in records for d in (*r.inputs, *r.zero_dim_inputs, *r.outputs)}))
    vias = {r.via for r in records}
    return TraceFinding(rule_id, op, file, line, sum(r.count for r in records), dtypes, vias.pop() if len(vias) == 1 else "",
                        _fact(rule_id, op, records, dtypes, table))


def _fact(rule_id: str, op: str, records: list[Record], dtypes: tuple[str, ...], table: OperatorTable) -> str:
    if rule_id == "op-unsupported":
        return f"`{op}` ({', '.join(dtypes)}) {unsupported(op, table)}" if dtypes else f"`{op}` {unsupported(op, table)}"
    if rule_id == "float64":
        return f"`{op}` computes in float64" + (f" ({', '.join(dtypes)})" if dtypes != ("float64",) else "")
    if rule_id == "dynamic-shape":
        what = ("boolean-mask indexing (`aten::index.Tensor` with a bool index)" if op == "aten::index.Tensor"
                else f"`{op}`")
        return (f"{what} makes an output whose shape depends on the values of its input: {_WAITS} to learn "
                "the size, and each new size compiles anew")
    if op in HOST_TRANSFERS:
        return f"{HOST_TRANSFERS[op]} copies the tensor to the host: {_WAITS}"
    reads = f" ({_SCALAR_READS})" if op == "aten::_local_scalar_dense" else ""
    return f"`{op}`{reads} reads a value back to the host: {_WAITS}"


def unjudged(run: TraceRun, table: OperatorTable) -> list[str]:
    """Operators on NPU tensors the tables cannot judge, each with why: `c10d::allreduce_ (not ATen)`."""
    reasons = {"not-aten": "not ATen", "unknown": "the tables cannot tell"}
    statuses = {record.op: coverage_status(record.op, run.operators.get(record.op, OperatorFacts("operator")), table)
                for record in run.records if record.device}
    return [f"{op} ({reasons[status]})" for op, status in sorted(statuses.items()) if status in reasons]


def coverage_status(op: str, facts: OperatorFacts, table: OperatorTable) -> str:
    """What the trace's operator inventory says about one operator on the NPU."""
    if facts.kind == "call":
        return "host-transfer"
    if not op.startswith("aten::"):
        return "not-aten"
    if unsupported(op, table) is not None:
        return "unsupported"
    status = table.coverage(op).status
    return "cpu-branch" if status == "missing" else status


__all__ = ["EVIDENCE", "HOST_TRANSFERS", "MOVEMENT", "RULES", "STATIC_WHEN", "TraceFinding",
           "computes_in_float64", "coverage_status", "judge", "rules_broken", "unjudged", "unsupported"]
