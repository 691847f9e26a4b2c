"""`portkit analyze`: will the ported program run on the NPU, and run fast?

The same discovery and configuration as `check`; each Python file goes through the static
analysis of portkit.python.analysis, each dependency file through the `dependency` rules that
name minimum versions (npu-library-version). Files are independent, so they are analysed in
worker processes when there are enough of them. The result is a `model.Report` with command
"analyze" (mode "check": nothing is written), which every report format renders.

Notebooks, launch scripts and C++/CUDA sources are not analysed (`check` covers what is CUDA in
them). Inline suppressions (`# portkit: ignore[float64]`) and per-file ignores apply; a
suppression that silences nothing here is not reported (it may be meant for `check`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from portkit import filekinds
from portkit.model import Change, FileResult, FileStatus, Finding, Report, RunProblem
from portkit.pipeline.config import Config
from portkit.pipeline.discovery import DiscoveredFile, discover
from portkit.pipeline.runner import display_path
from portkit.pipeline.sourcefile import DEFAULT_MAX_FILE_SIZE, SourceError, read_source
from portkit.pipeline.suppressions import find_suppressions
from portkit.ruleset import Dependency, RuleSet
from portkit.ruleset.kinds import Analysis

if TYPE_CHECKING:
    from portkit.python.analysis.fixes import Edit

ANALYZED_KINDS = ("python", "dependencies")
_FILES_PER_WORKER = 100


def analyze_rules(ruleset: RuleSet) -> RuleSet:
    """The rules `analyze` runs: analysis rules it reports, and dependency rules with minimum versions."""
    chosen = tuple(r for r in ruleset.rules
                   if isinstance(r.spec, Analysis) and "analyze" in r.spec.reported_by
                   or isinstance(r.spec, Dependency) and r.spec.minimum_versions)
    return RuleSet(chosen, ruleset.universe or ruleset.rules, ruleset.npu_version)


@dataclass(frozen=True)
class AnalyzeOptions:
    paths: tuple[Path, ...]
    ruleset: RuleSet  # already narrowed by analyze_rules
    config: Config = field(default_factory=Config)
    jobs: int = 1
    exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE
    fix: bool = False  # make the review fixes offered (--fix / --diff): results carry the new text


def analyze(options: AnalyzeOptions, progress: Callable[[int, int], None] | None = None) -> Report:
    return analyze_files(options, progress)[0]


def analyze_files(options: AnalyzeOptions, progress: Callable[[int, int], None] | None = None
                  ) -> tuple[Report, list[tuple[DiscoveredFile, FileResult]]]:
    """The report, and each file with its result (for writing or showing the fixes)."""
    started = time.perf_counter()
    config = options.config
    found = discover(options.paths, suffixes=filekinds.discovery_suffixes(), exclude=options.exclude,
                     respect_gitignore=options.respect_gitignore)
    named = [p for p in options.paths if not p.is_dir()]
    files = [f for f in found.files if _kind(f) in ANALYZED_KINDS and config.selects(f.path)
             and filekinds.wanted(f.path, named)]
    results = []
    for done, result in enumerate(_run(files, options), start=1):
        results.append(result)
        if progress is not None:
            progress(done, len(files))
    from portkit.pipeline.migrate import rules_table

    report = Report(command="analyze", mode="check", target="npu", files=tuple(results),
                    problems=tuple(RunProblem(display_path(p.path), p.reason) for p in found.problems),
                    elapsed_seconds=time.perf_counter() - started, rules=rules_table(options.ruleset),
                    torch_npu=_version(options.ruleset))
    return report, list(zip(files, results))


def _version(ruleset: RuleSet) -> str:
    from portkit.ruleset.operators import available_versions

    return ruleset.npu_version or available_versions()[-1]


def _kind(file: DiscoveredFile) -> str | None:
    kind = filekinds.kind_for(file.path, explicit=True)
    return kind.name if kind is not None else None


# ---- one file ---------------------------------------------------------------------------------

# (file, display path, per-file ignored rule ids, max file size, fix): what a worker needs for one file
Item = tuple[DiscoveredFile, str, frozenset[str], "int | None", bool]


class FileAnalyzer:
    """The analysis settings and the dependency rules, built once per process."""

    def __init__(self, ruleset: RuleSet) -> None:
        from portkit.python.analysis import Settings
        from portkit.python.compiled import CompiledRules

        self.settings = Settings.load(ruleset)
        self.dependencies = CompiledRules(RuleSet(tuple(r for r in ruleset.rules if isinstance(r.spec, Dependency)),
                                                  ruleset.universe, ruleset.npu_version))

    def __call__(self, item: Item) -> FileResult:
        file, display, ignored, max_file_size, fix = item
        try:
            source = read_source(file.path, max_file_size)
            findings, new_text, edits = self._findings(file, source.text, ignored, fix)
        except SourceError as error:
            return FileResult(display, FileStatus.FAILED, error=error.reason)
        except SyntaxError as error:
            return FileResult(display, FileStatus.FAILED, error=f"not valid Python: {error.msg} (line {error.lineno})")
        except RecursionError:
            return FileResult(display, FileStatus.FAILED,
                              error="too deeply nested to analyse (Python's recursion limit)")
        except Exception as error:  # noqa: BLE001 - the barrier: one file never ends the run
            return FileResult(display, FileStatus.FAILED,
                              error=f"internal error: {type(error).__name__}: {error} (please report)")
        kept = tuple(f for f in findings if f.rule_id not in ignored)
        if new_text is None:
            return FileResult(display, FileStatus.UNCHANGED, findings=kept, encoding=source.encoding)
        changes = changes_of(source.text, edits, findings)
        remaining = tuple(f for f in kept if not any(c.rule_id == f.rule_id and c.span.line <= f.span.line
                                                     <= c.span.end_line for c in changes))
        return FileResult(display, FileStatus.CHANGED, changes=changes, findings=remaining, new_text=new_text,
                          encoding=source.encoding)

    def _findings(self, file: DiscoveredFile, text: str, ignored: frozenset[str],
                  fix: bool) -> tuple[tuple[Finding, ...], str | None, tuple[Edit, ...]]:
        if _kind(file) == "dependencies":
            handler = filekinds.kind_for(file.path, explicit=True).load()  # type: ignore[union-attr]
            return handler(text, file.path.name, self.dependencies, False).findings, None, ()
        from portkit.python.analysis import analyze

        found = analyze(text, self.settings)
        suppressions = find_suppressions(text) if found.findings else []

        def silenced(line: int, rule_id: str) -> bool:
            return rule_id in ignored or any(s.covers(line, rule_id) for s in suppressions)

        findings = tuple(f for f in found.findings if not silenced(f.span.line, f.rule_id))
        edits = tuple(e for e in found.edits if not silenced(e.line, e.rule_id))
        if not fix or not edits:
            return findings, None, ()
        new_text = dataclasses.replace(found, edits=edits).fixed(text)
        return findings, new_text, edits


def changes_of(text: str, edits: Sequence[Edit], findings: Sequence[Finding]) -> tuple[Change, ...]:
    """One review change per fix made, with the finding it answers as its message."""
    from portkit.model import Safety, Span

    lines = text.splitlines()
    changes = []
    for edit in edits:
        finding = next((f for f in findings if f.rule_id == edit.rule_id and edit.line <= f.span.line <= edit.end_line),
                       None)
        old = "\n".join(lines[edit.line - 1:edit.end_line])
        first, last = lines[edit.line - 1], lines[edit.end_line - 1]
        head = first.encode("utf-8")[:edit.column].decode("utf-8", errors="ignore")
        tail = last.encode("utf-8")[edit.end_column:].decode("utf-8", errors="ignore")
        span = Span(edit.line, len(head) + 1, edit.end_line, len(last) - len(tail) + 1)
        changes.append(Change(edit.rule_id, finding.message if finding else edit.new, Safety.REVIEW, span, old,
                              head + edit.new + tail))
    return tuple(changes)


_worker: FileAnalyzer | None = None  # set only inside worker processes


def _init_worker(ruleset: RuleSet) -> None:
    global _worker
    _worker = FileAnalyzer(ruleset)


def _work(item: Item) -> FileResult:
    assert _worker is not None
    return _worker(item)


def _run(files: Sequence[DiscoveredFile], options: AnalyzeOptions) -> Iterator[FileResult]:
    """Results in the order of `files`, in worker processes when there are enough files to pay for them."""
    config = options.config
    items: list[Item] = [(f, display_path(f.path), frozenset(config.ignored_rules(f.path))
                          if config.per_file_ignores else frozenset(), options.max_file_size, options.fix)
                         for f in files]
    # a file takes a few milliseconds and a worker a few hundred to start (imports, tables): a
    # worker is worth it only for a hundred files or so
    jobs = min(options.jobs, len(items) // _FILES_PER_WORKER)
    if jobs <= 1:
        analyzer = FileAnalyzer(options.ruleset)
        yield from map(analyzer, items)
        return
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, min(16, len(items) // (jobs * 4)))
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(options.ruleset,)) as pool:
        yield from pool.map(_work, items, chunksize=chunk)
