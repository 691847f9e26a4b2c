""".env files (and DeepSpeed's .deepspeed_env): `NAME=value` lines, and $references in values."""

from __future__ import annotations

import re

from portkit.filekinds.launch.common import VISIBLE_DEVICES, Collector, line_end
from portkit.filekinds.launch.shell import ShellScanner

_DOTENV_LINE = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*")


def scan_dotenv(text: str, c: Collector) -> None:
    """`NAME=value` lines (`export NAME=value` too), and $references in values."""
    scanner = ShellScanner(text, c, commands=False)
    pos = 0
    while pos < len(text):
        end = line_end(text, pos)
        match = _DOTENV_LINE.match(text, pos, end)
        if match is not None:
            name = match.group(1)
            c.name(match.start(1), match.end(1), name)
            value_start = match.end()
            if value_start < end and text[value_start] not in "#\r":
                word, after = scanner.word(value_start, end)
                if text[value_start] not in "'\"":
                    _refs_until_comment(scanner, after, end)
                if name in VISIBLE_DEVICES:
                    c.devices(name, word.value, match.start(1), word.end)
        pos = end + 1


def _refs_until_comment(scanner: ShellScanner, pos: int, end: int) -> None:
    text = scanner.text
    while pos < end:
        if text[pos] == "#" and text[pos - 1] in " \t":
            return
        if text[pos] in " \t\r":
            pos += 1
            continue
        word, pos = scanner.word(pos, end)
        if word.end == word.start:
            pos += 1
