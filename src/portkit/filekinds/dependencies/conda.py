"""Conda environment.yml: the conda packages under `dependencies:` and the requirements of its
`pip:` list (read as requirements-file lines)."""

from __future__ import annotations

import re

from portkit.filekinds.dependencies.common import Dep, Found, Text, split_version
from portkit.filekinds.dependencies.requirements import scan_requirement_line

_YAML_ITEM = re.compile(r"([ \t]*)-(?:[ \t]+|$)")
_CONDA_SPEC = re.compile(r"(?:[\w.\-]+::)?([A-Za-z0-9_.\-]+)\s*(.*)$")


def scan_environment(t: Text, found: Found) -> None:
    in_deps, item_indent, pip_indent = False, -1, -1
    for index in range(len(t.starts)):
        content = t.content(index)
        stripped = content.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _YAML_ITEM.match(content)
        indent = len(content) - len(content.lstrip(" \t"))
        if not in_deps:
            in_deps = indent == 0 and re.match(r"dependencies\s*:\s*(#.*)?$", content) is not None
            continue
        if item is None:
            if indent == 0:
                in_deps = False
            continue
        if item_indent < 0:
            item_indent = indent
        value_start = item.end()
        value_end = _yaml_value_end(content, value_start)
        quoted = content[value_start:value_start + 1] in ("'", '"') and value_end - value_start >= 2 \
            and content[value_end - 1] == content[value_start]
        inner_start, inner_end = (value_start + 1, value_end - 1) if quoted else (value_start, value_end)
        value = content[inner_start:inner_end]
        if indent <= item_indent:
            pip_indent = -1
            if re.fullmatch(r"pip\s*:\s*", value):
                pip_indent = 0
                continue
            _conda_dep(t, index, inner_start, value, found)
        elif pip_indent >= 0:
            base = t.starts[index] + inner_start
            scan_requirement_line(t, value, base, index, index, found, content[value_end - 1] if quoted else "")


def _yaml_value_end(content: str, start: int) -> int:
    if content[start:start + 1] in ("'", '"'):
        close = content.find(content[start], start + 1)
        if close != -1:
            return close + 1
    comment = re.search(r"\s#", content[start:])
    end = start + comment.start() if comment else len(content)
    return len(content[:end].rstrip())


def _conda_dep(t: Text, index: int, column: int, value: str, found: Found) -> None:
    match = _CONDA_SPEC.match(value)
    if not match:
        return
    name, rest = match.group(1).lower(), match.group(2)
    start = t.starts[index] + column
    dep = Dep(name, value.strip(), start, start + len(value.rstrip()), conda=True)
    version = re.match(r"={1,2}\s*([\w.!+]+)|\s*([0-9][\w.!+]*)", rest)
    if version:
        text = version.group(1) or version.group(2)
        dep.pinned = split_version(text)[0] if text[0].isdigit() else None
        build = rest[version.end():]
        dep.conda_cuda_build = re.search(r"(?i)cuda|_cu\d", build) is not None
    found.deps.append(dep)
