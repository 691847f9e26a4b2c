"""`portkit analyze PATHS`: will the ported program run on the NPU, and run fast?

Exit codes as `check`: 0 nothing found, 1 findings, 2 a file could not be read or parsed, or a
usage or configuration error.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from portkit.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Progress, PortkitUsageError
from portkit.cli.reporting import REPORT_TARGETS, check_report_names, write_report
from portkit.pipeline.config import Config, ConfigError, find_config, load_config
from portkit.model import FileResult, FileStatus, Report
from portkit.pipeline.discovery import DiscoveredFile, DiscoveryError
from portkit.reports.runreport import render_analysis
from portkit.ruleset import RuleError, RuleSet, load_rules
from portkit.ruleset.npu_api import available_versions


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _ruleset(config: Config, loaded: RuleSet, rule_dirs: Sequence[Path], select: Sequence[str],
             ignore: Sequence[str], torch_npu: str | None) -> RuleSet:
    """The rules analyze runs, after --select/--ignore (or the configuration's: its `select` only
    when it names something analyze runs, since a project's select is usually written for check).
    `loaded` holds the configuration's rules; --rules folders are loaded on top of them."""
    from portkit.pipeline.analyze import analyze_rules

    try:
        loaded = load_rules([*config.rules, *rule_dirs]) if rule_dirs else loaded
        runnable = {r.id for r in analyze_rules(loaded).rules}
        chosen_select = _split(select) or [s for s in config.select if loaded.expand([s]) & runnable]
        ruleset = loaded.choose(chosen_select, _split(ignore) or config.ignore)
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None
    version = torch_npu or config.torch_npu
    if version is not None and version not in available_versions():
        raise PortkitUsageError(f"unknown torch_npu version '{version}' (known: {', '.join(available_versions())})")
    return analyze_rules(dataclasses.replace(ruleset, npu_version=version))


def _config(config_file: Path | None, no_config: bool) -> tuple[Config, RuleSet]:
    """The configuration, its per-file ignores expanded, and its rules (loaded once: parsing the
    rule files is a good part of a small run)."""
    from portkit.pipeline.suppressions import META_RULES

    try:
        config = load_config(None if no_config else (config_file or find_config()))
        loaded = load_rules(list(config.rules))
        universe = loaded.universe_set()
        expanded = {glob: tuple(sorted(universe.expand(ids, META_RULES)))
                    for glob, ids in config.per_file_ignores.items()}
    except (ConfigError, RuleError) as error:
        raise PortkitUsageError(str(error)) from None
    return dataclasses.replace(config, per_file_ignores=expanded), loaded


def _fixes(report: Report, pairs: list[tuple[DiscoveredFile, FileResult]], write: bool, allow_dirty: bool) -> Report:
    """Print the fixes as a patch, or write them where the files are (refusing files with
    uncommitted changes, as migrate does, unless allowed)."""
    from portkit.pipeline import gitstate
    from portkit.pipeline.sinks import unified_diff, write_in_place

    changed = [(f, r) for f, r in pairs if r.status is FileStatus.CHANGED]
    if not write:
        sys.stdout.buffer.write(unified_diff(changed))
        sys.stdout.flush()
        return report
    if not allow_dirty:
        try:
            dirty = gitstate.dirty_files([f.path for f, _ in changed])
        except gitstate.GitStateError as error:
            raise PortkitUsageError(str(error)) from None
        if dirty:
            raise PortkitUsageError("uncommitted changes in " + ", ".join(str(p) for p in dirty)
                                    + ": commit or stash them first, or pass --allow-dirty")
    written = {id(r): w for (_, r), w in zip(changed, write_in_place(changed))}
    return dataclasses.replace(report, mode="in-place", files=tuple(written.get(id(r), r) for _, r in pairs))


@click.command(name="analyze")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--torch-npu", "torch_npu", metavar="VERSION", default=None,
              help="The torch_npu release to analyse for (default: the newest portkit knows).")
@click.option("--report", "reports", multiple=True, type=click.Path(),
              help=f"Also write the full report: {REPORT_TARGETS}. Repeatable.")
@click.option("--select", multiple=True, help="Only these rule ids or groups (comma-separated or repeated).")
@click.option("--ignore", multiple=True, help="Not these rule ids or groups.")
@click.option("--rules", "rule_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Also load the rule files (*.toml) in this folder. Repeatable.")
@click.option("--exclude", multiple=True, help="Skip paths matching this gitignore-style glob. Repeatable.")
@click.option("--no-ignore", is_flag=True, help="Do not honour .gitignore files.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Read settings from this portkit.toml / pyproject.toml instead of the nearest one.")
@click.option("--no-config", is_flag=True, help="Ignore portkit.toml and [tool.portkit].")
@click.option("--fix", is_flag=True, help="Make the review fixes offered (fused-rmsnorm) in place.")
@click.option("--diff", is_flag=True, help="Print the review fixes offered as a patch; change nothing.")
@click.option("--allow-dirty", is_flag=True, help="With --fix, also rewrite files with uncommitted git changes.")
def analyze_command(paths: tuple[Path, ...], torch_npu: str | None, reports: tuple[str, ...],
                    select: tuple[str, ...], ignore: tuple[str, ...], rule_dirs: tuple[Path, ...],
                    exclude: tuple[str, ...], no_ignore: bool, jobs: int | None, config_file: Path | None,
                    no_config: bool, fix: bool, diff: bool, allow_dirty: bool) -> None:
    """Will the code under PATHS (default: .) run on the NPU, and run fast? Static analysis:
    operators the NPU lacks, float64, dynamic shapes, host syncs, blocks torch_npu has fused
    operators for, and library versions without NPU support."""
    from portkit.pipeline.analyze import AnalyzeOptions, analyze_files
    from portkit.pipeline.runner import default_jobs

    if fix and diff:
        raise PortkitUsageError("--fix and --diff: choose one (--diff shows what --fix writes)")
    check_report_names(reports)
    config, loaded = _config(config_file, no_config)
    ruleset = _ruleset(config, loaded, rule_dirs, select, ignore, torch_npu)
    if exclude:
        config = dataclasses.replace(config, exclude=())
    options = AnalyzeOptions(paths=paths or (Path("."),), ruleset=ruleset, config=config,
                             jobs=jobs or default_jobs(), exclude=tuple(exclude), respect_gitignore=not no_ignore,
                             fix=fix or diff)
    try:
        with Progress("analysed") as progress:
            report, pairs = analyze_files(options, progress)
    except DiscoveryError as error:
        raise PortkitUsageError(str(error)) from None
    if diff or fix:
        report = _fixes(report, pairs, write=fix, allow_dirty=allow_dirty)
    for target in reports:
        write_report(report, target)
    click.echo(render_analysis(report), nl=False)
    sys.exit(EXIT_USAGE if report.failed or report.problems else EXIT_FAILED if report.findings else EXIT_OK)
