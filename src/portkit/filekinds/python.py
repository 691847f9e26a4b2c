"""The Python file kind: the rewriter of portkit.python, and for setup.py the dependency findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portkit.model import Migration
from portkit.python.engine import migrate_source

if TYPE_CHECKING:
    from portkit.python.compiled import CompiledRules


def migrate_python(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The Python file kind (filekinds.py). A setup.py also declares dependencies."""
    migration = migrate_source(text, rules, render=render)
    if name == "setup.py":
        from portkit.filekinds.dependencies import setup_py_findings

        extra = setup_py_findings(text, rules)
        if extra:
            found = sorted((*migration.findings, *extra), key=lambda f: (f.span.line, f.span.column, f.rule_id))
            migration = Migration(migration.new_text, migration.changes, tuple(found))
    return migration
