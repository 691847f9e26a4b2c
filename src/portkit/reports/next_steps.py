"""What to do once code is ported: the torch / torch-npu pair the port assumes and how to
install it, CANN's environment, how to run, and how to keep the port in CI.

`next_steps(report)` is a pure function of the `Report`, so the terminal summary, the review
page and pr.md say the same thing. The lines are plain text with `code` in backticks (valid
Markdown); whoever renders them escapes them for their format. Which torch a torch_npu release
pairs with is read from the data derived from its wheel (`Requires-Dist: torch==...`).
"""

from __future__ import annotations

from portkit.model import Report, counted

CANN_SET_ENV = "/usr/local/Ascend/ascend-toolkit/set_env.sh"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def torch_pair(torch_npu: str | None) -> tuple[str, str, str] | None:
    """(torch_npu release, the torch it pairs with, its wheel's torch requirement) for a
    release portkit knows (None: the newest); None for a release it has no data for."""
    from portkit.ruleset.npu_api import available_versions, load_npu_api

    known = available_versions()
    version = torch_npu or (known[-1] if known else None)
    if version is None or version not in known:
        return None
    api = load_npu_api(version)
    return api.version, api.torch, api.torch_requirement


def install_line(torch_npu: str | None) -> str:
    """How to install the pair: one line, with the x86_64 CPU-index detail when the wheel pins a +cpu torch."""
    pair = torch_pair(torch_npu)
    if pair is None:
        return (f"Install torch-npu {torch_npu} with the torch release its wheel requires: "
                f"`pip install torch-npu=={torch_npu}`")
    version, torch, requirement = pair
    line = f"Install the pair this port assumes: `pip install torch=={torch} torch-npu=={version}`"
    if "+cpu" in requirement:
        line += f" (x86_64: add `--extra-index-url {TORCH_CPU_INDEX}`, the wheel pins torch=={torch}+cpu)"
    return line


def _mode_line(report: Report) -> list[str]:
    if report.mode == "dry-run":
        return ["Nothing was written: run `portkit migrate` again without --dry-run to port the files"]
    if report.mode == "diff":
        return ["Nothing was written: apply the patch with `git apply` (or `patch -p1`), then review it"]
    return []


def _run_line(report: Report) -> str:
    if report.target == "accelerator":
        return ("Run as before (`python train.py`, `torchrun ...`): torch >= 2.9 loads torch_npu by itself and "
                "torch.accelerator picks the NPU (`npu-smi info` lists them)")
    return ("Run as before (`python train.py`, `torchrun ...`); pick NPUs with ASCEND_RT_VISIBLE_DEVICES "
            "(`npu-smi info` lists them)")


def next_steps(report: Report) -> list[str]:
    """A few short lines, in the order a person does them."""
    lines = _mode_line(report)
    if report.findings:
        lines.append(f"Port the {counted(len(report.findings), 'manual item')} by hand (each names its rule: "
                     "`portkit rules show ID`)")
    lines += [
        install_line(report.torch_npu),
        f"Set up CANN in each shell: `source {CANN_SET_ENV}`",
        _run_line(report),
        "Gate in CI: `portkit check .` exits 1 while CUDA usage remains (docs/ci.md)",
    ]
    return lines


__all__ = ["CANN_SET_ENV", "TORCH_CPU_INDEX", "install_line", "next_steps", "torch_pair"]
