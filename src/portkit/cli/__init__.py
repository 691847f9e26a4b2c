"""The command line: parse options, call the library, print. Nothing else lives here.

Exit codes: 0 success (manual items included), 1 some files failed, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

import dataclasses
from dataclasses import dataclass

from portkit import __version__
from portkit.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PortkitUsageError, did_you_mean, write_file
from portkit.model import counted
from portkit.cli.reporting import REPORT_TARGETS, ReportTargets, check_report_names, write_report
from portkit.pipeline.config import Config, ConfigError, find_config, load_config
from portkit.pipeline.discovery import DiscoveryError
from portkit.ruleset.npu_api import available_versions
from portkit.ruleset import REPORT_KINDS, TARGETS, RuleError, RuleSet, load_rules

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "PortkitUsageError", "check_command", "main"]


def _load(rule_dirs: Sequence[Path], select: Sequence[str] = (), ignore: Sequence[str] = (),
          target: str = "npu", extra_ids: Sequence[str] = ()) -> RuleSet:
    try:
        ruleset = load_rules(rule_dirs, target=target)
        if not ruleset.rules:
            raise RuleError(f"no rule serves the target '{target}' yet")
        ruleset.expand([*select, *ignore], extra_ids)  # unknown ids and groups are an error
        extra = set(extra_ids)
        regular = [s for s in select if s not in extra]
        if select and not regular:
            return RuleSet((), ruleset.rules)  # only pseudo-rules (suppression hygiene) were selected
        return ruleset.choose(regular, [i for i in ignore if i not in extra])
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None


@dataclass(frozen=True)
class _Settings:
    """Command-line options merged over the project's configuration (the command line wins)."""

    config: Config
    ruleset: RuleSet
    select: tuple[str, ...]
    ignore: tuple[str, ...]
    exclude: tuple[str, ...]  # --exclude: relative to each path given (the config's own
    target: str  # exclude, relative to its folder, is in `config` unless --exclude replaced it)


def _settings(config_file: Path | None, no_config: bool, rule_dirs: Sequence[Path], select: Sequence[str],
              ignore: Sequence[str], exclude: Sequence[str], target: str | None,
              extra_ids: Sequence[str] = (), torch_npu: str | None = None) -> _Settings:
    try:
        path = None if no_config else (config_file or find_config())
        config = load_config(path)
    except ConfigError as error:
        raise PortkitUsageError(str(error)) from None
    chosen_select = tuple(_split_ids(select)) or config.select
    chosen_ignore = tuple(_split_ids(ignore)) or config.ignore
    chosen_target = target or config.target or "npu"
    if chosen_target not in TARGETS:
        raise PortkitUsageError(f"{config.path}: unknown target '{chosen_target}'")
    ruleset = _load([*config.rules, *rule_dirs], chosen_select, chosen_ignore, chosen_target, extra_ids)
    version = torch_npu or config.torch_npu
    if version is not None:
        if version not in available_versions():
            raise PortkitUsageError(f"unknown torch_npu version '{version}' (known: {', '.join(available_versions())})")
        ruleset = dataclasses.replace(ruleset, npu_version=version)
    if exclude:
        config = dataclasses.replace(config, exclude=())
    try:  # per-file ignores may name groups too; an unknown one is a configuration error
        expanded = {glob: tuple(sorted(ruleset.universe_set().expand(ids, extra_ids)))
                    for glob, ids in config.per_file_ignores.items()}
    except RuleError as error:
        raise PortkitUsageError(f"{config.path}: per-file-ignores: {error}") from None
    config = dataclasses.replace(config, per_file_ignores=expanded)
    return _Settings(config, ruleset, chosen_select, chosen_ignore, tuple(exclude), chosen_target)


class Progress:
    """`files done / total, rate` on stderr, only on a terminal and only once a run has taken
    more than a second (short runs and pipes see nothing)."""

    def __init__(self, verb: str, delay: float = 1.0) -> None:
        self.verb, self.delay = verb, delay
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown = False
        self.last = 0.0

    def __enter__(self) -> Progress:
        return self

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        if not self.enabled or elapsed < self.delay or (now - self.last < 0.1 and done < total):
            return
        self.last, self.shown = now, True
        width = 30
        filled = width * done // max(total, 1)
        rate = done / elapsed if elapsed else 0.0
        click.echo(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files {self.verb}, "
                   f"{rate:.0f} files/s", nl=False, err=True)

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)  # clear the bar before the summary


def _shim_rules(rule_dirs: Sequence[Path], settings: _Settings) -> RuleSet:
    """The shim reports every manual item of the explicit port, plus what transfer_to_npu
    gets wrong or leaves alone (the rules whose target is "shim")."""
    shim = _load([*settings.config.rules, *rule_dirs], target="shim")
    manual = [r for r in settings.ruleset.rules if r.kind in REPORT_KINDS]
    return RuleSet((*manual, *shim.rules), settings.ruleset.universe, settings.ruleset.npu_version)


def _split_ids(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


config_options = [
    click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
                 help="Read settings from this portkit.toml / pyproject.toml instead of the nearest one."),
    click.option("--no-config", is_flag=True, help="Ignore portkit.toml and [tool.portkit]."),
]


def _with(options: list):  # type: ignore[no-untyped-def]
    def decorate(function):  # type: ignore[no-untyped-def]
        for option in reversed(options):
            function = option(function)
        return function
    return decorate


torch_npu_option = click.option(
    "--torch-npu", "torch_npu", metavar="VERSION", default=None,
    help="The torch_npu release to port to (default: the newest portkit knows); names it lacks are reported.")


rules_option = click.option(
    "--rules", "rule_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Also load the rule files (*.toml) in this folder. Repeatable.",
)


def _version_message() -> str:
    releases = available_versions()
    return (f"%(prog)s %(version)s (ports to torch_npu {releases[-1]} by default; "
            f"--torch-npu knows {', '.join(releases)})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="portkit", message=_version_message())
def main() -> None:
    """Port PyTorch CUDA code to Huawei Ascend NPUs (torch_npu), reviewably."""


@main.command(name="migrate")
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
@rules_option
@click.option("--select", multiple=True, help="Only these rule ids (comma-separated or repeated).")
@click.option("--ignore", multiple=True, help="Not these rule ids.")
@click.option("--exclude", multiple=True, help="Skip paths matching this gitignore-style glob. Repeatable.")
@click.option("--no-ignore", is_flag=True, help="Do not honour .gitignore files.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: all cores).")
@click.option("--target", type=click.Choice(["npu", "accelerator"]), default=None,
              help="What to port to: the explicit torch.npu API (default).")
@torch_npu_option
@click.option("--strategy", type=click.Choice(["port", "shim"]), default="port", show_default=True,
              help="port: rewrite the code for torch.npu; shim: only import torch_npu's runtime switch "
                   "(transfer_to_npu) at entry points, and report what it will not handle.")
@click.option("--fix-deps", is_flag=True,
              help="Also rewrite dependency files (drop CUDA builds and indexes, pin torch-npu, triton → "
                   "triton-ascend); without it they are only reported.")
@click.option("--entry", "entries", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="With --strategy shim: an entry-point file (besides __main__ scripts and console scripts).")
@_with(config_options)
def migrate_command(
    paths: tuple[Path, ...], as_diff: bool, output: Path | None, dry_run: bool, allow_dirty: bool,
    reports: tuple[str, ...], force_report: bool, rule_dirs: tuple[Path, ...], select: tuple[str, ...],
    ignore: tuple[str, ...],
    exclude: tuple[str, ...], no_ignore: bool, jobs: int | None, target: str | None, torch_npu: str | None,
    strategy: str, fix_deps: bool, entries: tuple[Path, ...], config_file: Path | None, no_config: bool,
) -> None:
    """Rewrite the Python files under PATHS for Ascend NPUs (in place by default)."""
    # imported here: `portkit check` (the command CI runs on every push) needs none of them
    from portkit.pipeline.gitstate import GitStateError
    from portkit.pipeline.migrate import DirtyFilesError, MigrateOptions, Mode, migrate
    from portkit.reports.runreport import render_text
    from portkit.reports.review import report_format
    from portkit.pipeline.runner import default_jobs
    from portkit.pipeline.sinks import CopyError, OutputError

    chosen = [name for name, on in (("--diff", as_diff), ("--output", output is not None), ("--dry-run", dry_run)) if on]
    if len(chosen) > 1:
        raise PortkitUsageError(f"{' and '.join(chosen)} cannot be used together")
    if output is not None and len(paths) != 1:
        raise PortkitUsageError("--output takes exactly one source path")
    check_report_names(reports)
    mode = Mode.DIFF if as_diff else Mode.OUTPUT if output else Mode.DRY_RUN if dry_run else Mode.IN_PLACE
    if entries and strategy != "shim":
        raise PortkitUsageError("--entry is for --strategy shim")
    settings = _settings(config_file, no_config, rule_dirs, select, ignore, exclude, target, (), torch_npu)
    ruleset = settings.ruleset
    if strategy == "shim":
        ruleset = _shim_rules(rule_dirs, settings)
    options = MigrateOptions(
        paths=paths, ruleset=ruleset, mode=mode, output=output, allow_dirty=allow_dirty,
        jobs=jobs or default_jobs(), exclude=settings.exclude, respect_gitignore=not no_ignore,
        target=settings.target, config=settings.config, strategy=strategy, entries=entries, fix_deps=fix_deps,
        keep_sources=any(report_format(report) == "html" for report in reports),  # full diffs need the originals
        before_write=ReportTargets(tuple(reports), force_report, output) if reports else None,
    )
    try:
        with Progress("migrated") as progress:
            run = migrate(options, progress)
    except (DiscoveryError, OutputError, DirtyFilesError, GitStateError) as error:
        raise PortkitUsageError(str(error)) from None
    except CopyError as error:  # nothing was written: one line, no summary
        click.echo(f"portkit: error: {error}", err=True)
        sys.exit(EXIT_FAILED)
    if mode is Mode.DIFF:
        sys.stdout.flush()
        sys.stdout.buffer.write(run.patch)
        sys.stdout.buffer.flush()
    unwritten = []
    for report in reports:
        try:
            write_report(run.report, report, run.sources)
        except PortkitUsageError as error:  # the summary still says what happened to the files
            unwritten.append(error.message)
    # with --diff the patch owns stdout; the summary goes to stderr so `> fix.patch` stays clean
    click.echo(render_text(run.report), nl=False, err=mode is Mode.DIFF)
    for message in unwritten:
        click.echo(f"portkit: error: {message}", err=True)
    sys.exit(EXIT_FAILED if unwritten or run.report.failed or run.report.problems else EXIT_OK)


@main.command(name="report")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--output", "-o", "outputs", multiple=True, required=True, type=click.Path(),
              help=f"Write the report as {REPORT_TARGETS}. Repeatable.")
def report_command(source: Path, outputs: tuple[str, ...]) -> None:
    """Render a JSON report (`portkit migrate --report FILE.json`) for review: HTML, Markdown or CSV."""
    from portkit.reports.runreport import ReportFormatError, from_json_data

    check_report_names(outputs)
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


@main.command(name="check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output-format", "-o", "output_format", default="text", show_default=True,
              type=click.Choice(["text", "json", "sarif", "github", "junit"]), help="How to print findings.")
@click.option("--output-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the findings to this file instead of standard output.")
@rules_option
@click.option("--select", multiple=True,
              help="Only these rule ids or groups (a rule file's name, `fixable`, `manual`, `ALL`).")
@click.option("--ignore", multiple=True, help="Not these rule ids or groups.")
@click.option("--severity", type=click.Choice(["fixable", "manual"]), default="fixable", show_default=True,
              help="Threshold: `manual` reports only what needs a person; `fixable` reports everything.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings or unreadable files.")
@click.option("--baseline", "baseline_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Fail only on findings that this baseline file does not record.")
@click.option("--write-baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="Record today's findings in this file (and exit 0).")
@click.option("--exclude", multiple=True, help="Skip paths matching this gitignore-style glob. Repeatable.")
@click.option("--no-ignore", is_flag=True, help="Do not honour .gitignore files.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--target", type=click.Choice(["npu", "accelerator"]), default=None, help="What the code should be ported to.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache in .portkit_cache/.")
@torch_npu_option
@_with(config_options)
def check_command(
    paths: tuple[Path, ...], output_format: str, output_file: Path | None, rule_dirs: tuple[Path, ...],
    select: tuple[str, ...], ignore: tuple[str, ...], severity: str, exit_zero: bool,
    baseline_file: Path | None, write_baseline: Path | None, exclude: tuple[str, ...], no_ignore: bool,
    jobs: int | None, target: str | None, no_cache: bool, torch_npu: str | None, config_file: Path | None,
    no_config: bool,
) -> None:
    """Report unported CUDA usage under PATHS (default: .); exit 1 while any remains."""
    from portkit.pipeline import baseline as baselines
    from portkit.pipeline.check import CheckOptions, Level, check, exit_code
    from portkit.pipeline.runner import default_jobs
    from portkit.reports.check_formats import render
    from portkit.pipeline.suppressions import META_RULES

    settings = _settings(config_file, no_config, rule_dirs, select, ignore, exclude, target, list(META_RULES),
                         torch_npu)
    baseline = baseline_file or settings.config.baseline
    # suppression hygiene follows --select/--ignore like any rule
    meta_rules = set(META_RULES) if not settings.select or "ALL" in settings.select else set(settings.select)
    meta_rules = (meta_rules & set(META_RULES)) - set(settings.ignore)
    options = CheckOptions(
        paths=paths or (Path("."),), ruleset=settings.ruleset, config=settings.config,
        jobs=jobs or default_jobs(), exclude=settings.exclude, respect_gitignore=not no_ignore,
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
    text = render(run, output_format)
    if output_file is not None:
        write_file(output_file, click.unstyle(text))  # no colour codes in files
    else:
        click.echo(text, nl=False)
    sys.exit(exit_code(run, exit_zero))

