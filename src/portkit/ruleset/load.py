"""Loading rule files: TOML text to validated `Rule`s, the built-in rules shipped as the
`portkit.rules` package, and the folders of `--rules DIR`."""

from __future__ import annotations

import importlib.resources
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from portkit.model import Safety
from portkit.ruleset.fields import Fields
from portkit.ruleset.kinds import PARSERS
from portkit.ruleset.rule import REPORT_KINDS, RULE_ID, TARGETS, Example, Rule, RuleError, RuleSet

# the keys a [[rule]] table may hold: the common ones and its kind's (kinds.PARSERS reads those)
_COMMON_KEYS = {
    "id", "kind", "summary", "why", "safety", "source", "targets", "examples", "needs_import",
}
_KIND_KEYS: dict[str, set[str]] = {
    "rename-api": {"module", "to_module", "names", "renames", "contracts"},
    "rename-attribute": {"old", "new", "call", "insert_first", "keyword"},
    "replace-string": {"values", "prefixes", "contexts", "report_pattern", "report_message", "expressions"},
    "report": {"names", "prefixes", "message", "guidance", "keywords", "fallback", "attributes"},
    "edit-arguments": {"calls", "positional_to_keyword", "keyword_to_positional", "insert_first", "keyword",
                       "message", "device_index"},
    "ensure-import": {"module"},
    "report-command": {"commands", "images"},
    "report-string": {"values", "prefixes", "pattern", "contexts", "message"},
    "dependency": {"packages", "replacements", "torch_pin", "minimum_versions"},
    "cuda-source": {"message"},
    "backend-scope": {"words", "guards", "guard_words", "message"},
    "analysis": {"message", "replacements", "npu_names", "reported_by"},
}


def _parse_examples(f: Fields) -> tuple[Example, ...]:
    examples = []
    for number, table in enumerate(f.get("examples", list, []), start=1):
        if not isinstance(table, dict):
            raise f.fail(f"example {number} must be a table with 'before'")
        e = Fields(table, f"{f.where}: example {number}")
        e.check_keys({"before", "after", "findings", "with_rules", "path", "torch_npu"})
        examples.append(Example(before=e.get("before", str), after=e.get("after", str, None),
                                findings=e.get("findings", int, 0), with_rules=e.strings("with_rules"),
                                path=e.get("path", str, "example.py"), torch_npu=e.get("torch_npu", str, None)))
    return tuple(examples)


def parse_rule(table: Mapping[str, Any], origin: str) -> Rule:
    rule_id = table.get("id")
    where = f"{origin}: rule '{rule_id}'" if isinstance(rule_id, str) else f"{origin}: a rule"
    f = Fields(table, where)
    rule_id = f.get("id", str)
    if not RULE_ID.match(rule_id):
        raise f.fail("'id' must be lowercase words joined by '-' (like 'cuda-api')")
    kind = f.get("kind", str)
    if kind not in PARSERS:
        raise f.fail(f"unknown kind '{kind}' (known: {', '.join(sorted(PARSERS))})")
    f.check_keys(_COMMON_KEYS | _KIND_KEYS[kind])
    safety_name = f.get("safety", str)
    try:
        safety = Safety(safety_name)
    except ValueError:
        raise f.fail(f"'safety' must be one of safe, review, manual, not '{safety_name}'") from None
    targets = frozenset(f.strings("targets", ["npu"]))
    if unknown := sorted(targets - TARGETS):
        raise f.fail(f"unknown target '{unknown[0]}' (known: {', '.join(sorted(TARGETS))})")
    spec = PARSERS[kind](f)
    fixes = kind not in REPORT_KINDS and kind != "ensure-import"
    return Rule(
        id=rule_id, kind=kind, summary=f.get("summary", str), why=f.get("why", str),
        safety=safety, source=f.get("source", str, ""), targets=targets,
        examples=_parse_examples(f), spec=spec,
        needs_import=f.get("needs_import", bool, fixes), origin=origin,
    )


def parse_rule_file(text: str, origin: str) -> list[Rule]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RuleError(f"{origin}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - {"rule"})
    if unknown:
        raise RuleError(f"{origin}: unknown top-level key '{unknown[0]}' (rules go in [[rule]] tables)")
    tables = document.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RuleError(f"{origin}: 'rule' must be an array of tables ([[rule]])")
    return [parse_rule(table, origin) for table in tables]


def load_rule_dir(directory: Path) -> list[Rule]:
    if not directory.is_dir():
        raise RuleError(f"{directory}: not a folder of rule files")
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise RuleError(f"{directory}: no *.toml rule files in it")
    rules: list[Rule] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RuleError(f"{path}: cannot read: {error}") from None
        rules.extend(parse_rule_file(text, str(path)))
    return rules


def builtin_rules() -> list[Rule]:
    rules: list[Rule] = []
    package = importlib.resources.files("portkit.rules")
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            rules.extend(parse_rule_file(entry.read_text(encoding="utf-8"), f"rules/{entry.name}"))
    return rules


def load_rules(extra_dirs: Sequence[Path] = (), *, builtin: bool = True, target: str | None = "npu") -> RuleSet:
    """The rules that serve `target` (None: every rule, as `portkit rules` lists them).

    Rules of different targets rewrite the same code differently, so a rule set that is
    compiled for a run always belongs to one target."""
    rules = builtin_rules() if builtin else []
    for directory in extra_dirs:
        rules.extend(load_rule_dir(directory))
    if target is not None:
        rules = [rule for rule in rules if target in rule.targets]
    return RuleSet(tuple(rules))
