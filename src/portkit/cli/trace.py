"""`portkit trace -- python train.py ARGS`: run the program on the CPU and report what it executes
that the NPU runs on the CPU, in float64, with data-dependent shapes or with host synchronisations
(docs/trace.md).

Exit codes, as `portkit check`: 0 no findings, 1 findings, 2 the program failed or could not run,
or a usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from portkit.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PortkitUsageError, write_file
from portkit.cli.reporting import REPORT_TARGETS, ReportTargets, check_report_names, write_report
from portkit.model import Report, counted
from portkit.pipeline.trace import DEFAULT_STEPS, DEFAULT_TIMEOUT, TraceRun

OUTPUT_FORMATS = ("text", "json", "sarif", "github", "junit")


@click.command(name="trace", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--torch-npu", "torch_npu", metavar="VERSION", default=None,
              help="Judge against this torch_npu release (default: the configured one, else the newest portkit knows).")
@click.option("--steps", type=click.IntRange(min=0), default=DEFAULT_STEPS, show_default=True,
              help="Stop the program when its N-th optimizer step returns (0: no limit).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT, show_default=True,
              help="Stop the program after this many seconds; what it ran until then is reported.")
@click.option("--output-format", "-o", "output_format", type=click.Choice(OUTPUT_FORMATS), default="text",
              show_default=True, help="How to print the findings (the formats of `portkit check`).")
@click.option("--output-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the findings to this file instead of standard output.")
@click.option("--report", "reports", multiple=True, type=click.Path(),
              help=f"Write the full report: {REPORT_TARGETS}. Repeatable.")
@click.option("--force-report", is_flag=True, help="Let --report overwrite a file git tracks or sees as untracked.")
@click.option("--ops", "ops_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every operator the program ran (its status on the NPU, dtypes, calls, lines) as JSON.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Read settings (torch-npu) from this portkit.toml / pyproject.toml instead of the nearest one.")
@click.option("--no-config", is_flag=True, help="Ignore portkit.toml and [tool.portkit].")
def trace_command(command: tuple[str, ...], torch_npu: str | None, steps: int, timeout: float, output_format: str,
                  output_file: Path | None, reports: tuple[str, ...], force_report: bool, ops_file: Path | None,
                  config_file: Path | None, no_config: bool) -> None:
    """Run COMMAND (python SCRIPT ARGS, or python -m MODULE ARGS) on the CPU and report the operators
    it runs that the NPU runs on the CPU, in float64, with data-dependent shapes or with host syncs."""
    from portkit.pipeline.trace import TraceCommandError, TraceOptions, parse_command, run_trace
    from portkit.pipeline.trace_findings import unjudged
    from portkit.pipeline.trace_report import build_report, check_run, inventory, trace_rules
    from portkit.reports.check_formats import render
    from portkit.ruleset import RuleError
    from portkit.ruleset.operators import OperatorTable

    try:
        program = parse_command(command)
        rules = trace_rules()
    except (TraceCommandError, RuleError) as error:
        raise PortkitUsageError(str(error)) from None
    version = _version(torch_npu, config_file, no_config)
    reports = tuple(check_report_names(reports))
    ReportTargets(reports, force_report)([])  # refuse before the program runs, not after
    run = run_trace(TraceOptions(program, version, steps, timeout))
    table = OperatorTable.load(version)
    report = build_report(run, table, rules)
    for target in reports:
        write_report(report, target)
    if ops_file is not None:
        write_file(ops_file, json.dumps(inventory(run, table), indent=2, ensure_ascii=False) + "\n")
    text = (render_text(run, report, unjudged(run, table)) if output_format == "text"
            else render(check_run(report, rules), output_format))
    if output_file is not None:
        write_file(output_file, click.unstyle(text))
    else:
        click.echo(text, nl=False)
    if run.tracer_error:
        click.echo(f"portkit: warning: some operator calls were not recorded: {run.tracer_error}", err=True)
    if not run.completed:
        click.echo(f"portkit: error: {program.shown}: {ending(run)}", err=True)
        for line in run.stderr_tail:
            click.echo(f"  | {line}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FAILED if report.findings else EXIT_OK)


def _version(given: str | None, config_file: Path | None, no_config: bool) -> str:
    """--torch-npu, else the project's torch-npu setting, else the newest release portkit knows."""
    from portkit.cli.settings import check_torch_npu
    from portkit.pipeline.config import ConfigError, find_config, load_config
    from portkit.ruleset.operators import available_versions

    try:
        configured = None if no_config else load_config(config_file or find_config()).torch_npu
    except ConfigError as error:
        raise PortkitUsageError(str(error)) from None
    return check_torch_npu(given or configured or available_versions()[-1])


def ending(run: TraceRun) -> str:
    """How the program's run ended, as a clause."""
    steps = counted(run.steps, "optimizer step")
    return {
        "finished": f"ran to its end ({steps})",
        "steps": f"stopped after {steps} (--steps)",
        "timeout": f"stopped by --timeout after {run.seconds:.0f} s ({steps})",
        "exited": f"exited with code {run.exit_code}" + (f": {run.error}" if run.error else ""),
        "failed": f"failed: {run.error}",
    }.get(run.status, f"could not be traced: {run.error}")


def render_text(run: TraceRun, report: Report, unknown: list[str]) -> str:
    """The terminal output: how the run went, one line per finding (as `portkit check` prints them), a total."""
    calls = sum(r.count for r in run.records)
    lines = {(r.file, r.line) for r in run.records if r.file}
    header = (f"{click.style('portkit trace', bold=True)}: {run.program.shown} (torch_npu {report.torch_npu}): "
              f"{ending(run)} in {run.seconds:.1f} s; {counted(len({r.op for r in run.records}), 'operator')}, "
              f"{counted(calls, 'call')} from {counted(len(lines), 'line')} of {counted(len(report.files), 'file')}")
    out = [header]
    for result, finding in report.findings:
        where = click.style(result.path, bold=True) + f":{finding.span.line}:{finding.span.column}:"
        out.append(f"{where} {click.style(finding.rule_id, fg='red', bold=True)} {finding.message}")
    if unknown:
        out.append(f"Not judged: {', '.join(unknown)}.")
    by_rule = ", ".join(f"{rule} {count}" for rule, count in report.findings_by_rule.items())
    files = len([f for f in report.files if f.findings])
    out.append(click.style(f"Found {counted(len(report.findings), 'finding')} ({by_rule}) in {counted(files, 'file')}."
                           if report.findings else "No findings in what the program ran.", bold=True))
    return "\n".join(out) + "\n"
