"""The word level of the shell tokenizer: quoting, escapes and expansions (`$NAME`, `${NAME:-x}`,
`$(...)`, backticks), reporting every variable name it meets to the Collector."""

from __future__ import annotations

from dataclasses import dataclass

from portkit.filekinds.launch.common import ASSIGNMENT, NAME, Collector, line_end
from portkit.filekinds.launch.launchline import literal_mentions


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    value: str | None  # with quotes and escapes removed; None when it holds an expansion
    quoted: bool


class ShellWords:
    """Reads shell words; a subclass reads the command lines inside `$(...)` and backticks (`run`)."""

    def __init__(self, text: str, collector: Collector) -> None:
        self.text = text
        self.c = collector
        self.backticks = 0

    def run(self, pos: int, end: int, closer: str | None) -> int:
        raise NotImplementedError

    def backtick_substitution(self, pos: int, end: int) -> int:
        """`` `command` `` at `pos`: its inside is a command line of its own."""
        self.backticks += 1
        try:
            return self.run(pos + 1, end, "`")
        finally:
            self.backticks -= 1

    def references(self, pos: int, end: int) -> None:
        """`$NAME` and `${NAME}` in text that is neither quoted nor code (here-document bodies)."""
        while pos < end:
            pos = self.step(pos, end)

    def step(self, pos: int, end: int) -> int:
        """Past the escaped character, the expansion (`$...`, backticks) or the plain character at `pos`."""
        ch = self.text[pos]
        if ch == "\\":
            return pos + 2
        if ch == "$":
            return self.dollar(pos, end)[0]
        if ch == "`":
            return self.backtick_substitution(pos, end)
        return pos + 1

    def word(self, pos: int, end: int) -> tuple[Word, int]:
        text = self.text
        start = pos
        parts: list[str] = []
        dynamic = quoted = False
        while pos < end:
            ch = text[pos]
            if ch in " \t\n;&|<>()":
                if ch == "(" and pos > start and text[pos - 1] == "=" and ASSIGNMENT.fullmatch(text, start, pos):
                    pos = self.array(pos + 1, end)  # NAME=(a b c)
                    dynamic = True
                    continue
                break
            if ch == "\r" and text.startswith("\n", pos + 1):
                break
            if ch == "\\":
                if text.startswith("\n", pos + 1):
                    pos += 2
                    continue
                parts.append(text[pos + 1:pos + 2])
                pos += 2
            elif ch == "'":
                close = text.find("'", pos + 1, end)
                close = end if close < 0 else close
                literal_mentions(text, self.c, pos + 1, close)  # '$NAME' stays: a person may need to look
                parts.append(text[pos + 1:close])
                quoted = True
                pos = close + 1
            elif ch == '"':
                pos, literal, expanded = self.double_quoted(pos + 1, end)
                parts.append(literal)
                dynamic |= expanded
                quoted = True
            elif ch == "$":
                pos, literal, expanded = self.dollar(pos, end)
                parts.append(literal)
                dynamic |= expanded
            elif ch == "`":
                if self.backticks:
                    break
                pos = self.backtick_substitution(pos, end)
                dynamic = True
            else:
                parts.append(ch)
                pos += 1
        return Word(start, min(pos, end), None if dynamic else "".join(parts), quoted), min(pos, end)

    def array(self, pos: int, end: int) -> int:
        while pos < end and self.text[pos] != ")":
            if self.text[pos] in " \t\r\n":
                pos += 1
                continue
            word, pos = self.word(pos, end)
            if word.end == word.start:
                pos += 1
        return pos + 1

    def double_quoted(self, pos: int, end: int) -> tuple[int, str, bool]:
        text = self.text
        parts: list[str] = []
        dynamic = False
        while pos < end:
            ch = text[pos]
            if ch == '"':
                return pos + 1, "".join(parts), dynamic
            if ch == "\\":
                following = text[pos + 1:pos + 2]
                if following == "\n":
                    pass
                elif following in ('$', '`', '"', '\\'):
                    parts.append(following)
                else:
                    parts.append("\\" + following)
                pos += 2
            elif ch == "$":
                pos, literal, expanded = self.dollar(pos, end)
                parts.append(literal)
                dynamic |= expanded
            elif ch == "`":
                if self.backticks:
                    return pos, "".join(parts), dynamic
                pos = self.backtick_substitution(pos, end)
                dynamic = True
            else:
                parts.append(ch)
                pos += 1
        return end, "".join(parts), dynamic

    def dollar(self, pos: int, end: int) -> tuple[int, str, bool]:
        """An expansion at `$`: returns the position after it, its literal text if it has
        none (`$'...'`, a lone `$`), and whether it expands."""
        text = self.text
        following = text[pos + 1:pos + 2]
        if following == "'":  # $'ANSI-C' string
            close = pos + 2
            while close < end and text[close] != "'":
                close += 2 if text[close] == "\\" else 1
            return min(close + 1, end), text[pos + 2:close], False
        if following == '"':  # $"locale" string
            return self.double_quoted(pos + 2, end)
        if text.startswith("((", pos + 1):  # $(( arithmetic ))
            close = pos + 3
            depth = 2
            while close < end and depth:
                if text[close] == "(":
                    depth += 1
                elif text[close] == ")":
                    depth -= 1
                elif text[close] == "$":
                    close, _, _ = self.dollar(close, end)
                    continue
                close += 1
            return close, "", True
        if following == "(":  # $( command )
            return self.run(pos + 2, end, ")"), "", True
        if following == "{":
            return self.braced(pos + 2, end), "", True
        match = NAME.match(text, pos + 1, end)
        if match is not None:
            self.c.name(match.start(), match.end(), match.group(0))
            return match.end(), "", True
        if following and following in "@*#?-$!0123456789":
            return pos + 2, "", True
        return pos + 1, "$", False

    def braced(self, pos: int, end: int) -> int:
        """After `${`: the name, then the operator's words up to the matching `}`."""
        text = self.text
        if text[pos:pos + 1] in ("#", "!") and NAME.match(text, pos + 1, end):
            pos += 1
        match = NAME.match(text, pos, end)
        if match is not None:
            self.c.name(match.start(), match.end(), match.group(0))
            pos = match.end()
        depth = 0
        while pos < end:
            ch = text[pos]
            if ch == "}":
                if depth == 0:
                    return pos + 1
                depth -= 1
                pos += 1
            elif ch == "{":
                depth += 1
                pos += 1
            elif ch == "'":
                close = text.find("'", pos + 1, end)
                pos = end if close < 0 else close + 1
            elif ch == '"':
                pos, _, _ = self.double_quoted(pos + 1, end)
            else:
                pos = self.step(pos, end)
        return end

    def words(self, pos: int, end: int) -> list[Word]:
        """Lex words (collecting their $references) without reading them as a command."""
        text = self.text
        words = []
        line_start = False
        while pos < end:
            if text[pos] == "\n":
                pos += 1
                line_start = True
            elif text[pos] in " \t\r":
                pos += 1
            elif text[pos] == "\\" and text[pos + 1:pos + 2] in ("\n", "\r"):
                pos += 2
            elif line_start and text[pos] == "#":  # a comment line inside a Dockerfile continuation
                pos = line_end(text, pos)
            else:
                line_start = False
                word, pos = self.word(pos, end)
                if word.end == word.start:
                    pos += 1
                    continue
                words.append(word)
        return words
