"""`portkit check`: the CI gate, with ruff's spellings: `-o/--output-file FILE`,
`--output-format FORMAT`, `--statistics`, `--extend-select`, `--exit-zero`.

`-o FORMAT` (before ruff's spelling, -o named the format) still works for one release: a bare
format name given to -o, without --output-format, is read as the format, with a one-line
deprecation note on standard error. `-o ./json` names a file called json.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portkit.cli.common import EXIT_OK, EXIT_USAGE, Choice, Progress, PortkitUsageError, write_file
from portkit.cli.settings import Selection, selection_options, settings, with_options
from portkit.model import counted
from portkit.pipeline.discovery import DiscoveryError

if TYPE_CHECKING:
    from portkit.pipeline.check import CheckRun

FORMATS = ("text", "json", "sarif", "github", "junit")  # reports.check_formats.FORMATS (a test keeps them equal)
STATISTICS_FORMATS = ("text", "json")


def resolve_output(values: Sequence[str], output_format: str | None) -> tuple[str, Path | None, list[str]]:
    """(format, output file or None, deprecation notes) from the -o/--output-file values and
    --output-format: without --output-format, the first value that is a format name is the
    format (the old `-o FORMAT`), with a note."""
    fmt, files, notes = output_format, [], []
    for value in values:
        if fmt is None and value in FORMATS:
            fmt = value
            notes.append(f"`-o {value}` for the output format is deprecated and will name a file in the next "
                         f"release: write `--output-format {value}` (-o is --output-file, as in ruff)")
        else:
            files.append(value)
    if len(files) > 1:
        raise PortkitUsageError(f"-o/--output-file names one file, got {len(files)} ({', '.join(files)})")
    return fmt or "text", Path(files[0]) if files else None, notes


def sarif_warning(run: CheckRun) -> str | None:
    """What to say when the log holds more results than GitHub code scanning keeps of a run."""
    from portkit.reports.check_formats import SARIF_KEPT_RESULTS, SARIF_MAX_RESULTS

    total = len(run.diagnostics)
    if total <= SARIF_KEPT_RESULTS:
        return None
    advice = (f"`--severity manual` uploads only the {counted(total - run.fixable, 'manual item')}, "
              "or record a --baseline and upload only new findings")
    if total > SARIF_MAX_RESULTS:
        return (f"{total:,} SARIF results: GitHub code scanning rejects a run of more than {SARIF_MAX_RESULTS:,}, "
                f"so the log keeps {SARIF_MAX_RESULTS:,} (manual items first); {advice}")
    return (f"{total:,} SARIF results: GitHub code scanning keeps only the {SARIF_KEPT_RESULTS:,} most severe of a "
            f"run (manual items first); {advice}")


def rendered(run: CheckRun, fmt: str, statistics: bool) -> str:
    """The whole output: the findings in `fmt`, or with --statistics their counts per rule."""
    from portkit.reports import check_formats

    if not statistics:
        return check_formats.render(run, fmt)
    from portkit.cli.statistics import render_statistics_json, render_statistics_text, statistics as rows_of

    rows = rows_of(run)
    if fmt == "json":
        return render_statistics_json(rows)
    return render_statistics_text(rows) + check_formats.render_text(run, list_findings=False)


@click.command(name="check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output-file", "-o", "output_files", multiple=True, metavar="FILE",
              help="Write the findings to this file instead of standard output (never with colour codes).")
@click.option("--output-format", "output_format", type=Choice(FORMATS), default=None,
              help="How to print findings: text (default), json, sarif, github or junit.")
@click.option("--statistics", is_flag=True,
              help="Count the findings per rule instead of listing them ([*]: `portkit migrate` fixes them).")
@click.option("--severity", type=Choice(["fixable", "manual"]), default="fixable", show_default=True,
              help="Threshold: `manual` reports only what needs a person; `fixable` reports everything.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings or unreadable files.")
@click.option("--baseline", "baseline_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Fail only on findings that this baseline file does not record.")
@click.option("--write-baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="Record today's findings in this file (and exit 0).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache in .portkit_cache/.")
@with_options(selection_options)
def check_command(
    paths: tuple[Path, ...], output_files: tuple[str, ...], output_format: str | None, statistics: bool,
    severity: str, exit_zero: bool, baseline_file: Path | None, write_baseline: Path | None, no_cache: bool,
    rule_dirs: tuple[Path, ...], select: tuple[str, ...], ignore: tuple[str, ...], extend_select: tuple[str, ...],
    extend_ignore: tuple[str, ...], exclude: tuple[str, ...], no_ignore: bool, jobs: int | None,
    max_file_size: int,
    target: str | None, torch_npu: str | None, config_file: Path | None, no_config: bool,
) -> None:
    """Report unported CUDA usage under PATHS (default: .); exit 1 while any remains."""
    from portkit.pipeline import baseline as baselines
    from portkit.pipeline.check import CheckOptions, Level, check, exit_code
    from portkit.pipeline.runner import default_jobs
    from portkit.pipeline.suppressions import META_RULES

    fmt, output_file, notes = resolve_output(output_files, output_format)
    for note in notes:
        click.echo(f"portkit: warning: {note}", err=True)
    if statistics and fmt not in STATISTICS_FORMATS:
        raise PortkitUsageError(f"--statistics prints text or json, not {fmt}")
    chosen = settings(config_file, no_config, rule_dirs, Selection.of(select, ignore, extend_select, extend_ignore),
                      exclude, target, list(META_RULES), torch_npu)
    baseline = baseline_file or chosen.config.baseline
    # suppression hygiene follows --select/--ignore like any rule
    meta_rules = set(META_RULES) if not chosen.select or "ALL" in chosen.select else set(chosen.select)
    meta_rules = (meta_rules & set(META_RULES)) - set(chosen.ignore)
    options = CheckOptions(
        paths=paths or (Path("."),), ruleset=chosen.ruleset, config=chosen.config,
        jobs=jobs or default_jobs(), max_file_size=max_file_size * 1024 * 1024,
        exclude=chosen.exclude, respect_gitignore=not no_ignore,
        min_level=Level(severity), baseline=None if write_baseline else baseline,
        meta_rules=frozenset(meta_rules), cache=not no_cache,
    )
    try:
        with Progress("checked") as progress:
            run = check(options, progress)
    except (DiscoveryError, baselines.BaselineError) as error:
        raise PortkitUsageError(str(error)) from None
    if write_baseline is not None:
        write_file(write_baseline, baselines.dumps(run.all_keys))
        click.echo(f"portkit: recorded {counted(len(run.all_keys), 'finding')} in {write_baseline}", err=True)
        sys.exit(EXIT_OK if exit_zero or not run.errors else EXIT_USAGE)
    _emit(run, fmt, output_file, statistics)
    sys.exit(exit_code(run, exit_zero))


def _emit(run: CheckRun, fmt: str, output_file: Path | None, statistics: bool) -> None:
    text = rendered(run, fmt, statistics)
    if output_file is not None:
        write_file(output_file, click.unstyle(text))  # no colour codes in files
    else:
        click.echo(text, nl=False)
    warning = sarif_warning(run) if fmt == "sarif" else None
    if warning:
        click.echo(f"portkit: warning: {warning}", err=True)
