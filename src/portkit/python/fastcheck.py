"""`check`'s fast path: the manual items of a file no rule can change, from the stdlib `ast`.

On a ported tree almost every file that triage lets through has nothing left to fix: what
remains are report rules (apex, triton, cupy, `torch.cuda.nvtx`, capability probes...). The
reference path still parses those files with libcst (ten stdlib parses) to run the whole
rewriter over them. `report_only_findings` computes the same findings from the stdlib tree the
triage already built, by doing what `kinds/report.py` does over libcst, in the same order, on
the same statements (quiet ones are skipped as `transform.Migrator` skips them), at the same
positions (libcst and `ast` agree on expression positions; `ast` counts UTF-8 bytes).

It answers only for files where it can be sure that nothing but `ReportKind` and rename-api's
own manual items could record an event, and returns None otherwise, so the caller takes the
reference path:

- no import a rule rewrites, no attribute or call a rename-attribute or argument rule edits
  (`FixableNames.may_change` without the uses of names, which the walk judges one by one), no string value any
  string rule looks for where that rule could act on it (faststrings.py: a docstring, a log message is text),
  no alias of a module with a twin;
- no use the rewriter would change: a use of a name rename-api converts is answered only where
  a call contract keeps it as it is (`left unchanged: ...`, fastuses.hold_reason), or where the
  chosen torch_npu lacks the target (`needs a newer torch_npu`); any other declines;
- nothing the two parsers see differently: no form feed (libcst sees a plain-indented copy),
  no `match`, no bare `except:` before other handlers (libcst refuses it), no nesting beyond
  the engine's limit; the names of `global`, `nonlocal` and `except ... as` (strings to `ast`,
  names to libcst) are uses found on their line, or the file declines.

`tests/test_check_fastpath.py` holds it to the reference path on every example, fixture and
rule example; `engine.migrate_source` is the one caller.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field

from portkit.model import Finding, Safety, Span
from portkit.python.compiled import CompiledRules, Rename
from portkit.python.faststrings import strings_are_text
from portkit.python.fastuses import (
    AstResultUses, dotted, handler_name, hold_reason, import_map, is_compound, label_names, logical_lines, name_at,
    names_edited_call, prefix_node, rewrites_import,
)
from portkit.python.lines import BACKEND_CLASS, TORCH_ATTRIBUTE, deepest, first_line, source_lines, trigger_lines
from portkit.ruleset import Rule

# the units of transform._UNITS, and why a file that passes `_may_take` leaves each of them
# nothing to do but what this module does (tests/test_check_fastpath.py fails on a unit missing
# here: a new unit must be judged before the fast path may skip it)
KNOWN_UNITS = {
    "_Names": "emulated: `_Walk._expr` finds the same uses",
    "BackendScopeKind": "only with BackendScope rules, which `_may_take` refuses",
    "RenameApiKind": "emulated for the uses it keeps (contracts) or lacks a target for; any change declines",
    "ReportKind": "emulated by `_Walk`",
    "RenameAttributeKind": "its attributes are FixableNames.attributes / call_attributes",
    "EditArgumentsKind": "its calls are FixableNames.qualified, its methods refused, device indices refused",
    "ReplaceStringKind": "acts on string triggers where its contexts place them, which `_may_take` refuses",
    "GuardKind": "guards calls rename-api renames",
    "EnsureImportKind": "inserts only after a change",
    "PatchTargetKind": "patch targets are string triggers in calls a rule lists (faststrings.py); "
                       "`patch.object(torch.cuda, ...)` is a twin",
    "MultiBackendKind": "refused where the text names a backend class (lines.BACKEND_CLASS)",
}
# the rule kinds the units above judge; another kind of Python rule takes the reference path
_KNOWN_SPECS = frozenset({"RenameApi", "Report", "EditArguments", "RenameAttribute", "ReplaceString",
                          "EnsureImport", "ReportCommand", "Dependency", "CudaSource", "Analysis"})


class _Decline(Exception):
    """Something only the reference path gets right: take it."""


def report_only_findings(text: str, tree: ast.Module, rules: CompiledRules) -> tuple[Finding, ...] | None:
    """The findings `engine.migrate_source(text, rules, render=False)` gives, when the file can
    only produce report items; None when the reference path must decide."""
    if not _may_take(text, tree, rules):
        return None
    bindings, star = import_map(tree)
    if star and "torch" not in bindings and TORCH_ATTRIBUTE.search(text) is not None:
        bindings["torch"] = "torch"
    if any(q in rules.module_twins and name != q.split(".")[0] for name, q in bindings.items()):
        return None  # an alias that may follow its module to the twin (aliases.py)
    aliases = [name for name, qualified in bindings.items() if rules.may_need_work(qualified)]
    lines = source_lines(text)
    walk = _Walk(rules, bindings, trigger_lines(text, rules.triggers.regex(aliases)), lines)
    try:
        walk.block(tree.body)
    except _Decline:
        return None
    findings = [Finding(rule.id, message, Safety.MANUAL, span, lines[span.line - 1] if 0 < span.line <= len(lines)
                        else "") for rule, span, message in walk.events]
    return tuple(sorted(findings, key=lambda f: (f.span.line, f.span.column, f.rule_id)))


def _may_take(text: str, tree: ast.Module, rules: CompiledRules) -> bool:
    """The file-wide conditions: no rule but a report can fire, both parsers see the same.
    One walk of the tree: FixableNames.may_change's imports, attributes and calls (less the
    uses of names, which the walk judges), the strings (where a rule could act on them) and
    methods of the other rules."""
    if "\f" in text or rules.device_indices or BACKEND_CLASS.search(text) is not None:
        return False
    if any(type(rule.spec).__name__ not in _KNOWN_SPECS for rule in rules.ruleset.rules):
        return False
    fixable = rules.fixable_names
    methods = {name[1:] for name in rules.arg_edits if name.startswith(".")} | fixable.call_attributes
    strings, attributes = rules.triggers, fixable.attributes
    embedded = _embedded_patch_modules(rules)
    names: list[ast.AST] = []
    imports: list[ast.AST] = []
    constants: list[ast.Constant] = []
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            names.append(node)
        elif kind is ast.Attribute:
            if node.attr in attributes:  # type: ignore[attr-defined]
                return False
            names.append(node)
        elif kind is ast.Constant and type(node.value) is str:  # type: ignore[attr-defined]
            if any(module in node.value for module in embedded):  # type: ignore[attr-defined]
                return False  # `patch("pkg.mod.torch.cuda.X")`: mockpatch.py follows the rename inside
            if strings._string_hit(node.value):  # type: ignore[attr-defined]
                constants.append(node)  # type: ignore[arg-type]
        elif kind is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            if isinstance(func, ast.Attribute) and func.attr in methods:
                return False
        elif kind is ast.Import or kind is ast.ImportFrom:
            imports.append(node)
            if rewrites_import(node, fixable):  # type: ignore[arg-type]
                return False
        elif kind is ast.Match:
            return False
        elif kind is ast.Try or kind is ast.TryStar:
            handlers = node.handlers  # type: ignore[attr-defined]
            if any(h.type is None for h in handlers[:-1]):
                return False
    call_edits = _call_edits(rules)
    if call_edits and names_edited_call(names, imports, call_edits):
        return False
    if constants and not strings_are_text(tree, constants, (spec for _, spec in rules.strings), imports):
        return False
    return deepest(tree, text) is None


def _embedded_patch_modules(rules: CompiledRules) -> tuple[str, ...]:
    """`.torch.cuda.` for the patch-target rules: a patch target may reach the module through
    another one, `"pkg.mod.torch.cuda.X"`."""
    return tuple(f".{prefix}" for _, spec in rules.patch_strings for prefix in spec.prefixes)


def _call_edits(rules: CompiledRules) -> frozenset[str]:
    """The qualified callees an argument rule edits (`.method` ones are looked for by name)."""
    return frozenset(name for name in rules.arg_edits if not name.startswith("."))


# --- the walk: transform.Migrator with the rename and report units, over the stdlib tree ----------


@dataclass
class _Walk:
    rules: CompiledRules
    bindings: dict[str, str]
    counts: Sequence[int]  # prefix counts of trigger lines (statements.trigger_lines)
    lines: Sequence[str]
    events: list[tuple[Rule, Span, str]] = field(default_factory=list)
    results: AstResultUses = field(default_factory=AstResultUses)  # rename-api's ResultUses
    calls: dict[int, ast.Call] = field(default_factory=dict)  # id of a call's function -> the call

    # -- statements --

    def _has_trigger(self, first: int, last: int) -> bool:
        return self.counts[min(last, len(self.counts) - 1)] > self.counts[first - 1]

    def block(self, body: Sequence[ast.stmt]) -> None:
        """An indented block (or the module): each logical line of small statements and each
        compound statement is skipped when none of its lines holds a trigger
        (statements.quiet_statements); a line's imports are reported all the same."""
        for group in logical_lines(body, self.lines):
            statement = group[0]
            if is_compound(statement):
                if self._has_trigger(first_line(statement), statement.end_lineno or statement.lineno):
                    self._compound(statement)
                continue
            last = max(s.end_lineno or s.lineno for s in group)
            if self._has_trigger(statement.lineno, last):
                for small in group:
                    self._small(small)
            for small in group:
                if isinstance(small, (ast.Import, ast.ImportFrom)):
                    self._flag_import(small)

    def _small(self, statement: ast.stmt) -> None:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):  # NameRoles: not visited
            return
        if isinstance(statement, (ast.Global, ast.Nonlocal)):
            self._label_uses(statement)
            return
        self.results.note(statement)  # an Assign: is a call's result unpacked?
        for child in ast.iter_child_nodes(statement):
            self._expr(child)

    def _label_uses(self, statement: ast.Global | ast.Nonlocal) -> None:
        """`global torch`: a use of each imported name to libcst (its Name nodes), strings to ast."""
        if not any(name in self.bindings for name in statement.names):
            return
        line = self.lines[statement.lineno - 1]
        found = label_names(statement, line) if statement.end_lineno == statement.lineno else None
        if found is None:
            raise _Decline
        for name, column in found:
            if name in self.bindings:
                self._use(self.bindings[name], name_at(name, statement.lineno, line, column), None)

    def _suite(self, body: Sequence[ast.stmt]) -> None:
        """`if x: a; b` on one line: a libcst SimpleStatementSuite, never quiet, and its imports
        are not reported (leave_SimpleStatementLine does not see them)."""
        for statement in body:
            self._small(statement)

    def _compound(self, statement: ast.stmt) -> None:
        for name, value in ast.iter_fields(statement):
            if name in ("body", "orelse", "finalbody"):
                if value:
                    self._any_block(value)
            elif name == "handlers":
                for handler in value:
                    if handler.type is not None:
                        self._expr(handler.type)
                    if handler.name in self.bindings:  # `except E as torch:` names a use to libcst
                        self._handler_use(handler)
                    self._any_block(handler.body)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self._expr(item)
            elif isinstance(value, ast.AST):
                self._expr(value)

    def _handler_use(self, handler: ast.ExceptHandler) -> None:
        line_number = handler.type.end_lineno or handler.lineno  # type: ignore[union-attr]
        line = self.lines[line_number - 1]
        column = handler_name(handler, line)
        if column is None:
            raise _Decline
        name = handler.name or ""
        self._use(self.bindings[name], name_at(name, line_number, line, column), None)

    def _any_block(self, body: Sequence[ast.stmt]) -> None:
        first = body[0]
        line = self.lines[first.lineno - 1] if first.lineno <= len(self.lines) else ""
        if line.encode("utf-8")[: first.col_offset].strip():
            self._suite(body)
        else:
            self.block(body)

    # -- expressions: uses on the way down, attributes and calls on the way up --

    def _expr(self, node: ast.AST) -> None:
        kind = type(node)
        self.results.note(node)  # before the children, as ResultUses.note
        if kind is ast.Call:
            self.calls[id(node.func)] = node  # type: ignore[attr-defined]
        if kind is ast.Attribute:
            parts = dotted(node)  # type: ignore[arg-type]
            if parts is None:
                self._expr(node.value)  # type: ignore[attr-defined]
            elif parts[0] in self.bindings:
                self._use(".".join([self.bindings[parts[0]], *parts[1:]]), node, parts)
            self._leave_attribute(node)  # type: ignore[arg-type]
            return
        if kind is ast.Name:
            qualified = self.bindings.get(node.id)  # type: ignore[attr-defined]
            if qualified is not None:
                self._use(qualified, node, None)
            return
        for child in ast.iter_child_nodes(node):
            self._expr(child)
        if kind is ast.Call:
            self._leave_call(node)  # type: ignore[arg-type]

    def _use(self, qualified: str, node: ast.AST, parts: list[str] | None) -> None:
        """rename-api's judgement first (RenameApiKind.use: whether the name counts as renamed,
        and its own manual items; anything it would change sends the file to the reference
        path), then the report, which skips a use rename-api has just reported (report._held)."""
        renamed, reported = self._rename_api(qualified, node, parts)
        if reported:
            return
        rules = self.rules
        seen: set[str] = set()
        for matched, flag in rules.flags_for(qualified):
            spec = flag.spec
            if flag.rule.id in seen or (spec.fallback and (renamed or len(seen) > 0)):
                continue
            guidance = spec.guidance.get(matched)
            if not (matched in spec.names or guidance is not None or spec.fallback):
                continue
            head = parts[0] if parts is not None else node.id  # type: ignore[attr-defined]
            if matched in spec.prefixes and self.bindings.get(head) == matched:
                continue  # reported at the import that binds it (report._bound_by_reported_import)
            seen.add(flag.rule.id)
            self._flag(flag.rule, node, guidance or spec.message.format(name=matched))

    def _rename_api(self, qualified: str, node: ast.AST, parts: list[str] | None) -> tuple[bool, bool]:
        """(does the name count as renamed, did rename-api report this very node)."""
        rules = self.rules
        if parts is None:  # a bare name: a rename of it is its import's (declined in _may_take)
            if qualified in rules.renames:
                raise _Decline
            missing = rules.unavailable.get(qualified)
            if missing is not None:
                self._flag(missing.rule, node, self._unavailable(qualified, missing))
                return True, True
            return qualified in rules.known_renames, False
        head_parts = len(self.bindings[parts[0]].split("."))
        names = qualified.split(".")
        renamed = False
        for k in range(len(parts), 0, -1):  # RenameApiKind._rewrite_chain
            prefix = ".".join(names[: head_parts + k - 1])
            renamed = renamed or prefix in rules.known_renames or (k == len(parts) and prefix in rules.known_twins)
            missing = rules.unavailable.get(prefix)
            if missing is not None:
                self._flag(missing.rule, prefix_node(node, len(parts) - k), self._unavailable(prefix, missing))
                return True, k == len(parts)
            rename = rules.renames.get(prefix)
            if rename is None and k == len(parts) and k > 1:
                rename = rules.module_twins.get(prefix)
            if rename is None:
                continue
            if k == len(parts) and prefix in rules.contracts and self._held(prefix, rename, node):
                return True, True
            raise _Decline  # a change
        return renamed, False

    def _held(self, old: str, rename: Rename, node: ast.AST) -> bool:
        """RenameApiKind._held: a use its contracts keep as it is is reported; else it changes."""
        call = self.calls.get(id(node))
        for contract in self.rules.contracts[old]:
            reason = hold_reason(contract, call, self.results, rename.new)
            if reason is not None:
                because = f"{reason}; " if reason else ""
                self._flag(rename.rule, node, f"{old} left unchanged: {because}{contract.message}")
                return True
        return False

    def _unavailable(self, old: str, missing: Rename) -> str:
        version = self.rules.npu_api.version
        return (f"{old} → {missing.new} needs a newer torch_npu: {version} does not have {missing.new}; "
                f"upgrade torch_npu or port this call by hand")

    def _receiver_is_value(self, receiver: ast.expr) -> bool:
        parts = dotted(receiver)
        return parts is None or parts[0] not in self.bindings

    def _callee(self, call: ast.Call) -> str | None:
        parts = dotted(call.func)
        if parts is None or parts[0] not in self.bindings:
            return None
        return ".".join([self.bindings[parts[0]], *parts[1:]])

    def _leave_attribute(self, node: ast.Attribute) -> None:
        flags = self.rules.attribute_flags.get(node.attr)
        if flags and self._receiver_is_value(node.value):
            for flag in flags:
                self._flag(flag.rule, node, flag.spec.message.format(name="." + node.attr))
        value = node.value
        if isinstance(value, ast.Call) and not value.args and not value.keywords:
            callee = self._callee(value)
            if callee is not None:
                name = f"{callee}().{node.attr}"
                seen: set[str] = set()
                for flag in self.rules.exact_flags.get(name, ()):
                    if flag.rule.id not in seen:
                        seen.add(flag.rule.id)
                        self._flag(flag.rule, node, flag.spec.guidance.get(name) or flag.spec.message.format(name=name))

    def _leave_call(self, node: ast.Call) -> None:
        callee = self._callee(node)
        if callee is None:
            return
        for _, flag in self.rules.flags_for(callee):
            for keyword in node.keywords:
                if keyword.arg is not None and keyword.arg in flag.spec.keywords:
                    self._flag(flag.rule, keyword, flag.spec.keywords[keyword.arg])

    def _flag_import(self, statement: ast.Import | ast.ImportFrom) -> None:
        """report.ReportKind._flag_import: imports of modules under a reported prefix."""
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                self._flag_module(statement, alias.name, [alias.name])
        elif not statement.level and statement.module:
            module = statement.module
            star = any(a.name == "*" for a in statement.names)
            self._flag_module(statement, module, [module, *([] if star else (f"{module}.{a.name}"
                                                                               for a in statement.names))])

    def _flag_module(self, statement: ast.stmt, module: str, names: list[str]) -> None:
        for rule, message in self.rules.import_flags(module, names):
            self.events.append((rule, self._statement_span(statement), message))

    # -- positions, as statements.Locator gives them --

    def _flag(self, rule: Rule, node: ast.AST, message: str) -> None:
        self.events.append((rule, self._span(node), message))

    def _column(self, line: int, offset: int) -> int:
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        return offset if text.isascii() else len(text.encode("utf-8")[:offset].decode("utf-8", errors="replace"))

    def _span(self, node: ast.AST) -> Span:
        """An expression's span: libcst's position of the same node (characters)."""
        line, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        return Span(line, self._column(line, node.col_offset) + 1,  # type: ignore[attr-defined]
                    end, self._column(end, node.end_col_offset or 0) + 1)  # type: ignore[attr-defined]

    def _statement_span(self, node: ast.stmt) -> Span:
        """Locator._statement_span: the end column stays in bytes there, so it does here."""
        return Span(node.lineno, self._column(node.lineno, node.col_offset) + 1, node.end_lineno or node.lineno,
                    (node.end_col_offset or 0) + 1)
