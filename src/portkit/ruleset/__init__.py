"""Rule files: loading, validating and indexing the declarative rules in `rules/*.toml`.

A rule file holds `[[rule]]` tables. Every rule has an id, a kind, documentation (summary,
why, source), a fix safety and examples; the remaining keys are the kind's parameters. The
kinds themselves (what each parameter means to the rewriter) live in `transform.py`; this
module only turns TOML into typed, validated values and one-line errors.
"""

from __future__ import annotations

import ast
import importlib.resources
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portkit.model import Safety

# kinds that only report: everything else changes code
REPORT_KINDS = frozenset({"report", "report-string", "report-command", "cuda-source", "dependency"})
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
QUALIFIED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
TARGETS = frozenset({"npu", "accelerator", "shim"})


class RuleError(Exception):
    """A malformed rule file: the message is one line naming the file, the rule and the problem."""


@dataclass(frozen=True)
class Example:
    """A snippet the test suite runs through the rule: `after` None means "must stay unchanged"."""

    before: str
    after: str | None = None
    findings: int = 0  # manual items of this rule the snippet must produce
    with_rules: tuple[str, ...] = ()  # other rules active in this example (an import needs a change)
    path: str = "example.py"  # the snippet's file name: it picks the file kind (run.sh, setup.py…)


# --- the kinds' parameters ------------------------------------------------------------------


def is_expression(replacement: str) -> bool:
    """A rename's target is a dotted name (`torch.npu.synchronize`) or, for the device-agnostic
    target, an expression (`torch.get_device_module().manual_seed`) that cannot be imported."""
    return QUALIFIED_NAME.match(replacement) is None


@dataclass(frozen=True)
class RenameApi:
    """`module.X` -> `to_module.X` for the listed X, plus explicit `renames` of qualified names.

    A target may be an expression (`torch.get_device_module().X`): uses are rewritten, but a
    `from module import X` of such a name cannot be, and is reported instead."""

    renames: Mapping[str, str]  # old qualified name -> new qualified name or expression (expanded)
    module_twins: Mapping[str, str]  # old module -> new module, for `import m as a` / `from m import`


@dataclass(frozen=True)
class RenameAttribute:
    """`<anything>.old` -> `<anything>.new`; with `call`, only where it is called (`.cuda(...)`)."""

    old: str
    new: str
    call: bool
    # `.cuda()` -> `.to(<device>)`: an argument to insert first when the call passes no
    # positional argument and no `keyword`; a call that passes one is reported instead
    insert_first: str | None = None
    keyword: str | None = None


@dataclass(frozen=True)
class StringContexts:
    """Where a string literal means a device / backend / environment variable, not prose."""

    positional: Mapping[str, int] = field(default_factory=dict)  # callee -> argument index
    keywords: frozenset[str] = frozenset()  # any call's keyword argument with this name
    compare: bool = False  # operand of ==, !=, in, not in
    conditional: frozenset[str] = frozenset()  # `"cuda" if ok else "cpu"`: the other branch's values
    names: re.Pattern[str] | None = None  # assigned to / parameter default / argparse option named so
    subscripts: frozenset[str] = frozenset()  # `os.environ["X"]`
    dict_keywords: frozenset[str] = frozenset()  # keys of a dict literal passed as `env={...}`
    launch_files: bool = False  # the values are also variable names in shell/.env/Dockerfile/YAML/JSON


@dataclass(frozen=True)
class ReplaceString:
    values: Mapping[str, str]  # whole literal value -> new value
    prefixes: Mapping[str, str]  # "cuda:" -> "npu:" for "cuda:0", f"cuda:{i}", "cuda:{}".format(i)
    contexts: StringContexts
    report_pattern: re.Pattern[str] | None  # values in context that have no twin: a manual item
    report_message: str
    report_only: bool = False  # kind report-string: every match is a manual item, nothing changes
    # the replacements are Python expressions, not string values; a prefix's replacement is an
    # expression for the text before its colon ("cuda:0" -> f"{<expression>}:0")
    expressions: bool = False


@dataclass(frozen=True)
class Report:
    """Report-only: uses of these qualified names (and imports of these modules) are manual items."""

    names: frozenset[str]  # exact qualified names
    prefixes: tuple[str, ...]  # "flash_attn" matches flash_attn and flash_attn.anything
    message: str
    guidance: Mapping[str, str]  # qualified name -> a more specific message
    keywords: Mapping[str, str]  # call keyword `use_cuda` -> message, on calls to `names`
    fallback: bool  # only where no other rule handled the name
    attributes: frozenset[str] = frozenset()  # `x.is_cuda` on any value: a manual item


@dataclass(frozen=True)
class EditArguments:
    """Argument fixes on calls to `calls`: positional -> keyword, or a missing first argument."""

    calls: frozenset[str]
    positional_to_keyword: Mapping[int, str]
    insert_first: str | None  # source of an argument to insert when the call has none for `keyword`
    keyword: str | None
    message: str
    # `synchronize(device=d)` -> `synchronize(d)` for positional-only targets: keyword -> index
    keyword_to_positional: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EnsureImport:
    """`import module` once, after the file's first torch import, in files that now use it."""

    module: str


@dataclass(frozen=True)
class ReportCommand:
    """Report-only, in shell scripts and Dockerfile RUN lines: commands with an Ascend equivalent."""

    commands: Mapping[str, str]  # command name -> guidance


@dataclass(frozen=True)
class Dependency:
    """Dependency declarations (requirements*.txt, pyproject, setup.py/cfg, environment.yml)."""

    packages: Mapping[str, str]  # distribution name (normalised) -> guidance
    replacements: Mapping[str, str]  # distribution -> its Ascend replacement, for --fix-deps
    torch_pin: bool  # report CUDA builds of torch (+cuXXX, CUDA index URLs) and the matching torch-npu


@dataclass(frozen=True)
class CudaSource:
    """Custom CUDA operators: .cu/.cuh sources, op registrations, CUDAExtension builds, call sites."""

    message: str


KindSpec = (RenameApi | RenameAttribute | ReplaceString | Report | EditArguments | EnsureImport
            | ReportCommand | Dependency | CudaSource)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    summary: str
    why: str
    safety: Safety
    source: str
    targets: frozenset[str]
    examples: tuple[Example, ...]
    spec: KindSpec
    needs_import: bool  # a change by this rule makes the file need `import torch_npu`
    origin: str  # the rule file, for error messages

    @property
    def group(self) -> str:
        """The rule file's name without .toml: `--select amp` picks every rule in amp.toml."""
        return Path(self.origin).stem


# --- parsing ---------------------------------------------------------------------------------

_COMMON_KEYS = {
    "id", "kind", "summary", "why", "safety", "source", "targets", "examples", "needs_import",
}
_KIND_KEYS: dict[str, set[str]] = {
    "rename-api": {"module", "to_module", "names", "renames"},
    "rename-attribute": {"old", "new", "call", "insert_first", "keyword"},
    "replace-string": {"values", "prefixes", "contexts", "report_pattern", "report_message", "expressions"},
    "report": {"names", "prefixes", "message", "guidance", "keywords", "fallback", "attributes"},
    "edit-arguments": {"calls", "positional_to_keyword", "keyword_to_positional", "insert_first", "keyword",
                       "message"},
    "ensure-import": {"module"},
    "report-command": {"commands"},
    "report-string": {"values", "prefixes", "pattern", "contexts", "message"},
    "dependency": {"packages", "replacements", "torch_pin"},
    "cuda-source": {"message"},
}
_CONTEXT_KEYS = {
    "positional", "keywords", "compare", "conditional", "names", "subscripts", "dict_keywords", "launch_files",
}


class _Fields:
    """Typed access to one TOML table, raising RuleError that names file, rule and key."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        self.table = table
        self.where = where

    def fail(self, problem: str) -> RuleError:
        return RuleError(f"{self.where}: {problem}")

    def check_keys(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.table) - allowed)
        if unknown:
            raise self.fail(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(f"missing key '{key}'")
            return default
        value = self.table[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(f"'{key}' must be {_type_name(kind)}, not {type(value).__name__}")
        return value

    def strings(self, key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(item, str) for item in value):
            raise self.fail(f"'{key}' must be a list of strings")
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.get(key, dict, {})
        if not all(isinstance(v, str) for v in value.values()):
            raise self.fail(f"'{key}' must map strings to strings")
        return dict(value)

    def qualified_names(self, key: str, values: Iterable[str]) -> None:
        for name in values:
            if not QUALIFIED_NAME.match(name):
                raise self.fail(f"'{key}': '{name}' is not a dotted Python name")

    def expressions(self, key: str, values: Iterable[str]) -> None:
        """Python expressions portkit writes into code: they must parse, and use one kind of
        quote and no backslash, so they can also go inside an f-string's braces."""
        for source in values:
            try:
                ast.parse(source, mode="eval")
            except SyntaxError:
                raise self.fail(f"'{key}': '{source}' is not a Python expression") from None
            if "\\" in source or ('"' in source and "'" in source):
                raise self.fail(f"'{key}': '{source}' must use one kind of quote and no backslash")

    def pattern(self, key: str) -> re.Pattern[str] | None:
        source = self.get(key, str, None)
        if source is None:
            return None
        try:
            return re.compile(source)
        except re.error as error:
            raise self.fail(f"'{key}' is not a valid regular expression: {error}") from None


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", list: "a list",
             dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def _parse_rename_api(f: _Fields) -> RenameApi:
    module = f.get("module", str, None)
    to_module = f.get("to_module", str, None)
    names = f.strings("names")
    explicit = f.string_map("renames")
    if (module is None) != (to_module is None):
        raise f.fail("'module' and 'to_module' go together")
    if names and module is None:
        raise f.fail("'names' needs 'module' and 'to_module'")
    f.qualified_names("module", [m for m in (module,) if m])
    f.qualified_names("renames", explicit)
    f.expressions("to_module", [m for m in (to_module,) if m])
    f.expressions("renames", explicit.values())
    renames: dict[str, str] = {f"{module}.{n}": f"{to_module}.{n}" for n in names}
    renames.update(explicit)
    if not renames:
        raise f.fail("a rename-api rule needs 'names' or 'renames'")
    twins = {module: to_module} if module and to_module else {}
    return RenameApi(renames=renames, module_twins=twins)


def _parse_rename_attribute(f: _Fields) -> RenameAttribute:
    old, new = f.get("old", str), f.get("new", str)
    for value in (old, new):
        if not value.isidentifier():
            raise f.fail(f"'{value}' is not an attribute name")
    call = f.get("call", bool, False)
    insert_first, keyword = f.get("insert_first", str, None), f.get("keyword", str, None)
    if insert_first is not None:
        if not call or keyword is None:
            raise f.fail("'insert_first' needs 'call = true' and 'keyword' (the argument's name)")
        f.expressions("insert_first", [insert_first])
    return RenameAttribute(old=old, new=new, call=call, insert_first=insert_first, keyword=keyword)


def _parse_contexts(f: _Fields) -> StringContexts:
    table = f.get("contexts", dict)
    c = _Fields(table, f"{f.where}: contexts")
    c.check_keys(_CONTEXT_KEYS)
    positional = c.get("positional", dict, {})
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in positional.values()):
        raise c.fail("'positional' must map callees to argument indexes (0-based integers)")
    c.qualified_names("positional", [k.lstrip(".") for k in positional])
    subscripts = c.strings("subscripts")
    c.qualified_names("subscripts", subscripts)
    return StringContexts(
        positional=dict(positional),
        keywords=frozenset(c.strings("keywords")),
        compare=c.get("compare", bool, False),
        conditional=frozenset(c.strings("conditional")),
        names=c.pattern("names"),
        subscripts=frozenset(subscripts),
        dict_keywords=frozenset(c.strings("dict_keywords")),
        launch_files=c.get("launch_files", bool, False),
    )


def _parse_replace_string(f: _Fields) -> ReplaceString:
    values, prefixes = f.string_map("values"), f.string_map("prefixes")
    if not values and not prefixes:
        raise f.fail("a replace-string rule needs 'values' or 'prefixes'")
    pattern = f.pattern("report_pattern")
    message = f.get("report_message", str, "")
    if pattern is not None and not message:
        raise f.fail("'report_pattern' needs a 'report_message'")
    expressions = f.get("expressions", bool, False)
    if expressions:
        f.expressions("values", values.values())
        f.expressions("prefixes", prefixes.values())
        if bad := [p for p in prefixes if not p.endswith(":")]:
            raise f.fail(f"'prefixes': '{bad[0]}' must end with ':' when the replacements are expressions")
    return ReplaceString(values=values, prefixes=prefixes, contexts=_parse_contexts(f),
                         report_pattern=pattern, report_message=message, expressions=expressions)


def _parse_report_string(f: _Fields) -> ReplaceString:
    """Report-only strings in the same contexts: `values` are the strings to report."""
    values, prefixes = f.strings("values"), f.strings("prefixes")
    pattern = f.pattern("pattern")
    if not values and not prefixes and pattern is None:
        raise f.fail("a report-string rule needs 'values', 'prefixes' or 'pattern'")
    message = f.get("message", str)
    return ReplaceString(values={v: v for v in values}, prefixes={p: p for p in prefixes},
                         contexts=_parse_contexts(f), report_pattern=pattern, report_message=message,
                         report_only=True)


def _parse_report(f: _Fields) -> Report:
    names, prefixes = f.strings("names"), f.strings("prefixes")
    guidance, keywords = f.string_map("guidance"), f.string_map("keywords")
    attributes = f.strings("attributes")
    f.qualified_names("names", names)
    f.qualified_names("prefixes", prefixes)
    f.qualified_names("guidance", guidance)
    if bad := [a for a in attributes if not a.isidentifier()]:
        raise f.fail(f"'attributes': '{bad[0]}' is not an attribute name")
    if not names and not prefixes and not guidance and not attributes:
        raise f.fail("a report rule needs 'names', 'prefixes', 'guidance' or 'attributes'")
    return Report(names=frozenset(names) | frozenset(guidance), prefixes=prefixes,
                  message=f.get("message", str), guidance=guidance, keywords=keywords,
                  fallback=f.get("fallback", bool, False), attributes=frozenset(attributes))


def _parse_edit_arguments(f: _Fields) -> EditArguments:
    calls = f.strings("calls")
    f.qualified_names("calls", calls)
    raw = f.string_map("positional_to_keyword")
    try:
        positional = {int(index): keyword for index, keyword in raw.items()}
    except ValueError:
        raise f.fail("'positional_to_keyword' keys must be argument indexes like \"4\"") from None
    to_positional = f.get("keyword_to_positional", dict, {})
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in to_positional.values()):
        raise f.fail("'keyword_to_positional' must map keywords to argument indexes (0-based integers)")
    insert_first, keyword = f.get("insert_first", str, None), f.get("keyword", str, None)
    if insert_first is not None and keyword is None:
        raise f.fail("'insert_first' needs 'keyword' (the argument's name, to see it is missing)")
    f.expressions("insert_first", [insert_first] if insert_first is not None else [])
    if not calls or not (positional or insert_first or to_positional):
        raise f.fail("an edit-arguments rule needs 'calls' and an edit")
    return EditArguments(calls=frozenset(calls), positional_to_keyword=positional,
                         insert_first=insert_first, keyword=keyword, message=f.get("message", str),
                         keyword_to_positional=dict(to_positional))


def _parse_ensure_import(f: _Fields) -> EnsureImport:
    module = f.get("module", str)
    f.qualified_names("module", [module])
    return EnsureImport(module=module)


def _parse_report_command(f: _Fields) -> ReportCommand:
    commands = f.string_map("commands")
    if not commands:
        raise f.fail("a report-command rule needs 'commands'")
    return ReportCommand(commands=commands)


def _normalise_distribution(name: str) -> str:
    """PEP 503: flash_attn, Flash-Attn and flash.attn are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_dependency(f: _Fields) -> Dependency:
    packages, replacements = f.string_map("packages"), f.string_map("replacements")
    torch_pin = f.get("torch_pin", bool, False)
    if not packages and not torch_pin:
        raise f.fail("a dependency rule needs 'packages' or 'torch_pin'")
    return Dependency(packages={_normalise_distribution(k): v for k, v in packages.items()},
                      replacements={_normalise_distribution(k): v for k, v in replacements.items()},
                      torch_pin=torch_pin)


def _parse_cuda_source(f: _Fields) -> CudaSource:
    return CudaSource(message=f.get("message", str))


_PARSERS = {
    "report-string": _parse_report_string,
    "report-command": _parse_report_command,
    "dependency": _parse_dependency,
    "cuda-source": _parse_cuda_source,
    "rename-api": _parse_rename_api,
    "rename-attribute": _parse_rename_attribute,
    "replace-string": _parse_replace_string,
    "report": _parse_report,
    "edit-arguments": _parse_edit_arguments,
    "ensure-import": _parse_ensure_import,
}


def _parse_examples(f: _Fields) -> tuple[Example, ...]:
    examples = []
    for number, table in enumerate(f.get("examples", list, []), start=1):
        if not isinstance(table, dict):
            raise f.fail(f"example {number} must be a table with 'before'")
        e = _Fields(table, f"{f.where}: example {number}")
        e.check_keys({"before", "after", "findings", "with_rules", "path"})
        examples.append(Example(before=e.get("before", str), after=e.get("after", str, None),
                                findings=e.get("findings", int, 0), with_rules=e.strings("with_rules"),
                                path=e.get("path", str, "example.py")))
    return tuple(examples)


def parse_rule(table: Mapping[str, Any], origin: str) -> Rule:
    rule_id = table.get("id")
    where = f"{origin}: rule '{rule_id}'" if isinstance(rule_id, str) else f"{origin}: a rule"
    f = _Fields(table, where)
    rule_id = f.get("id", str)
    if not RULE_ID.match(rule_id):
        raise f.fail("'id' must be lowercase words joined by '-' (like 'cuda-api')")
    kind = f.get("kind", str)
    if kind not in _PARSERS:
        raise f.fail(f"unknown kind '{kind}' (known: {', '.join(sorted(_PARSERS))})")
    f.check_keys(_COMMON_KEYS | _KIND_KEYS[kind])
    safety_name = f.get("safety", str)
    try:
        safety = Safety(safety_name)
    except ValueError:
        raise f.fail(f"'safety' must be one of safe, review, manual, not '{safety_name}'") from None
    targets = frozenset(f.strings("targets", ["npu"]))
    if unknown := sorted(targets - TARGETS):
        raise f.fail(f"unknown target '{unknown[0]}' (known: {', '.join(sorted(TARGETS))})")
    spec = _PARSERS[kind](f)
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


# --- rule sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSet:
    """The active rules, in a stable order (file name, then position in the file)."""

    rules: tuple[Rule, ...]
    # every rule that was loaded, active or not: "no rule converts this" is judged against
    # all of them, so --select manual does not report names cuda-api would convert
    universe: tuple[Rule, ...] = ()
    # the torch_npu release to port to (None: the newest one portkit knows); renames whose
    # target that release lacks become manual items
    npu_version: str | None = None

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for rule in self.rules:
            if rule.id in seen:
                raise RuleError(f"{rule.origin}: rule '{rule.id}' is already defined in {seen[rule.id]}")
            seen[rule.id] = rule.origin

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def select(self, ids: Iterable[str]) -> RuleSet:
        wanted = set(ids)
        if unknown := sorted(wanted - set(self.ids)):
            raise RuleError(f"unknown rule id '{unknown[0]}' (see `portkit rules`)")
        return RuleSet(tuple(rule for rule in self.rules if rule.id in wanted), self.universe or self.rules,
                       self.npu_version)

    def expand(self, selectors: Iterable[str], extra_ids: Iterable[str] = ()) -> set[str]:
        """Rule ids named by selectors: an id, a group (the rule file's name, like `amp` or
        `third-party`), `fixable` / `manual`, or `ALL`. Unknown selectors are an error."""
        extra = set(extra_ids)
        chosen: set[str] = set()
        for selector in selectors:
            matched = {
                rule.id for rule in self.rules
                if selector in (rule.id, rule.group, "ALL")
                or (selector == "fixable" and rule.kind not in REPORT_KINDS)
                or (selector == "manual" and rule.kind in REPORT_KINDS)
            }
            if selector in extra:
                matched.add(selector)
            if not matched:
                raise RuleError(f"unknown rule id or group '{selector}' (see `portkit rules`)")
            chosen |= matched
        return chosen

    def choose(self, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> RuleSet:
        """The rules left after --select (default: all) and --ignore.

        An import rule (`import torch_npu`) comes along with any selected rule whose changes
        need it, unless it is ignored by name: `--select cuda-api` must not write torch.npu
        code without the import."""
        select, ignore = list(select), list(ignore)
        ignored = self.expand(ignore)
        keep = self.expand(select) if select else set(self.ids)
        if any(r.needs_import for r in self.rules if r.id in keep):
            keep |= {r.id for r in self.rules if r.kind == "ensure-import"}
        keep -= ignored
        return RuleSet(tuple(rule for rule in self.rules if rule.id in keep), self.universe or self.rules,
                       self.npu_version)

    def universe_set(self) -> RuleSet:
        """Every loaded rule, selected or not (for naming rules in config and comments)."""
        return RuleSet(self.universe or self.rules)

    def for_target(self, target: str) -> RuleSet:
        return RuleSet(tuple(rule for rule in self.rules if target in rule.targets), self.universe, self.npu_version)


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
