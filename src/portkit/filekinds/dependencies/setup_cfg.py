"""setup.cfg: install_requires, setup_requires and tests_require of [options], the extras of
[options.extras_require], and CUDA URLs in any other value (dependency_links)."""

from __future__ import annotations

import re

from portkit.filekinds.dependencies.common import CUDA_URL, URL, Found, Text, Url, line_style_dep, parse_requirement
from portkit.filekinds.dependencies.requirements import uncommented

_CFG_KEYS = {"options": ("install_requires", "setup_requires", "tests_require")}
_CFG_SECTION = re.compile(r"\[([^\]]*)\]")
_CFG_DELIMITER = re.compile(r"[=:][ \t]*")


def scan_setup_cfg(t: Text, found: Found) -> None:
    section = ""
    lines = len(t.starts)
    index = 0
    while index < lines:
        content = t.content(index)
        stripped = content.strip()
        if not stripped or stripped[0] in "#;" or content[0] in " \t":
            index += 1
            continue
        header = _CFG_SECTION.match(content)
        if header:
            section, index = header.group(1).strip(), index + 1
            continue
        delimiter = _CFG_DELIMITER.search(content)
        index += 1
        if not delimiter:
            continue
        key = content[:delimiter.start()].strip()
        wanted = key in _CFG_KEYS.get(section, ()) or section == "options.extras_require"
        values = [(index - 1, delimiter.end())]  # (line, column where the value starts)
        while index < lines and (not t.content(index).strip() or t.content(index)[0] in " \t"):
            values.append((index, 0))
            index += 1
        if wanted:
            _cfg_value(t, values, found)
        else:  # dependency_links and the like
            for line, column in values:
                _scan_urls(t, line, column, found)


def _cfg_value(t: Text, values: list[tuple[int, int]], found: Found) -> None:
    dangling = len([1 for line, _ in values[1:] if t.content(line).strip()]) > 0
    for line, column in values:
        base = t.starts[line] + column
        content = t.text[base:t.ends[line]]
        if not content.strip() or content.strip()[0] in "#;":
            continue
        pieces = [(0, content)] if dangling else _split_semicolons(content)
        for offset, piece in pieces:
            piece = uncommented(piece)
            parsed = parse_requirement(piece, found.wanted)
            if parsed is not None:
                written = piece[parsed.name_start:parsed.head_end]
                dep = line_style_dep(t, parsed, base + offset, parsed.end, written)
                if not dangling:
                    dep.sibling = None  # `a; b` on one line: no room for a line of its own
                found.deps.append(dep)


def _split_semicolons(content: str) -> list[tuple[int, str]]:
    pieces, start = [], 0
    for match in re.finditer(";", content):
        pieces.append((start, content[start:match.start()]))
        start = match.end()
    pieces.append((start, content[start:]))
    return pieces


def _scan_urls(t: Text, line: int, column: int, found: Found) -> None:
    content = t.content(line)
    if content.strip()[:1] in ("#", ";"):
        return
    for match in URL.finditer(content, column):
        if CUDA_URL.search(match.group()):
            found.urls.append(Url(match.group(), t.starts[line] + match.start(), t.starts[line] + match.end()))
