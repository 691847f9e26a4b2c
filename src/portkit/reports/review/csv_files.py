"""msFmkTransplt's six CSV files: every change in change_list.csv, each manual item in the file
`CSV_ROUTES` sends its rule (and the flagged API) to."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from portkit.model import Change, Finding
from portkit.model import Report
from portkit.pipeline.sourcefile import atomic_write

CHANGE_COLUMNS = ("File", "Start Line", "End Line", "Operation Type", "Message")
ADVICE_COLUMNS = ("File", "Start Line", "End Line", "OP", "Tips")
CHANGE_LIST = "change_list.csv"
UNSUPPORTED = "unsupported_api.csv"
UNKNOWN = "unknown_api.csv"
CUDA_OPS = "cuda_op_list.csv"
PRECISION = "api_precision_advice.csv"
PERFORMANCE = "api_performance_advice.csv"
CSV_FILES = (CHANGE_LIST, UNSUPPORTED, UNKNOWN, CUDA_OPS, PRECISION, PERFORMANCE)

# Where a manual item goes: rule id -> (file, {last name of the flagged API: file}). Every
# change goes to change_list.csv. A rule not listed here (a user rule) -> unsupported_api.csv.
CSV_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "cudnn-flags": (UNSUPPORTED, {
        "benchmark": PERFORMANCE,
        "enable_flash_sdp": PERFORMANCE, "enable_mem_efficient_sdp": PERFORMANCE,
        "enable_math_sdp": PERFORMANCE, "sdp_kernel": PERFORMANCE,
        "deterministic": PRECISION, "allow_fp16_reduced_precision_reduction": PRECISION,
    }),
    "device-capability": (UNSUPPORTED, {"DoubleTensor": PRECISION}),
    "data-parallel": (UNSUPPORTED, {}),
    "cuda-only-api": (UNSUPPORTED, {}),
    "cuda-profiler": (UNSUPPORTED, {}),
    "torch-compile": (UNSUPPORTED, {}),
    "flash-attn": (UNSUPPORTED, {}),
    "xformers": (UNSUPPORTED, {}),
    "bitsandbytes": (UNSUPPORTED, {}),
    "apex": (UNSUPPORTED, {}),
    "cupy-pynvml": (UNSUPPORTED, {}),
    "cuda-extension": (CUDA_OPS, {}),
    "cuda-op": (CUDA_OPS, {}),
    "cuda-op-call": (CUDA_OPS, {}),
    "cuda-extension-import": (CUDA_OPS, {}),
    "triton": (CUDA_OPS, {}),
    "torch-pin": (UNSUPPORTED, {}),
    "cuda-dependency": (UNSUPPORTED, {}),
    "nvidia-smi": (UNSUPPORTED, {}),
    "cuda-tools": (UNSUPPORTED, {}),
    "shim-device-comparison": (UNSUPPORTED, {}),
    "shim-backend-comparison": (UNSUPPORTED, {}),
    "shim-env-var": (UNSUPPORTED, {}),
    "shim-load-path": (UNSUPPORTED, {}),
    "shim-jit-script": (UNSUPPORTED, {}),
    "accelerator-backend-comparison": (UNSUPPORTED, {}),
    "accelerator-is-cuda": (UNSUPPORTED, {}),
    "accelerator-typed-tensor": (UNSUPPORTED, {}),
    "accelerator-tf32": (UNSUPPORTED, {"allow_tf32": PRECISION}),
    "accelerator-env-var": (UNKNOWN, {}),
    "accelerator-no-cpu-twin": (UNSUPPORTED, {}),
    "cuda-backend-scope": (UNSUPPORTED, {}),
    "cuda-guard-scope": (UNSUPPORTED, {}),
    "multi-backend-framework": (UNSUPPORTED, {}),
    "accelerator-name": (UNSUPPORTED, {}),
    "mock-patch-target": (UNSUPPORTED, {}),
    "accelerator-mock-patch-target": (UNSUPPORTED, {}),
    "cuda-base-image": (UNSUPPORTED, {}),
    "op-unsupported": (UNSUPPORTED, {}),
    "npu-library-version": (UNSUPPORTED, {}),
    "float64": (PRECISION, {}),
    "dynamic-shape": (PERFORMANCE, {}),
    "host-sync": (PERFORMANCE, {}),
    "fused-rmsnorm": (PERFORMANCE, {}),
    "fused-rotary": (PERFORMANCE, {}),
    "fused-swiglu": (PERFORMANCE, {}),
    "fused-attention": (PERFORMANCE, {}),
    "fused-optimizer": (PERFORMANCE, {}),
    "cuda-api-unknown": (UNKNOWN, {}),
    "env-var": (UNKNOWN, {}),
}


def _op(finding: Finding) -> str:
    """The flagged code: the item's span on its line (the rest of the line if it goes on)."""
    line, span = finding.line_text, finding.span
    start = max(span.column - 1, 0)
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    return line[start:end].strip() or line.strip() or finding.rule_id


def csv_file_for(finding: Finding) -> str:
    default, by_name = CSV_ROUTES.get(finding.rule_id, (UNSUPPORTED, {}))
    name = re.split(r"[.\s(=]", _op(finding).rstrip("()"))
    leaf = next((part for part in reversed(name) if part), "")
    return by_name.get(leaf, default)


def _operation(change: Change) -> str:
    if change.old_text == "":
        return "INSERT"
    if change.new_text == "":
        return "DELETE"
    return "MODIFY"


def _cell(value: str) -> str:
    """No spreadsheet formulas from file contents or names (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(report: Report) -> dict[str, list[list[str | int]]]:
    rows: dict[str, list[list[str | int]]] = {name: [] for name in CSV_FILES}
    for result, change in report.changes:
        rows[CHANGE_LIST].append([_cell(result.path), change.span.line, max(change.span.end_line, change.span.line),
                                  _operation(change), _cell(f"{change.rule_id}: {change.message}")])
    for result, finding in report.findings:
        rows[csv_file_for(finding)].append([_cell(result.path), finding.span.line,
                                            max(finding.span.end_line, finding.span.line), _cell(_op(finding)),
                                            _cell(f"{finding.rule_id}: {finding.message}")])
    return rows


def write_csv_dir(report: Report, directory: Path | str) -> dict[str, int]:
    """Write msFmkTransplt's six CSV files (UTF-8, header row, all six even when empty) into
    `directory` (created if needed); returns file name -> number of data rows."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in csv_rows(report).items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CHANGE_COLUMNS if name == CHANGE_LIST else ADVICE_COLUMNS)
        writer.writerows(rows)
        atomic_write(folder / name, buffer.getvalue().encode("utf-8"))
        counts[name] = len(rows)
    return counts
