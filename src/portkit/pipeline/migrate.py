"""`portkit migrate`: discovery -> engine -> sink -> report, without any terminal concerns.

What it promises about the user's files: a file with uncommitted changes is not rewritten
in place (unless allow_dirty), nor one that changed on disk while the run read and ported it
(its fingerprint is taken before it is read: sinks.Fingerprint); `before_write` (the CLI's
check of its report targets) runs before anything is written, so a refusal there leaves
every file as it was; portkit's own temporary files of an interrupted run are removed.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portkit import filekinds
from portkit.pipeline import gitstate
from portkit.pipeline import runner
from portkit.pipeline import sinks
from portkit.pipeline.config import Config
from portkit.pipeline.discovery import DiscoveredFile, discover, printable_path
from portkit.model import FileResult, FileStatus, Report, RunProblem, counted
from portkit.ruleset import RuleSet
from portkit.pipeline.sourcefile import DEFAULT_MAX_FILE_SIZE, SourceError, read_source


class Mode(str, enum.Enum):
    IN_PLACE = "in-place"
    DIFF = "diff"
    OUTPUT = "output"
    DRY_RUN = "dry-run"


class DirtyFilesError(Exception):
    """In-place mode would overwrite uncommitted work."""

    def __init__(self, paths: Sequence[Path]) -> None:
        shown = ", ".join(printable_path(str(p)) for p in paths[:5]) + (" …" if len(paths) > 5 else "")
        have = "has" if len(paths) == 1 else "have"
        super().__init__(f"{counted(len(paths), 'file')} to migrate {have} uncommitted changes ({shown}): "
                         "commit or stash them first, or pass --allow-dirty")


@dataclass(frozen=True)
class MigrateOptions:
    paths: tuple[Path, ...]
    ruleset: RuleSet
    mode: Mode = Mode.IN_PLACE
    output: Path | None = None
    allow_dirty: bool = False
    jobs: int = 1
    exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    target: str = "npu"
    config: Config = field(default_factory=Config)
    keep_sources: bool = False  # keep changed files' original and migrated text (the HTML report)
    strategy: str = "port"  # "port": rewrite the code; "shim": the runtime switch at entry points
    entries: tuple[Path, ...] = ()  # --entry files for the shim
    fix_deps: bool = False  # rewrite dependency files too (they are always reported)
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE  # bytes; larger files fail unread
    # called with the run's files once they are ported and before anything is written (in
    # any mode); what it raises stops the run with every file as it was
    before_write: Callable[[Sequence[Path]], None] | None = None


@dataclass
class MigrateRun:
    report: Report
    patch: bytes = b""  # for Mode.DIFF, in each file's own encoding
    written: list[Path] = field(default_factory=list)
    unversioned: list[Path] = field(default_factory=list)  # written in place with no git copy: no undo
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # report path -> (original, migrated)


def rules_table(ruleset: RuleSet) -> dict[str, dict[str, str]]:
    return {r.id: {"kind": r.kind, "safety": str(r.safety), "summary": r.summary} for r in ruleset.rules}


def migrate(options: MigrateOptions, progress: Callable[[int, int], None] | None = None) -> MigrateRun:
    started = time.perf_counter()
    if options.mode is Mode.OUTPUT:
        assert options.output is not None and len(options.paths) == 1
        sinks.check_output_target(options.paths[0], options.output)
    found = discover(options.paths, suffixes=filekinds.discovery_suffixes(), exclude=options.exclude,
                     respect_gitignore=options.respect_gitignore)
    files: list[DiscoveredFile] = [f for f in found.files if options.config.selects(f.path) and filekinds.wanted(f.path, options.paths)]
    options = dataclasses.replace(options, ruleset=runner.with_call_site_rule(options.ruleset, files))
    # in place: each file as it is before it is read, to notice an edit saved during the run
    found_as = sinks.fingerprints(f.path for f in files) if options.mode is Mode.IN_PLACE else None
    results = []
    shim = options.strategy == "shim"
    for done, result in enumerate(runner.run(files, options.ruleset, options.jobs, check=shim,
                                                     fix_deps=options.fix_deps,
                                                     max_file_size=options.max_file_size), start=1):
        results.append(result)
        if progress is not None:
            progress(done, len(files))
    if shim:
        results = _with_switch(options, files, results)
    pairs = list(zip(files, results))
    if options.before_write is not None:
        options.before_write([file.path for file in files])
    run = MigrateRun(report=_report(options, results, found.problems, started))
    if options.keep_sources:  # before any sink writes: in place, the original is about to go
        run.sources = _sources(pairs)
    results = _write(options, pairs, found_as, found.strays, run)
    run.report = _report(options, results, found.problems, started)
    return run


def _write(options: MigrateOptions, pairs: list[tuple[DiscoveredFile, FileResult]],
           found_as: Mapping[Path, sinks.Fingerprint] | None, strays: Sequence[Path],
           run: MigrateRun) -> list[FileResult]:
    """The sink of the mode; the results, updated for files that could not be written."""
    results = [result for _, result in pairs]
    if options.mode is Mode.IN_PLACE:
        changed = [file.path for file, result in pairs if result.new_text is not None]
        if not options.allow_dirty:
            dirty = gitstate.dirty_files(changed)
            if dirty:
                raise DirtyFilesError(dirty)
        sinks.remove_stray_temps(strays)
        results = sinks.write_in_place(pairs, found_as)
        run.written = [file.path for (file, _), result in zip(pairs, results)
                       if result.status is FileStatus.CHANGED and result.new_text is not None]
        run.unversioned = unversioned(run.written)
    elif options.mode is Mode.DIFF:
        run.patch = sinks.unified_diff(pairs)
    elif options.mode is Mode.OUTPUT:
        assert options.output is not None
        results = sinks.write_copy(options.paths[0], options.output, pairs)
    return results


def unversioned(paths: Sequence[Path]) -> list[Path]:
    """The files git has no committed copy of (outside a work tree, untracked, ignored, or no
    git at all): rewritten in place, nothing can bring their old text back."""
    if not paths:
        return []
    try:
        states = gitstate.file_states(paths)
    except gitstate.GitStateError:
        return []  # git failed: say nothing rather than something wrong
    return [path for path in paths if states.get(path) not in ("tracked", "modified")]


def _with_switch(options: MigrateOptions, files: Sequence[DiscoveredFile],
                 results: Sequence[FileResult]) -> list[FileResult]:
    """--strategy shim: the reports stay; entry points get the runtime switch imported."""
    from portkit.python import shim  # libcst: imported only when this strategy runs
    from portkit.python.engine import contained

    roots = {f.root for f in files}
    entries = shim.entry_points(roots, [f.path for f in files], options.entries)
    updated = []
    for file, result in zip(files, results):
        if file.path.resolve() in entries and result.status is not FileStatus.FAILED:
            try:
                source = read_source(file.path)
                inserted = contained(lambda text=source.text: shim.insert_switch(text))
            except (SourceError, ValueError) as error:
                result = dataclasses.replace(result, status=FileStatus.FAILED, error=str(error))
            except Exception as error:  # the crash barrier: this file fails, the run goes on
                reason = f"cannot insert the runtime switch: {type(error).__name__}"
                result = dataclasses.replace(result, status=FileStatus.FAILED, error=reason)
            else:
                if inserted is not None:
                    new_text, change = inserted
                    result = dataclasses.replace(result, status=FileStatus.CHANGED, changes=(change,),
                                                 new_text=new_text, encoding=source.encoding)
        updated.append(result)
    return updated


def _sources(pairs: Sequence[tuple[DiscoveredFile, FileResult]]) -> dict[str, tuple[str, str]]:
    """Each changed file's original text (read again) and migrated text, by report path."""
    sources = {}
    for file, result in pairs:
        if result.new_text is None:
            continue
        try:
            sources[result.path] = (read_source(file.path).text, result.new_text)
        except SourceError:
            continue  # the review shows this file's changes from the report alone
    return sources


def _report(options: MigrateOptions, results: Sequence[FileResult], problems: Sequence[SourceError],
            started: float) -> Report:
    return Report(
        command="migrate",
        mode=options.mode.value,
        target=options.target,
        files=tuple(results),
        problems=tuple(RunProblem(runner.display_path(p.path), p.reason) for p in problems),
        elapsed_seconds=time.perf_counter() - started,
        rules=_rules_of_run(options),
        strategy=options.strategy,
        torch_npu=_torch_npu_version(options),
    )


def _rules_of_run(options: MigrateOptions) -> dict[str, dict[str, str]]:
    table = rules_table(options.ruleset)
    if options.strategy == "shim":
        from portkit.python import shim

        table[shim.RULE_ID] = dict(shim.RULE_ENTRY)
    return table


def _torch_npu_version(options: MigrateOptions) -> str | None:
    """The torch_npu release the rewrite targets; None when the code does not name torch_npu."""
    if options.target != "npu" or options.strategy != "port":
        return None
    from portkit.ruleset.npu_api import load_npu_api

    return load_npu_api(options.ruleset.npu_version).version
