"""The options `migrate` and `check` share, and how they merge over the project's configuration
(the command line wins; `--extend-select` / `--extend-ignore` add to what is chosen, as in ruff).

Every name a user types is checked here, with a suggestion when it is close to a known one: rule
ids and groups (`--select devce-string` → did you mean 'device-string'?), torch_npu releases
(`--torch-npu 2.6` → did you mean '2.6.0'?).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from portkit.cli.common import Choice, PortkitUsageError, did_you_mean
from portkit.pipeline.config import Config, ConfigError, find_config, load_config
from portkit.ruleset import REPORT_KINDS, TARGETS, RuleError, RuleSet, load_rules
from portkit.ruleset.npu_api import available_versions

GROUP_SELECTORS = ("ALL", "fixable", "manual")


@dataclass(frozen=True)
class Selection:
    """--select / --ignore / --extend-select / --extend-ignore as given (comma lists split)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    extend_ignore: tuple[str, ...] = ()

    @classmethod
    def of(cls, select: Sequence[str] = (), ignore: Sequence[str] = (), extend_select: Sequence[str] = (),
           extend_ignore: Sequence[str] = ()) -> Selection:
        return cls(*(tuple(split_ids(values)) for values in (select, ignore, extend_select, extend_ignore)))


@dataclass(frozen=True)
class Settings:
    """Command-line options merged over the project's configuration (the command line wins)."""

    config: Config
    ruleset: RuleSet
    select: tuple[str, ...]
    ignore: tuple[str, ...]
    exclude: tuple[str, ...]  # --exclude: relative to each path given (the config's own
    target: str  # exclude, relative to its folder, is in `config` unless --exclude replaced it)


def split_ids(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def merged(given: Sequence[str], given_extend: Sequence[str], configured: Sequence[str],
           configured_extend: Sequence[str], *, empty_is_all: bool = False) -> tuple[str, ...]:
    """One selector list from the configuration's and the command line's (as ruff layers them):
    a list given on the command line replaces the configured one and its extension; an
    extension adds to whatever it extends. When an empty list means every rule (`select`),
    extending it changes nothing."""
    layers = [given, given_extend] if given else [configured, configured_extend, given_extend]
    if empty_is_all and not layers[0]:
        return ()
    return tuple(dict.fromkeys(selector for layer in layers for selector in layer))


def unknown_selector(ruleset: RuleSet, selectors: Iterable[str], extra_ids: Iterable[str] = ()) -> str | None:
    """The message for the first selector that names no rule id or group, else None."""
    known = {*ruleset.ids, *(rule.group for rule in ruleset.rules), *GROUP_SELECTORS, *extra_ids}
    for selector in selectors:
        if selector not in known:
            return f"unknown rule id or group '{selector}'{did_you_mean(selector, sorted(known))} (see `portkit rules`)"
    return None


def suggest_version(given: str, known: Sequence[str]) -> str:
    """`; did you mean '2.6.0'?` for `2.6`: the newest release that `given` is the start of,
    else the closest spelling."""
    extended = [version for version in known if version.startswith(given + ".")]
    return f"; did you mean '{extended[-1]}'?" if extended else did_you_mean(given, known)


def check_torch_npu(version: str) -> str:
    known = available_versions()
    if version not in known:
        raise PortkitUsageError(f"unknown torch_npu version '{version}'{suggest_version(version, known)} "
                                f"(known: {', '.join(known)})")
    return version


def load(rule_dirs: Sequence[Path], select: Sequence[str] = (), ignore: Sequence[str] = (),
         target: str = "npu", extra_ids: Sequence[str] = (), also_known: Sequence[str] = ()) -> RuleSet:
    """The rules of a target, chosen by selectors; `also_known`: selectors to validate that do
    not choose anything (an extension of an empty `select`)."""
    try:
        ruleset = load_rules(rule_dirs, target=target)
        if not ruleset.rules:
            raise RuleError(f"no rule serves the target '{target}' yet")
        unknown = unknown_selector(ruleset, [*select, *ignore, *also_known], extra_ids)
        if unknown:
            raise PortkitUsageError(unknown)
        extra = set(extra_ids)
        regular = [s for s in select if s not in extra]
        if select and not regular:
            return RuleSet((), ruleset.rules)  # only pseudo-rules (suppression hygiene) were selected
        return ruleset.choose(regular, [i for i in ignore if i not in extra])
    except RuleError as error:
        raise PortkitUsageError(str(error)) from None


def _config(config_file: Path | None, no_config: bool) -> Config:
    try:
        return load_config(None if no_config else (config_file or find_config()))
    except ConfigError as error:
        raise PortkitUsageError(str(error)) from None


def settings(config_file: Path | None, no_config: bool, rule_dirs: Sequence[Path], selection: Selection,
             exclude: Sequence[str], target: str | None, extra_ids: Sequence[str] = (),
             torch_npu: str | None = None) -> Settings:
    config = _config(config_file, no_config)
    chosen_select = merged(selection.select, selection.extend_select, config.select, config.extend_select,
                           empty_is_all=True)
    chosen_ignore = merged(selection.ignore, selection.extend_ignore, config.ignore, config.extend_ignore)
    chosen_target = target or config.target or "npu"
    if chosen_target not in TARGETS:
        raise PortkitUsageError(f"{config.path}: unknown target '{chosen_target}'")
    extensions = [*selection.extend_select, *config.extend_select]  # checked even when they add nothing
    ruleset = load([*config.rules, *rule_dirs], chosen_select, chosen_ignore, chosen_target, extra_ids, extensions)
    version = torch_npu or config.torch_npu
    if version is not None:
        ruleset = dataclasses.replace(ruleset, npu_version=check_torch_npu(version))
    if exclude:
        config = dataclasses.replace(config, exclude=())
    universe = ruleset.universe_set()
    for ids in config.per_file_ignores.values():  # they may name groups too; an unknown one is an error
        if unknown := unknown_selector(universe, ids, extra_ids):
            raise PortkitUsageError(f"{config.path}: per-file-ignores: {unknown}")
    expanded = {glob: tuple(sorted(universe.expand(ids, extra_ids))) for glob, ids in config.per_file_ignores.items()}
    config = dataclasses.replace(config, per_file_ignores=expanded)
    return Settings(config, ruleset, chosen_select, chosen_ignore, tuple(exclude), chosen_target)


def shim_rules(rule_dirs: Sequence[Path], settings: Settings) -> RuleSet:
    """The shim reports every manual item of the explicit port, plus what transfer_to_npu
    gets wrong or leaves alone (the rules whose target is "shim")."""
    shim = load([*settings.config.rules, *rule_dirs], target="shim")
    manual = [r for r in settings.ruleset.rules if r.kind in REPORT_KINDS]
    return RuleSet((*manual, *shim.rules), settings.ruleset.universe, settings.ruleset.npu_version)


# --- the options ----------------------------------------------------------------------------

Decorator = Callable[[Any], Any]


def with_options(options: Sequence[Decorator]) -> Decorator:
    def decorate(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function
    return decorate


rules_option = click.option(
    "--rules", "rule_dirs", multiple=True, type=click.Path(path_type=Path),
    help="Also load the rule files (*.toml) in this folder. Repeatable.",
)

selection_options: list[Decorator] = [
    rules_option,
    click.option("--select", multiple=True,
                 help="Only these rule ids or groups (a rule file's name, `fixable`, `manual`, `ALL`); "
                      "comma-separated or repeated."),
    click.option("--ignore", multiple=True, help="Not these rule ids or groups."),
    click.option("--extend-select", multiple=True, help="Add these rule ids or groups to the selection."),
    click.option("--extend-ignore", multiple=True, help="Add these rule ids or groups to the ignored ones."),
    click.option("--exclude", multiple=True, help="Skip paths matching this gitignore-style glob. Repeatable."),
    click.option("--no-ignore", is_flag=True, help="Do not honour .gitignore files."),
    click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
                 help="Worker processes (default: all cores)."),
    click.option("--max-file-size", "max_file_size", type=click.IntRange(min=1), default=10, show_default=True,
                 metavar="MB", help="Refuse files larger than this many megabytes: they fail unread "
                                    "(docs/robustness.md)."),
    click.option("--target", type=Choice(["npu", "accelerator"]), default=None,
                 help="What to port to: the explicit torch.npu API (default), or device-agnostic code."),
    click.option("--torch-npu", "torch_npu", metavar="VERSION", default=None,
                 help="The torch_npu release to port to (default: the newest portkit knows); names it lacks "
                      "are reported."),
    click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
                 help="Read settings from this portkit.toml / pyproject.toml instead of the nearest one."),
    click.option("--no-config", is_flag=True, help="Ignore portkit.toml and [tool.portkit]."),
]
