"""The command line: parse options, call the library, print. Nothing else lives here.

Exit codes: 0 success (manual items included), 1 some files failed, 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from portkit import __version__
from portkit.discovery import DiscoveryError
from portkit.gitstate import GitStateError
from portkit.migrate import DirtyFilesError, MigrateOptions, Mode, migrate
from portkit.report import render_text, to_json
from portkit.ruleset import RuleError, RuleSet, load_rules
from portkit.ruletest import check_rules
from portkit.sinks import OutputError
from portkit.sourcefile import atomic_write

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class PortkitUsageError(click.ClickException):
    """A one-line error the user must act on (exit 2)."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"portkit: error: {self.message}", err=True)


def _load(rule_dirs: Sequence[Path], select: Sequence[str] = (), ignore: Sequence[str] = (),
          target: str = "npu") -> RuleSet:
    try:
        ruleset = load_rules(rule_dirs).for_target(target)
        if select:
            ruleset = ruleset.select(select)
        if ignore:
            ruleset.select(ignore)  # validates the ids
            ruleset = RuleSet(tuple(r for r in ruleset.rules if r.id not in set(ignore)))
        return ruleset
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None


def _split_ids(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


rules_option = click.option(
    "--rules", "rule_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Also load the rule files (*.toml) in this folder. Repeatable.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portkit")
def main() -> None:
    """Port PyTorch CUDA code to Huawei Ascend NPUs (torch_npu), reviewably."""


@main.command(name="migrate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--diff", "as_diff", is_flag=True, help="Print a unified patch (git apply / patch -p1); change nothing.")
@click.option("--output", "-O", "output", type=click.Path(path_type=Path),
              help="Write a complete ported copy of the tree to this folder; the source is untouched.")
@click.option("--dry-run", is_flag=True, help="Change nothing; print only the summary.")
@click.option("--allow-dirty", is_flag=True, help="Rewrite files even if they have uncommitted git changes.")
@click.option("--report", "reports", multiple=True, type=click.Path(path_type=Path),
              help="Write the full report to this file (.json). Repeatable.")
@rules_option
@click.option("--select", multiple=True, help="Only these rule ids (comma-separated or repeated).")
@click.option("--ignore", multiple=True, help="Not these rule ids.")
@click.option("--exclude", multiple=True, help="Skip paths matching this gitignore-style glob. Repeatable.")
@click.option("--no-ignore", is_flag=True, help="Do not honour .gitignore files.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: all cores).")
@click.option("--target", type=click.Choice(["npu"]), default="npu", show_default=True,
              help="What to port to: the explicit torch.npu API.")
def migrate_command(
    paths: tuple[Path, ...], as_diff: bool, output: Path | None, dry_run: bool, allow_dirty: bool,
    reports: tuple[Path, ...], rule_dirs: tuple[Path, ...], select: tuple[str, ...], ignore: tuple[str, ...],
    exclude: tuple[str, ...], no_ignore: bool, jobs: int | None, target: str,
) -> None:
    """Rewrite the Python files under PATHS for Ascend NPUs (in place by default)."""
    from portkit.engine import default_jobs

    chosen = [name for name, on in (("--diff", as_diff), ("--output", output is not None), ("--dry-run", dry_run)) if on]
    if len(chosen) > 1:
        raise PortkitUsageError(f"{' and '.join(chosen)} cannot be used together")
    if output is not None and len(paths) != 1:
        raise PortkitUsageError("--output takes exactly one source path")
    for report in reports:
        if report.suffix.lower() != ".json":
            raise PortkitUsageError(f"{report}: unknown report format (use a .json file name)")
    mode = Mode.DIFF if as_diff else Mode.OUTPUT if output else Mode.DRY_RUN if dry_run else Mode.IN_PLACE
    options = MigrateOptions(
        paths=paths, ruleset=_load(rule_dirs, _split_ids(select), _split_ids(ignore), target), mode=mode,
        output=output, allow_dirty=allow_dirty, jobs=jobs or default_jobs(), exclude=exclude,
        respect_gitignore=not no_ignore, target=target,
    )
    try:
        run = migrate(options)
    except (DiscoveryError, OutputError, DirtyFilesError, GitStateError) as error:
        raise PortkitUsageError(str(error)) from None
    if mode is Mode.DIFF:
        sys.stdout.write(run.patch)
        sys.stdout.flush()
    for report in reports:
        atomic_write(report, to_json(run.report).encode("utf-8"))
    # with --diff the patch owns stdout; the summary goes to stderr so `> fix.patch` stays clean
    click.echo(render_text(run.report), nl=False, err=mode is Mode.DIFF)
    sys.exit(EXIT_FAILED if run.report.failed or run.report.problems else EXIT_OK)


@main.group(name="rules", invoke_without_command=True)
@rules_option
@click.pass_context
def rules_group(context: click.Context, rule_dirs: tuple[Path, ...]) -> None:
    """List the rules (id, kind, fix safety, summary)."""
    context.obj = rule_dirs
    if context.invoked_subcommand is None:
        ruleset = _load(rule_dirs)
        width = max(len(r.id) for r in ruleset.rules)
        for rule in ruleset.rules:
            click.echo(f"{rule.id.ljust(width)}  {rule.kind:<16}  {str(rule.safety):<6}  {rule.summary}")


@rules_group.command(name="show")
@click.argument("rule_id")
@click.pass_obj
def rules_show(rule_dirs: tuple[Path, ...], rule_id: str) -> None:
    """Print a rule's documentation: what it does, why, an example, fix safety, source."""
    from portkit.ruledocs import render_rule

    ruleset = _load(rule_dirs)
    try:
        rule = ruleset.get(rule_id)
    except KeyError:
        raise PortkitUsageError(f"unknown rule id '{rule_id}' (see `portkit rules`)") from None
    click.echo(render_rule(rule), nl=False)


@rules_group.command(name="test")
@click.argument("directory", type=click.Path(path_type=Path))
def rules_test(directory: Path) -> None:
    """Run the examples of the rules in DIRECTORY; exit 1 if any fails."""
    try:
        builtin = load_rules()
        user = load_rules([directory], builtin=False)
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None
    combined = RuleSet(builtin.rules + user.rules)
    failures = [f for f in check_rules(combined) if f.rule_id in set(user.ids)]
    for failure in failures:
        click.echo(click.style("FAIL ", fg="red") + str(failure))
    examples = sum(len(r.examples) for r in user.rules)
    click.echo(f"{len(user.rules)} rule(s), {examples} example(s): {len(failures)} failed")
    sys.exit(EXIT_FAILED if failures else EXIT_OK)
