"""`portkit migrate`: options to a run, the run to the terminal.

After the summary every run prints what it wrote where (each report), a notice when files
were rewritten in place with no git copy to go back to, and a short "next steps" block
(reports/next_steps.py): the torch / torch-npu pair, CANN's set_env.sh, how to run, `portkit
check` in CI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portkit.cli.common import EXIT_FAILED, EXIT_OK, Choice, Progress, PortkitUsageError
from portkit.cli.reporting import REPORT_TARGETS, ReportTargets, check_report_names, described, write_report
from portkit.cli.settings import Selection, selection_options, settings, shim_rules, with_options
from portkit.model import counted
from portkit.pipeline.discovery import DiscoveryError

if TYPE_CHECKING:
    from portkit.pipeline.migrate import MigrateRun

# what the progress bar says happens to the files, by mode: only in place are they migrated
PROGRESS_VERBS = {"in-place": "migrated", "output": "ported", "diff": "scanned", "dry-run": "scanned"}


def closing_lines(run: MigrateRun, written: Sequence[str]) -> list[str]:
    """What follows the summary: the reports written, the no-undo notice, the next steps."""
    from portkit.reports.next_steps import next_steps

    lines = [""]
    if written:
        lines.append(click.style("Reports: ", bold=True) + ", ".join(described(target) for target in written))
    if run.unversioned:
        lines.append(click.style("Note: ", fg="yellow", bold=True)
                     + f"{counted(len(run.unversioned), 'file')} rewritten in place that git has no copy of: "
                     "there is no undo (next time: --diff or --output DIR first)")
    lines.append(click.style("Next steps:", bold=True))
    lines += [f"  - {line}" for line in next_steps(run.report)]
    return lines


@click.command(name="migrate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--diff", "as_diff", is_flag=True, help="Print a unified patch (git apply / patch -p1); change nothing.")
@click.option("--output", "-O", "output", type=click.Path(path_type=Path),
              help="Write a complete ported copy of the tree to this folder; the source is untouched.")
@click.option("--dry-run", is_flag=True, help="Change nothing; print only the summary.")
@click.option("--allow-dirty", is_flag=True, help="Rewrite files even if they have uncommitted git changes.")
@click.option("--report", "reports", multiple=True, type=click.Path(),
              help=f"Write the full report: {REPORT_TARGETS}. Repeatable.")
@click.option("--force-report", is_flag=True,
              help="Let --report overwrite a file git tracks or sees as untracked, or one this run ports.")
@click.option("--show-fixes", is_flag=True, help="List the changes made in each file, counted per rule.")
@click.option("--strategy", type=Choice(["port", "shim"]), default="port", show_default=True,
              help="port: rewrite the code for torch.npu; shim: only import torch_npu's runtime switch "
                   "(transfer_to_npu) at entry points, and report what it will not handle.")
@click.option("--fix-deps", is_flag=True,
              help="Also rewrite dependency files (drop CUDA builds and indexes, pin torch-npu, triton → "
                   "triton-ascend); without it they are only reported.")
@click.option("--entry", "entries", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="With --strategy shim: an entry-point file (besides __main__ scripts and console scripts).")
@with_options(selection_options)
def migrate_command(
    paths: tuple[Path, ...], as_diff: bool, output: Path | None, dry_run: bool, allow_dirty: bool,
    reports: tuple[str, ...], force_report: bool, show_fixes: bool, strategy: str, fix_deps: bool,
    entries: tuple[Path, ...], rule_dirs: tuple[Path, ...], select: tuple[str, ...], ignore: tuple[str, ...],
    extend_select: tuple[str, ...], extend_ignore: tuple[str, ...], exclude: tuple[str, ...], no_ignore: bool,
    jobs: int | None, max_file_size: int, target: str | None, torch_npu: str | None, config_file: Path | None, no_config: bool,
) -> None:
    """Rewrite the Python files under PATHS for Ascend NPUs (in place by default)."""
    # imported here: `portkit check` (the command CI runs on every push) needs none of them
    from portkit.pipeline.gitstate import GitStateError
    from portkit.pipeline.migrate import DirtyFilesError, MigrateOptions, Mode, migrate
    from portkit.pipeline.runner import default_jobs
    from portkit.pipeline.sinks import CopyError, OutputError
    from portkit.reports.review import report_format

    chosen = [name for name, on in (("--diff", as_diff), ("--output", output is not None), ("--dry-run", dry_run)) if on]
    if len(chosen) > 1:
        raise PortkitUsageError(f"{' and '.join(chosen)} cannot be used together")
    if output is not None and len(paths) != 1:
        raise PortkitUsageError("--output takes exactly one source path")
    reports = check_report_names(reports)
    mode = Mode.DIFF if as_diff else Mode.OUTPUT if output else Mode.DRY_RUN if dry_run else Mode.IN_PLACE
    if entries and strategy != "shim":
        raise PortkitUsageError("--entry is for --strategy shim")
    chosen_settings = settings(config_file, no_config, rule_dirs, Selection.of(select, ignore, extend_select,
                               extend_ignore), exclude, target, (), torch_npu)
    ruleset = shim_rules(rule_dirs, chosen_settings) if strategy == "shim" else chosen_settings.ruleset
    options = MigrateOptions(
        paths=paths, ruleset=ruleset, mode=mode, output=output, allow_dirty=allow_dirty,
        jobs=jobs or default_jobs(), max_file_size=max_file_size * 1024 * 1024,
        exclude=chosen_settings.exclude, respect_gitignore=not no_ignore,
        target=chosen_settings.target, config=chosen_settings.config, strategy=strategy, entries=entries,
        fix_deps=fix_deps, keep_sources=any(report_format(report) == "html" for report in reports),  # full diffs
        before_write=ReportTargets(tuple(reports), force_report, output) if reports else None,
    )
    try:
        with Progress(PROGRESS_VERBS[mode.value]) as progress:
            run = migrate(options, progress)
    except (DiscoveryError, OutputError, DirtyFilesError, GitStateError) as error:
        raise PortkitUsageError(str(error)) from None
    except CopyError as error:  # nothing was written: one line, no summary
        click.echo(f"portkit: error: {error}", err=True)
        sys.exit(EXIT_FAILED)
    _finish(run, reports, show_fixes, to_stderr=mode is Mode.DIFF)


def _finish(run: MigrateRun, reports: Sequence[str], show_fixes: bool, to_stderr: bool) -> None:
    """The patch (--diff), the reports, then the summary and what follows it; the exit code."""
    from portkit.reports.runreport import render_fixes, render_text

    if to_stderr:
        sys.stdout.flush()
        sys.stdout.buffer.write(run.patch)
        sys.stdout.buffer.flush()
    written, unwritten = [], []
    for report in reports:
        try:
            write_report(run.report, report, run.sources)
            written.append(report)
        except PortkitUsageError as error:  # the summary still says what happened to the files
            unwritten.append(error.message)
    # with --diff the patch owns stdout; the summary goes to stderr so `> fix.patch` stays clean
    summary = render_text(run.report) + ("\n" + render_fixes(run.report) if show_fixes else "")
    click.echo(summary + "\n".join(closing_lines(run, written)), err=to_stderr)
    for message in unwritten:
        click.echo(f"portkit: error: {message}", err=True)
    sys.exit(EXIT_FAILED if unwritten or run.report.failed or run.report.problems else EXIT_OK)
