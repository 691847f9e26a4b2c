"""The command line: parse options, call the library, print. Nothing else lives here.

Exit codes: 0 success (manual items included), 1 some files failed, 2 usage or configuration error.
`portkit --color auto|always|never` (and NO_COLOR / FORCE_COLOR) decide whether output is styled.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from portkit import __version__
from portkit.cli.check import check_command
from portkit.cli.common import (COLOR_CHOICES, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Choice, PortkitUsageError,
                                color_setting, did_you_mean)
from portkit.cli.migrate import migrate_command
from portkit.cli.reporting import REPORT_TARGETS, check_report_names, write_report
from portkit.cli.settings import rules_option
from portkit.model import counted
from portkit.ruleset import RuleError, RuleSet, load_rules
from portkit.ruleset.npu_api import available_versions

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "PortkitUsageError", "check_command", "main", "migrate_command"]


def _version_message() -> str:
    releases = available_versions()
    return (f"%(prog)s %(version)s (ports to torch_npu {releases[-1]} by default; "
            f"--torch-npu knows {', '.join(releases)})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portkit", message=_version_message())
@click.option("--color", "color", type=Choice(COLOR_CHOICES), default=None,
              help="Style the output: auto (default: on a terminal, unless NO_COLOR is set; FORCE_COLOR forces "
                   "it), always or never.")
@click.pass_context
def main(context: click.Context, color: str | None) -> None:
    """Port PyTorch CUDA code to Huawei Ascend NPUs (torch_npu), reviewably."""
    context.color = color_setting(color, os.environ)


main.add_command(migrate_command)
main.add_command(check_command)


@main.command(name="report")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--output", "-o", "outputs", multiple=True, required=True, type=click.Path(),
              help=f"Write the report as {REPORT_TARGETS}. Repeatable.")
def report_command(source: Path, outputs: tuple[str, ...]) -> None:
    """Render a JSON report (`portkit migrate --report FILE.json`) for review: HTML, Markdown or CSV."""
    from portkit.reports.runreport import ReportFormatError, from_json_data

    outputs = tuple(check_report_names(outputs))
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise PortkitUsageError(f"{source}: cannot read: {error.strerror or error}") from None
    except ValueError as error:  # not UTF-8, not JSON
        raise PortkitUsageError(f"{source}: not a JSON file ({error})") from None
    try:
        report = from_json_data(data)
    except ReportFormatError as error:
        raise PortkitUsageError(f"{source}: {error}") from None
    for output in outputs:
        write_report(report, output)
        click.echo(f"portkit: wrote {output}", err=True)


@main.group(name="rules", invoke_without_command=True)
@rules_option
@click.pass_context
def rules_group(context: click.Context, rule_dirs: tuple[Path, ...]) -> None:
    """List the rules (id, kind, fix safety, summary)."""
    context.obj = rule_dirs
    if context.invoked_subcommand is None:
        try:
            ruleset = load_rules(rule_dirs, target=None)
        except RuleError as error:
            raise PortkitUsageError(str(error)) from None
        width = max(len(r.id) for r in ruleset.rules)
        for rule in ruleset.rules:
            targets = ",".join(sorted(rule.targets))
            click.echo(f"{rule.id.ljust(width)}  {rule.kind:<16}  {str(rule.safety):<6}  {targets:<5}  {rule.summary}")


@rules_group.command(name="show")
@click.argument("rule_id")
@rules_option
@click.pass_obj
def rules_show(group_dirs: tuple[Path, ...], rule_id: str, rule_dirs: tuple[Path, ...]) -> None:
    """Print a rule's documentation: what it does, why, an example, fix safety, source."""
    from portkit.ruleset.docs import render_rule

    try:
        ruleset = load_rules([*group_dirs, *rule_dirs], target=None)
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None
    if rule_id in ruleset.ids:
        click.echo(render_rule(ruleset.get(rule_id)), nl=False)
        return
    built_in = _built_in_ids()
    if rule_id in built_in:
        click.echo(f"## {rule_id}\n\n{built_in[rule_id]}\n", nl=False)
        return
    known = [*ruleset.ids, *built_in]
    raise PortkitUsageError(f"unknown rule id '{rule_id}'{did_you_mean(rule_id, known)} (see `portkit rules`)")


def _built_in_ids() -> dict[str, str]:
    """Ids that portkit prints but no rule file defines: what each means."""
    from portkit.filekinds.cudaops import CALL_SITE_RULE
    from portkit.pipeline.suppressions import META_RULES

    return {
        **{rule_id: f"Reported by `portkit check`: {meaning}." for rule_id, meaning in META_RULES.items()},
        "shim-entry": ("Made by `portkit migrate --strategy shim`: `import torch_npu` and `from torch_npu.contrib "
                       "import transfer_to_npu` at each entry point (a script with `if __name__ == \"__main__\":`, "
                       "or --entry FILE). Fix safety: review."),
        CALL_SITE_RULE: ("Generated for each tree from the custom operators its C++/CUDA sources register "
                         "(TORCH_LIBRARY namespaces, pybind11 modules of CUDAExtension builds): every Python call "
                         "of such an operator is a manual item until the operator has an Ascend C / op-plugin "
                         "implementation. Fix safety: manual."),
    }


@rules_group.command(name="test")
@click.argument("directory", type=click.Path(path_type=Path))
def rules_test(directory: Path) -> None:
    """Run the examples of the rules in DIRECTORY; exit 1 if any fails."""
    from portkit.pipeline.ruletest import check_rules

    try:
        builtin = load_rules(target=None)
        user = load_rules([directory], builtin=False, target=None)
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None
    combined = RuleSet(builtin.rules + user.rules)
    failures = [f for f in check_rules(combined) if f.rule_id in set(user.ids)]
    for failure in failures:
        click.echo(click.style("FAIL ", fg="red") + str(failure))
    examples = sum(len(r.examples) for r in user.rules)
    click.echo(f"{counted(len(user.rules), 'rule')}, {counted(examples, 'example')}: {len(failures)} failed")
    sys.exit(EXIT_FAILED if failures else EXIT_OK)

from portkit.cli.trace import trace_command  # noqa: E402
main.add_command(trace_command)

from portkit.cli.analyze import analyze_command  # noqa: E402 - registered after main exists
main.add_command(analyze_command)
