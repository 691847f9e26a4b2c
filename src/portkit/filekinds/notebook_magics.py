"""IPython syntax in a code cell, masked as Python: every magic line (`%matplotlib inline`,
`!nvidia-smi`, `files = !ls`, `%env X=1`, `obj?`) becomes a placeholder expression of its own
line, so line numbers do not move, and is put back after the migration. Which lines are shell
(`!`, `%sx`) or `%env` is recorded, for the launch-file scan of those lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portkit.model import MigrationError

_SHELL_LINE = re.compile(r"[ \t]*(!!?)")
_SHELL_ASSIGNMENT = re.compile(r"[ \t]*[\w.]+(?:[ \t]*,[ \t]*[\w.]+)*[ \t]*=[ \t]*(!!?|%sx\b|%system\b)")
_SHELL_MAGIC = re.compile(r"[ \t]*%(?:sx|system)\b")
ENV_MAGIC = re.compile(r"[ \t]*%(?:set_)?env[ \t]+([A-Za-z_][A-Za-z0-9_]*)(?:([ \t]*=[ \t]*|[ \t]+)(\S.*?))?[ \t\r]*$")
_TIME_MAGIC = re.compile(r"[ \t]*(%(?:time|timeit|prun)[ \t]+)(?=[^\s-])")
_ANY_MAGIC = re.compile(r"[ \t]*%")
_HELP = re.compile(r"[ \t]*(?:\?{1,2}[\w.*]+|[\w.*]+\?{1,2})[ \t\r]*$")


@dataclass
class Magic:
    line: int  # 0-based line in the cell
    original: str  # the whole line, or for a prefix magic (`%time `) the prefix
    token: str  # the placeholder identifier
    prefix: bool  # only `original` at the line's start was replaced; the rest is Python
    new: str = ""  # what goes back (the original, with shell edits applied)


@dataclass
class Masked:
    text: str
    magics: list[Magic]
    shell: list[tuple[int, int, int]]  # (first line, last line, column where the shell starts)
    env: list[int]  # lines with %env


def _python_state(line: str, depth: int, quote: str | None) -> tuple[int, str | None, bool]:
    """Bracket depth and open string after a line of Python; whether the next line continues it."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if quote is not None:
            if ch == "\\":
                i += 2
            elif line.startswith(quote, i):
                i += len(quote)
                quote = None
            else:
                i += 1
            continue
        if ch == "#":
            return depth, None, False
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in "'\"":
            quote = line[i:i + 3] if line[i:i + 3] in ('"""', "'''") else ch
            i += len(quote)
            continue
        i += 1
    backslash = line.rstrip("\r").endswith("\\")
    if quote is not None and len(quote) == 1 and not backslash:
        quote = None  # an unterminated string: Python's error, not ours
    return depth, quote, backslash and quote is None


def _placeholder(prefix: str, number: int, width: int) -> str:
    token = f"{prefix}{number}_"
    return token + "_" * max(0, width - len(token))


def mask(text: str, prefix: str) -> Masked:
    """Replace IPython-only lines by placeholders of the same length where they fit; only lines
    that start a logical line of Python can be magics."""
    lines = text.split("\n")
    magics: list[Magic] = []
    shell: list[tuple[int, int, int]] = []
    env: list[int] = []
    depth, quote, continued = 0, None, False
    index = 0
    while index < len(lines):
        line = lines[index]
        starts = depth == 0 and quote is None and not continued
        kind = _magic_kind(line) if starts else None
        if kind is None:
            depth, quote, continued = _python_state(line, depth, quote)
            index += 1
            continue
        if kind == "time":
            match = _TIME_MAGIC.match(line)
            assert match is not None
            width = len(match.group(1))
            token = _placeholder(prefix, len(magics), width - 1)
            magics.append(Magic(index, match.group(1), token, True, match.group(1)))
            lines[index] = line[:match.start(1)] + token + ";" + line[match.end(1):]
            depth, quote, continued = _python_state(line[match.end(1):], 0, None)
            index += 1
            continue
        # a whole-line magic, with its backslash continuation lines
        last = index
        while lines[last].rstrip("\r").endswith("\\") and last + 1 < len(lines):
            last += 1
        indent = line[:len(line) - len(line.lstrip(" \t"))]
        if kind == "shell":
            shell.append((index, last, _shell_column(line)))
        elif kind == "env":
            env.append(index)
        for number in range(index, last + 1):
            original = lines[number]
            token = _placeholder(prefix, len(magics), len(original.rstrip("\r")) - len(indent))
            magics.append(Magic(number, original, token, False, original))
            lines[number] = indent + token + ("\r" if original.endswith("\r") else "")
        index = last + 1
        depth, quote, continued = 0, None, False
    return Masked("\n".join(lines), magics, shell, env)


def _magic_kind(line: str) -> str | None:
    if _SHELL_LINE.match(line) or _SHELL_ASSIGNMENT.match(line) or _SHELL_MAGIC.match(line):
        return "shell"
    if ENV_MAGIC.match(line):
        return "env"
    if _TIME_MAGIC.match(line):
        return "time"
    if _ANY_MAGIC.match(line) or _HELP.match(line):
        return "other"
    return None


def _shell_column(line: str) -> int:
    """Where the shell command of a `!` / `x = !` / `%sx` line starts (0-based)."""
    for pattern in (_SHELL_ASSIGNMENT, _SHELL_LINE, _SHELL_MAGIC):
        match = pattern.match(line)
        if match is not None:
            return match.end()
    return 0


def _placeholders(prefix: str) -> re.Pattern[str]:
    """A placeholder at a line's start: (indentation, token, `;` of a prefix magic)."""
    return re.compile(rf"^([ \t]*)({re.escape(prefix)}\d+_*)(;?)", re.M)


def restore(text: str, magics: list[Magic], prefix: str) -> str:
    """Put the magics back in place of their placeholders; each must be found exactly once."""
    by_token = {m.token: m for m in magics}
    found: set[str] = set()

    def put_back(match: re.Match[str]) -> str:
        magic = by_token.get(match.group(2))
        if magic is None or bool(match.group(3)) != magic.prefix:
            return match.group(0)
        found.add(magic.token)
        if magic.prefix:
            return match.group(1) + magic.new
        return magic.new.rstrip("\r")  # the whole line (its \r, if any, is still in the text)

    restored = _placeholders(prefix).sub(put_back, text)
    if len(found) != len(magics):
        raise MigrationError("an IPython magic line was lost in the rewrite (please report)")
    return restored


def restore_lines(text: str, magics: list[Magic], prefix: str) -> str:
    """The same for the line texts in a change or finding (only the magics that are there)."""
    if prefix not in text:
        return text
    by_token = {m.token: m for m in magics}

    def put_back(match: re.Match[str]) -> str:
        magic = by_token.get(match.group(2))
        if magic is None:
            return match.group(0)
        return match.group(1) + magic.original if magic.prefix else magic.original.rstrip("\r")

    return _placeholders(prefix).sub(put_back, text)
