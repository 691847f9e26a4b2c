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
from portkit.pipeline.discovery import DiscoveryError
from portkit.reports.runreport import render_analysis
from portkit.ruleset import RuleError, RuleSet, load_rules
from portkit.ruleset.npu_api import available_versions


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _ruleset(config: Config, rule_dirs: Sequence[Path], select: Sequence[str], ignore: Sequence[str],
             torch_npu: str | None) -> RuleSet:
    """The rules analyze runs, after --select/--ignore (or the configuration's: its `select` only
    when it names something analyze runs, since a project's select is usually written for check)."""
    from portkit.pipeline.analyze import analyze_rules

    try:
        loaded = load_rules([*config.rules, *rule_dirs])
        runnable = {r.id for r in analyze_rules(loaded).rules}
        chosen_select = _split(select) or [s for s in config.select if loaded.expand([s]) & runnable]
        ruleset = loaded.choose(chosen_select, _split(ignore) or config.ignore)
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None
    version = torch_npu or config.torch_npu
    if version is not None and version not in available_versions():
        raise PortkitUsageError(f"unknown torch_npu version '{version}' (known: {', '.join(available_versions())})")
    return analyze_rules(dataclasses.replace(ruleset, npu_version=version))


def _config(config_file: Path | None, no_config: bool) -> Config:
    from portkit.pipeline.suppressions import META_RULES

    try:
        config = load_config(None if no_config else (config_file or find_config()))
        universe = load_rules(list(config.rules)).universe_set()
        expanded = {glob: tuple(sorted(universe.expand(ids, META_RULES)))
                    for glob, ids in config.per_file_ignores.items()}
    except (ConfigError, RuleError) as error:
        raise PortkitUsageError(str(error)) from None
    return dataclasses.replace(config, per_file_ignores=expanded)


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
def analyze_command(paths: tuple[Path, ...], torch_npu: str | None, reports: tuple[str, ...],
                    select: tuple[str, ...], ignore: tuple[str, ...], rule_dirs: tuple[Path, ...],
                    exclude: tuple[str, ...], no_ignore: bool, jobs: int | None, config_file: Path | None,
                    no_config: bool) -> None:
    """Will the code under PATHS (default: .) run on the NPU, and run fast? Static analysis:
    operators the NPU lacks, float64, dynamic shapes, host syncs, blocks torch_npu has fused
    operators for, and library versions without NPU support."""
    from portkit.pipeline.analyze import AnalyzeOptions, analyze
    from portkit.pipeline.runner import default_jobs

    check_report_names(reports)
    config = _config(config_file, no_config)
    ruleset = _ruleset(config, rule_dirs, select, ignore, torch_npu)
    if exclude:
        config = dataclasses.replace(config, exclude=())
    options = AnalyzeOptions(paths=paths or (Path("."),), ruleset=ruleset, config=config,
                             jobs=jobs or default_jobs(), exclude=tuple(exclude), respect_gitignore=not no_ignore)
    try:
        with Progress("analysed") as progress:
            report = analyze(options, progress)
    except DiscoveryError as error:
        raise PortkitUsageError(str(error)) from None
    for target in reports:
        write_report(report, target)
    click.echo(render_analysis(report), nl=False)
    sys.exit(EXIT_USAGE if report.failed or report.problems else EXIT_FAILED if report.findings else EXIT_OK)
