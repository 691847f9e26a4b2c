"""requirements*.txt (and the `pip:` items of a conda environment.yml): options, index URLs
and requirements, line by line, with pip's continuation lines and comments."""

from __future__ import annotations

import re

from portkit.filekinds.dependencies.common import (
    CUDA_URL, Found, Text, Url, line_style_dep, parse_location, parse_requirement, plain_dep,
)

_INDEX_OPTION = re.compile(r"(?:-i|--index-url|--extra-index-url|-f|--find-links)(?:\s*=\s*|\s+)(\S+)")
_EDITABLE = re.compile(r"(?:-e|--editable)(?:\s*=\s*|\s+)(\S+)")


def uncommented(line: str) -> str:
    """A requirements line without its comment (pip strips `#` at the start or after a space), in linear time."""
    index = line.find("#")
    while index > 0 and not line[index - 1].isspace():
        index = line.find("#", index + 1)
    return line if index == -1 else line[:index].rstrip()


def scan_requirements(t: Text, found: Found) -> None:
    index = 0
    count = len(t.starts)
    while index < count:
        first = index
        while t.content(index).endswith("\\") and index + 1 < count:
            index += 1
        last, index = index, index + 1
        if first == last:
            base, logical = t.starts[first], t.content(first)
        else:  # continuation lines: only reported, never edited
            base, logical = t.starts[first], " ".join(t.content(i)[:-1] if i < last else t.content(i)
                                                       for i in range(first, last + 1))
        scan_requirement_line(t, logical, base, first, last, found)


def scan_requirement_line(t: Text, logical: str, base: int, first: int, last: int, found: Found,
                          closing: str = "") -> None:
    """One requirements-file line (also a YAML pip: item, inside its `closing` quote): an option
    or a requirement."""
    value = uncommented(logical)
    stripped = value.strip()
    if not stripped:
        return
    exact = first == last  # offsets are exact only for a single physical line
    if stripped.startswith("-"):
        lead = len(value) - len(value.lstrip())
        option = _INDEX_OPTION.match(value, lead)
        if option:
            url = option.group(1)
            if CUDA_URL.search(url):
                start = base + option.start() if exact else t.starts[first]
                end = base + option.end() if exact else t.ends[first]
                found.urls.append(Url(url, start, end, lambda: [t.delete_lines(first, last)]))
            return
        editable = _EDITABLE.match(value, lead)
        parsed = parse_location(editable.group(1), 0, 0) if editable else None
        if editable and parsed is not None:
            start = base + editable.start(1) if exact else t.starts[first]
            found.deps.append(plain_dep(parsed, editable.group(1), start,
                                        base + editable.end(1) if exact else t.ends[first]))
        return
    parsed = parse_requirement(value, found.wanted)
    if parsed is None:
        return
    written = value[parsed.name_start:parsed.head_end]
    if exact:
        value_end = len(value) + len(closing) if closing else parsed.end
        found.deps.append(line_style_dep(t, parsed, base, value_end, written))
    else:
        found.deps.append(plain_dep(parsed, written, t.starts[first], t.ends[first]))
