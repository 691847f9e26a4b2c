"""Which review format a `--report` / `-o` target asks for, from its name alone."""

from __future__ import annotations

import os


def report_format(target: str) -> str | None:
    """`json`, `html`, `md` or `csv` (a folder: the target ends with a path separator or is an
    existing directory); None when the name says nothing portkit knows."""
    if target.endswith(("/", os.sep)) or os.path.isdir(target):
        return "csv"
    suffix = os.path.splitext(target)[1].lower()
    return {".json": "json", ".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}.get(suffix)
