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
