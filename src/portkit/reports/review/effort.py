"""The order in which manual items are listed: grouped by rule, most person-effort first
(docs/reports.md, "Effort")."""

from __future__ import annotations

from dataclasses import dataclass

from portkit.model import FileResult, Finding
from portkit.model import Report
from portkit.reports.review.common import _listed

# Rough person-effort of one manual item of a rule, in points: 1 = delete or flip a line,
# 2 = replace a call, 3 = rework a component, 5 = replace a third-party library, 8 = port
# kernels. Rules not listed (user rules) weigh DEFAULT_EFFORT.
EFFORT_WEIGHTS: dict[str, int] = {
    "cuda-extension": 8,
    "cuda-op": 8,
    "triton": 8,
    "flash-attn": 5,
    "xformers": 5,
    "bitsandbytes": 5,
    "apex": 3,
    "cupy-pynvml": 3,
    "cuda-dependency": 3,
    "data-parallel": 3,
    "torch-compile": 3,
    "shim-jit-script": 3,
    "cuda-profiler": 2,
    "cuda-op-call": 2,
    "cuda-extension-import": 2,
    "cuda-tools": 2,
    "cuda-only-api": 2,
    "cuda-api-unknown": 2,
    "device-capability": 2,
    "cudnn-flags": 1,
    "env-var": 1,
    "torch-pin": 1,
    "nvidia-smi": 1,
    "shim-device-comparison": 1,
    "shim-backend-comparison": 1,
    "shim-env-var": 1,
    "shim-load-path": 1,
    "accelerator-backend-comparison": 1,
    "accelerator-is-cuda": 1,
    "accelerator-typed-tensor": 2,
    "accelerator-tf32": 1,
    "accelerator-env-var": 1,
    "accelerator-no-cpu-twin": 2,
    "cuda-backend-scope": 3,  # a backend to add beside the CUDA one
    "cuda-guard-scope": 2,
    "multi-backend-framework": 5,  # an NPU backend for the framework
    "accelerator-name": 1,
    "mock-patch-target": 1,
    "accelerator-mock-patch-target": 1,
    "cuda-base-image": 1,
    "op-unsupported": 3,
    "npu-library-version": 2,
    "float64": 2,
    "dynamic-shape": 2,
    "host-sync": 1,
    "fused-rmsnorm": 1,
    "fused-rotary": 1,
    "fused-swiglu": 1,
    "fused-attention": 1,
    "fused-optimizer": 1,
}
DEFAULT_EFFORT = 2


@dataclass(frozen=True)
class Todo:
    """The manual items of one rule in one file: one thing to do, however many lines it is on
    (a file's `import triton` lines are one port of its Triton kernels)."""

    file: int  # index among the listed files
    result: FileResult
    items: tuple[tuple[int, Finding], ...]  # (entry index in the file, item), by line

    @property
    def lines(self) -> list[int]:
        return [finding.span.line for _, finding in self.items]


@dataclass(frozen=True)
class EffortGroup:
    rule_id: str
    weight: int
    items: tuple[tuple[int, int, FileResult, Finding], ...]  # (file index, entry index, file, item)

    @property
    def score(self) -> int:
        return self.weight * len(self.items)

    @property
    def todos(self) -> list[Todo]:
        """The items by file: one to-do per file, in report order."""
        by_file: dict[int, list[tuple[int, Finding]]] = {}
        results: dict[int, FileResult] = {}
        for file, entry, result, finding in self.items:
            by_file.setdefault(file, []).append((entry, finding))
            results[file] = result
        return [Todo(file, results[file], tuple(items)) for file, items in by_file.items()]


def _safety_rank(value: str) -> int:
    """manual first: lower safety means more for a person to do."""
    return {"manual": 0, "review": 1, "safe": 2}.get(value, 0)


def effort_groups(report: Report) -> list[EffortGroup]:
    """Manual items grouped by rule, most effort first: by score (weight × items), then the
    lower fix safety, then rule id. Within a group, items keep report order (path, line)."""
    listed = _listed(report)
    by_rule: dict[str, list[tuple[int, int, FileResult, Finding]]] = {}
    for index, result in enumerate(listed):
        for k, finding in enumerate(result.findings):
            by_rule.setdefault(finding.rule_id, []).append((index, len(result.changes) + k, result, finding))
    groups = [EffortGroup(rule, EFFORT_WEIGHTS.get(rule, DEFAULT_EFFORT), tuple(items))
              for rule, items in by_rule.items()]

    def order(group: EffortGroup) -> tuple[int, int, str]:
        safety = report.rules.get(group.rule_id, {}).get("safety") or str(group.items[0][3].safety)
        return (-group.score, _safety_rank(safety), group.rule_id)

    return sorted(groups, key=order)
