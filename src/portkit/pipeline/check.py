"""`portkit check`: the CI gate. Same engine and rules as migrate; the sink is a list of findings.

A diagnostic is either fixable (a change `portkit migrate` would make) or manual (an item a
person must port). Inline suppressions, per-file ignores and a baseline filter them;
output formats (formats.py) render the resulting `CheckRun`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from portkit.pipeline import baseline as baselines
from portkit import filekinds
from portkit.pipeline import runner
from portkit.pipeline.cache import FOLDER, CheckCache, rules_key
from portkit.pipeline.config import Config
from portkit.pipeline.discovery import DiscoveredFile, discover
from portkit.pipeline.sourcefile import DEFAULT_MAX_FILE_SIZE
from portkit.model import FileResult, FileStatus, Safety, Span
from portkit.ruleset import RuleSet
from portkit.pipeline.suppressions import META_RULES


class Level(str, enum.Enum):
    """How a diagnostic is acted on: migrate fixes it, or a person must."""

    FIXABLE = "fixable"
    MANUAL = "manual"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Diagnostic:
    path: str
    span: Span
    rule_id: str
    message: str
    level: Level
    safety: Safety
    line_text: str

    @property
    def fixable(self) -> bool:
        return self.level is Level.FIXABLE

    def baseline_key(self, config: Config) -> baselines.Key:
        """Paths in a baseline are relative to the project (the config's folder), so the same
        baseline works from any working folder."""
        project_path = config.relative(Path(self.path)) if config.path is not None else None
        return baselines.key(project_path or self.path, self.rule_id, self.line_text)


@dataclass(frozen=True)
class FileError:
    path: str
    reason: str


@dataclass(frozen=True)
class CheckOptions:
    paths: tuple[Path, ...]
    ruleset: RuleSet
    config: Config = field(default_factory=Config)
    jobs: int = 1
    exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    min_level: Level = Level.FIXABLE
    baseline: Path | None = None
    meta_rules: frozenset[str] = frozenset(META_RULES)  # suppression hygiene findings to report
    cache: bool = True  # keep results per file content in .portkit_cache/ (see cache.py)
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE  # bytes; larger files are errors (exit 2), unread


@dataclass(frozen=True)
class CheckRun:
    diagnostics: tuple[Diagnostic, ...]
    errors: tuple[FileError, ...]
    files_checked: int
    baselined: int  # findings hidden because the baseline has them
    elapsed_seconds: float
    ruleset: RuleSet
    all_keys: tuple[baselines.Key, ...] = ()  # every finding before the baseline: --write-baseline

    @property
    def by_rule(self) -> dict[str, int]:
        return dict(sorted(Counter(d.rule_id for d in self.diagnostics).items()))

    @property
    def fixable(self) -> int:
        return sum(1 for d in self.diagnostics if d.fixable)


def _diagnostics(file: DiscoveredFile, result: FileResult, config: Config, min_level: Level,
                 meta_rules: frozenset[str]) -> list[Diagnostic]:
    # only a configuration with per-file ignores needs the file's resolved path (a syscall per
    # component): on a warm re-check that resolution would cost more than the cache lookup
    ignored = config.ignored_rules(file.path) if config.per_file_ignores else set()
    found = [
        Diagnostic(result.path, c.span, c.rule_id, c.message, Level.FIXABLE, c.safety,
                   c.old_text.splitlines()[0] if c.old_text else c.new_text)
        for c in result.changes
        if min_level is Level.FIXABLE
    ]
    found += [
        Diagnostic(result.path, m.span, m.rule_id, m.message, Level.MANUAL, m.safety, m.line_text)
        for m in result.findings
    ]
    return [d for d in found if d.rule_id not in ignored and (d.rule_id not in META_RULES or d.rule_id in meta_rules)]


def check(options: CheckOptions, progress: Callable[[int, int], None] | None = None) -> CheckRun:
    started = time.perf_counter()
    config = options.config
    found = discover(options.paths, suffixes=filekinds.discovery_suffixes(), exclude=options.exclude,
                     respect_gitignore=options.respect_gitignore)
    # the same filters as config.selects / filekinds.wanted, without per-file path resolution
    # when the configuration has no include/exclude globs and no explicit files were named
    filtering = bool(config.include or config.exclude)
    named_files = [p for p in options.paths if not p.is_dir()]  # wanted() ignores folders anyway
    files = [f for f in found.files
             if (not filtering or config.selects(f.path)) and filekinds.wanted(f.path, named_files)]
    diagnostics: list[Diagnostic] = []
    errors = [FileError(runner.display_path(p.path), p.reason) for p in found.problems]
    ruleset = runner.with_call_site_rule(options.ruleset, files)
    cache = None
    if options.cache:
        compiled_ids = sorted({r.id for r in (*ruleset.rules, *ruleset.universe)})
        # the RuleSet itself: its rules, every loaded rule and the torch_npu release change findings
        cache = CheckCache.open(config.base / FOLDER, rules_key(ruleset, compiled_ids))
    results = runner.run(files, ruleset, options.jobs, check=True, cache=cache, max_file_size=options.max_file_size)
    for done, (file, result) in enumerate(zip(files, results), start=1):
        if progress is not None:
            progress(done, len(files))
        if result.status is FileStatus.FAILED:
            errors.append(FileError(result.path, result.error or "failed"))
            continue
        diagnostics.extend(_diagnostics(file, result, config, options.min_level, options.meta_rules))
    if cache is not None:
        cache.save()
    diagnostics.sort(key=lambda d: (d.path, d.span.line, d.span.column, d.rule_id))
    all_keys = tuple(d.baseline_key(config) for d in diagnostics)
    baselined = 0
    if options.baseline is not None:
        known = baselines.load(options.baseline)
        fresh = []
        for diagnostic in diagnostics:
            k = diagnostic.baseline_key(config)
            if known[k] > 0:
                known[k] -= 1
                baselined += 1
            else:
                fresh.append(diagnostic)
        diagnostics = fresh
    return CheckRun(tuple(diagnostics), tuple(errors), len(files), baselined,
                    time.perf_counter() - started, options.ruleset, all_keys)


def exit_code(run: CheckRun, exit_zero: bool = False) -> int:
    """As ruff: 0 nothing found, 1 findings, 2 a file could not be read or parsed."""
    if exit_zero:
        return 0
    if run.errors:
        return 2
    return 1 if run.diagnostics else 0


__all__ = ["CheckOptions", "CheckRun", "Diagnostic", "FileError", "Level", "check", "exit_code"]
