"""Triage: decide cheaply whether a file can need any rule at all, before libcst sees it.

Stage one is a substring search over the raw text. Stage two walks the stdlib `ast` (about
ten times cheaper than a libcst parse) and drops files whose only mentions are in comments,
docstrings, prose strings or identifiers such as `use_cuda`. Both stages are conservative:
they may let through a file that needs nothing, never drop one that needs something (a test
checks this against the full engine on every rule example and example program).

Why identifiers are enough: every component of a dotted name appears in the source of any
reference to it (in the attribute chain, or in the import that bound its head), so a rule
about `torch.cuda.X` can only fire in a file where the identifier `cuda` occurs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_DISTINCTIVE = re.compile(r"(?i)cu|nccl|nv")


def distinctive_component(qualified: str) -> str:
    """The component of a dotted name to look for: one that says CUDA if any does."""
    parts = qualified.split(".")
    for part in parts:
        if _DISTINCTIVE.search(part):
            return part
    return max(parts[1:] or parts, key=len)


def pattern_words(pattern: re.Pattern[str]) -> list[str]:
    """Stage-one words of a report pattern such as `^(NCCL_|CUDA_)` (documented to be an
    alternation of literal prefixes, so every match contains one of them)."""
    return re.findall(r"[A-Za-z0-9_]{3,}", pattern.pattern) or [""]


@dataclass
class Triggers:
    identifiers: set[str] = field(default_factory=set)  # names, attributes, import components
    keywords: set[str] = field(default_factory=set)  # call keyword names (use_cuda=...)
    strings: set[str] = field(default_factory=set)  # whole string values
    prefixes: set[str] = field(default_factory=set)  # string prefixes ("cuda:")
    patterns: list[re.Pattern[str]] = field(default_factory=list)

    def add_names(self, qualified_names: Iterable[str]) -> None:
        self.identifiers.update(distinctive_component(q) for q in qualified_names)

    def words(self) -> list[str]:
        """Substrings for stage one."""
        words = self.identifiers | self.keywords | self.strings | self.prefixes
        for pattern in self.patterns:
            words.update(pattern_words(pattern))
        return sorted(words)

    def regex(self, extra_identifiers: Iterable[str] = ()) -> re.Pattern[str]:
        alternatives = [re.escape(w) for w in self.words()]
        alternatives += [rf"\b{re.escape(name)}\b" for name in sorted(set(extra_identifiers))]
        return re.compile("|".join(alternatives) or r"(?!x)x")

    def _string_hit(self, value: str) -> bool:
        return (value in self.strings or any(value.startswith(p) for p in self.prefixes)
                or any(p.search(value) for p in self.patterns))

    def in_tree(self, tree: ast.AST) -> bool:
        """Stage two: is any trigger used as code (not comment or prose) in this tree?"""
        identifiers, keywords = self.identifiers, self.keywords
        for node in ast.walk(tree):
            kind = type(node)
            if kind is ast.Name:
                if node.id in identifiers:  # type: ignore[attr-defined]
                    return True
            elif kind is ast.Attribute:
                if node.attr in identifiers:  # type: ignore[attr-defined]
                    return True
            elif kind is ast.Constant:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is str and self._string_hit(value):
                    return True
            elif kind is ast.alias:
                name = node.name  # type: ignore[attr-defined]
                if any(part in identifiers for part in name.split(".")):
                    return True
            elif kind is ast.ImportFrom:
                module = node.module or ""  # type: ignore[attr-defined]
                if any(part in identifiers for part in module.split(".")):
                    return True
            elif kind is ast.keyword:
                if node.arg in keywords:  # type: ignore[attr-defined]
                    return True
        return False


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _ast_bindings(tree: ast.AST) -> dict[str, str]:
    """local name -> qualified name, as imports.build_import_map does for libcst."""
    bindings: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bindings[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bindings[head] = head
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                if alias.name != "*":
                    bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bindings


@dataclass(frozen=True)
class FixableNames:
    """What the rules that change code look for, for deciding that a rewrite is finished."""

    qualified: frozenset[str]  # renames and argument edits: a use of any prefix-match needs work
    modules: frozenset[str]  # modules with a twin: their import, or the module used itself
    attributes: frozenset[str]  # .is_cuda
    call_attributes: frozenset[str]  # .cuda(...)
    strings: Triggers  # string values and prefixes of the rewriting string rules

    def may_change(self, tree: ast.AST) -> bool:
        """False only if no rule that changes code can find anything in this tree: used to
        skip the second run that proves a rewrite stable. Names are resolved through the
        file's imports as the rewriter resolves them, so `args.cuda` or an unconverted
        `torch.cuda.get_arch_list` does not count."""
        bindings = _ast_bindings(tree)
        for node in ast.walk(tree):
            kind = type(node)
            if kind is ast.Call:
                func = node.func  # type: ignore[attr-defined]
                if isinstance(func, ast.Attribute) and func.attr in self.call_attributes:
                    return True
            elif kind is ast.Attribute or kind is ast.Name:
                if kind is ast.Attribute and node.attr in self.attributes:  # type: ignore[attr-defined]
                    return True
                parts = _dotted(node)
                if parts is None or parts[0] not in bindings:
                    continue
                names = [*bindings[parts[0]].split("."), *parts[1:]]
                for end in range(len(names), 0, -1):
                    prefix = ".".join(names[:end])
                    if prefix in self.qualified or (end == len(names) and prefix in self.modules):
                        return True
            elif kind is ast.ImportFrom and not node.level and node.module:  # type: ignore[attr-defined]
                for alias in node.names:  # type: ignore[attr-defined]
                    full = f"{node.module}.{alias.name}"  # type: ignore[attr-defined]
                    if full in self.qualified or full in self.modules:
                        return True
            elif kind is ast.Import:
                if any(a.asname and a.name in self.modules for a in node.names):  # type: ignore[attr-defined]
                    return True
            elif kind is ast.Constant:
                value = node.value  # type: ignore[attr-defined]
                if type(value) is str and self.strings._string_hit(value):
                    return True
        return False
