"""`--report` targets: which format a name asks for, writing a report, and never overwriting
what is not portkit's to overwrite.

A name without a suffix that says csv (`mini_csv`, `csv`) is the CSV folder even without its
trailing `/`; any other name portkit cannot place is refused with the closest it can
(`run.jsn` → did you mean 'run.json'?; `out.csv` → 'out/': the CSV report is a folder).

Before `portkit migrate` writes anything (in place, a copy, a patch), every report target is
checked (`ReportTargets.check`): it must be writable, and an existing file there must not be
one the run ports, nor one with uncommitted changes in git, nor a file git tracks or sees as
untracked that portkit did not write (a README, notes) — unless `--force-report`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from portkit.cli.common import PortkitUsageError, did_you_mean, shown, write_file

if TYPE_CHECKING:
    from portkit.model import Report

REPORT_TARGETS = "FILE.json, FILE.html (review page), FILE.md (pull-request text) or DIR/ (msFmkTransplt CSV files)"
FORCE = "--force-report"


KIND_NAMES = {"json": "JSON report", "html": "review page", "md": "pull-request description",
              "csv": "msFmkTransplt CSV files"}


def report_target(target: str) -> str:
    """The target as portkit writes it: a suffix-less name that says csv gets its trailing `/`;
    a name no format fits is a usage error with a suggestion."""
    from portkit.reports.review import report_format

    if report_format(target) is not None:
        return target
    stem, suffix = os.path.splitext(target)
    if not suffix and "csv" in os.path.basename(target).lower():
        return target + "/"
    if suffix.lower() == ".csv":
        suggestion = f"; did you mean '{stem}/'? (the CSV report is a folder of files)"
    else:
        suggestion = did_you_mean(target, [stem + s for s in (".json", ".html", ".md", "/")])
    raise PortkitUsageError(f"{shown(target)}: unknown report format{suggestion} (use {REPORT_TARGETS})")


def check_report_names(targets: Sequence[str]) -> list[str]:
    """Every target resolved (report_target), before anything runs."""
    return [report_target(target) for target in targets]


def described(target: str) -> str:
    """`review.html (review page)`, for the list of reports a run wrote."""
    from portkit.reports.review import report_format

    kind = report_format(target)
    return f"{shown(target)} ({KIND_NAMES[kind]})" if kind in KIND_NAMES else shown(target)


def write_report(report: Report, target: str, sources: Mapping[str, tuple[str, str]] | None = None) -> None:
    """One report, in the format its name asks for (see docs/reports.md)."""
    from portkit.reports import review
    from portkit.reports.runreport import to_json

    target = report_target(target)  # `mini_csv` is the CSV folder for every caller
    kind = review.report_format(target)
    if kind == "csv":
        try:
            review.write_csv_dir(report, Path(target))
        except (OSError, UnicodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise PortkitUsageError(f"{shown(target)}: cannot write: {reason}") from None
    elif kind == "html":
        write_file(Path(target), review.render_html(report, sources))
    elif kind == "md":
        write_file(Path(target), review.render_markdown(report))
    else:
        write_file(Path(target), to_json(report))


def _outputs(target: str) -> list[Path]:
    """The files a report target writes."""
    from portkit.reports.review import CSV_FILES, report_format

    return [Path(target) / name for name in CSV_FILES] if report_format(target) == "csv" else [Path(target)]


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    path_text, folder_text = os.path.abspath(path), os.path.abspath(folder)
    return path_text == folder_text or path_text.startswith(folder_text.rstrip(os.sep) + os.sep)


def _writable_folder(target: str, output: Path | None) -> None:
    """Fail now, before any file is rewritten, if the report could not be written later. A
    folder that does not exist yet counts when the run makes it: a CSV report's (write_csv_dir
    makes it) or one inside the --output copy."""
    from portkit.reports.review import report_format

    path = Path(target)
    csv = report_format(target) == "csv"
    if not csv and path.is_dir():
        raise PortkitUsageError(f"{shown(target)}: is a folder, not a report file")
    folder = path if csv else path.parent
    while not folder.exists() and (csv or _inside(folder, output)) and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        raise PortkitUsageError(f"{shown(target)}: cannot write: {shown(folder)} is not a folder")
    probe = folder / f".portkit-probe.{secrets.token_hex(4)}.portkit-tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as error:
        raise PortkitUsageError(f"{shown(target)}: cannot write: {error.strerror or error}") from None


def written_by_portkit(path: Path) -> bool:
    """Whether an existing file is a report portkit wrote (so a new one may replace it)."""
    from portkit.reports.review import ADVICE_COLUMNS, CHANGE_COLUMNS

    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
            if path.suffix.lower() == ".json":
                data = json.loads(head + stream.read())
                tool = data.get("tool") if isinstance(data, dict) else None
                return "schema_version" in data and isinstance(tool, dict) and tool.get("name") == "portkit"
    except (OSError, ValueError, RecursionError):
        return False
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return (b'<meta name="generator" content="portkit' in head or first.startswith("## portkit:")
            or first in (",".join(CHANGE_COLUMNS), ",".join(ADVICE_COLUMNS)))


@dataclass(frozen=True)
class ReportTargets:
    """The checks of `--report` targets, run by migrate once it knows its files and before it
    writes anything (MigrateOptions.before_write)."""

    targets: tuple[str, ...]
    force: bool = False
    output: Path | None = None  # the --output folder, which the run creates

    def __call__(self, sources: Sequence[Path]) -> None:
        for target in self.targets:
            _writable_folder(target, self.output)
        if self.force:
            return
        from portkit.pipeline import gitstate

        ported = {os.path.realpath(p) for p in sources}
        existing = [p for t in self.targets for p in _outputs(t) if os.path.lexists(p)]
        for path in existing:
            if os.path.realpath(path) in ported:
                self._refuse(path, "is a file this run ports")
        try:
            states = gitstate.file_states(existing)
        except gitstate.GitStateError as error:
            raise PortkitUsageError(str(error)) from None
        for path, state in states.items():
            if state == "modified":
                self._refuse(path, "has uncommitted changes")
            elif not written_by_portkit(path):
                self._refuse(path, "is tracked by git" if state == "tracked" else "is an untracked file")

    @staticmethod
    def _refuse(path: Path, why: str) -> None:
        raise PortkitUsageError(f"{shown(path)}: {why}; the report would overwrite it "
                                f"(choose another name, or pass {FORCE})")
