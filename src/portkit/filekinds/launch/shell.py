"""Shell scripts: command lines (operators, redirections, here-documents) and, for each simple
command, which of its words are assignments, the command name and its arguments. The tokenizer
is just deep enough to know where variable names and command names are; it never fails: text
it does not understand is skipped as data."""

from __future__ import annotations

import re

from portkit.filekinds.launch.common import ASSIGNMENT, GPU_IDS, NAME, VISIBLE_DEVICES, Collector
from portkit.filekinds.launch.shell_words import ShellWords, Word

_RESERVED_START = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "coproc"})
_RESERVED_SKIP = frozenset({"for", "select", "case", "function", "in"})
_RESERVED_END = frozenset({"fi", "done", "esac", "}", "]]"})
_EXPORTS = frozenset({"export", "declare", "typeset", "local", "readonly"})
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
# command wrappers: option letters that take an argument, and positional arguments before the command
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"}), 0),
    "nohup": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "time": (frozenset({"-f", "-o"}), 0),
    "nice": (frozenset({"-n"}), 0),
    "ionice": (frozenset({"-c", "-n", "-p"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "watch": (frozenset({"-n", "--interval", "-d"}), 0),
    "stdbuf": (frozenset(), 0),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-S"}), 0),
}
_REDIRECTION = re.compile(r"\d*(<<<|<<-|<<|<>|<&|>&|>>|>\||&>>|&>|<|>)")
_HEREDOC_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=")
_OPERATOR = re.compile(r";;&|;;|;&|&&|\|\||\|&|[;&|]")


class _Command:
    """The simple command being read: which words are assignments, the command name, arguments."""

    def __init__(self, scanner: ShellScanner) -> None:
        self.s = scanner
        self.reset()

    def reset(self) -> None:
        self.state = "start"
        self.wrapper: str | None = None
        self.positional = 0
        self.pending: str | None = None  # what the next word is: an option's argument

    def add(self, w: Word) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.argument(pending, w)
        elif self.state in ("start", "wrapped"):
            self.leading(w)
        else:
            self.operand(w)

    def argument(self, pending: str, w: Word) -> None:
        """The word an option announced."""
        s = self.s
        if pending == "env-arg":
            s.env_argument(w)
        elif pending == "unset-name":
            s.bare_name(w)
        elif pending == "devices":
            s.c.devices(GPU_IDS, w.value, w.start, w.end)
        elif pending == "script":
            s.script(w)

    def leading(self, w: Word) -> None:
        """A word up to the command name: an assignment, a reserved word, a wrapper's option, or the name."""
        state = self.state
        match = ASSIGNMENT.match(self.s.text, w.start, w.end)
        if match is not None and (state == "start" or self.wrapper in ("env", "sudo")):
            self.s.assignment(w, match)
            return
        if state == "wrapped" and w.value is not None and w.value.startswith("-"):
            self.option(w)
            return
        if state == "wrapped" and self.positional > 0:
            self.positional -= 1
            return
        if state == "start" and w.value in _RESERVED_START:
            return
        if state == "start" and (w.value in _RESERVED_SKIP or w.value == "[["):  # [[ tests ]]: words only
            self.state = "skip"
            return
        if state == "start" and w.value in _RESERVED_END:
            self.state = "skip"
            return
        self.command(w)

    def operand(self, w: Word) -> None:
        """A word after the command name, read the way that command reads it."""
        s, state = self.s, self.state
        if state == "export":
            match = ASSIGNMENT.match(s.text, w.start, w.end)
            if match is not None:
                s.assignment(w, match)
            elif not (w.value or "").startswith("-"):
                s.bare_name(w)
        elif state == "names":
            if not (w.value or "").startswith("-"):
                s.bare_name(w)
        elif state == "docker":
            value = w.value or ""
            if value in ("-e", "--env"):
                self.pending = "env-arg"
            elif value.startswith("--env="):
                s.env_argument(w, len("--env="))
        elif state == "mpi":
            if w.value == "-x":
                self.pending = "env-arg"
        elif state == "accelerate":
            value = w.value or ""
            if value in ("--gpu_ids", "--gpu-ids"):
                self.pending = "devices"
            elif value.startswith(("--gpu_ids=", "--gpu-ids=")):
                s.c.devices(GPU_IDS, value.split("=", 1)[1], w.start, w.end)
        elif state == "shell":
            value = w.value or ""
            if re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", value):
                self.pending = "script"

    def option(self, w: Word) -> None:
        value = w.value or ""
        if self.wrapper == "env" and value in ("-u", "--unset"):
            self.pending = "unset-name"
            return
        options, _ = _WRAPPERS.get(self.wrapper or "", (frozenset(), 0))
        if value in options:
            self.pending = "skip"

    def command(self, w: Word) -> None:
        name = (w.value or "").rsplit("/", 1)[-1]
        if self.s.commands:
            self.s.c.command(w.start, w.end, name)
        if name in _WRAPPERS:
            self.state, self.wrapper = "wrapped", name
            self.positional = _WRAPPERS[name][1]
        elif name in _EXPORTS:
            self.state = "export"
        elif name in ("unset", "printenv"):
            self.state = "names"
        elif name in ("docker", "podman", "nvidia-docker"):
            self.state = "docker"
        elif name in ("mpirun", "mpiexec", "orterun"):
            self.state = "mpi"
        elif name == "accelerate":
            self.state = "accelerate"
        elif name in SHELLS:
            self.state = "shell"
        else:
            self.state = "args"


class ShellScanner(ShellWords):
    """A tokenizer for POSIX shell / bash, just deep enough to know where variable names and
    command names are. It never fails: text it does not understand is skipped as data. The
    words are read by ShellWords; this reads the command lines they make up."""

    def __init__(self, text: str, collector: Collector, *, commands: bool = True) -> None:
        super().__init__(text, collector)
        self.commands = commands  # report commands listed by report-command rules
        self.heredocs: list[tuple[str, bool, bool]] = []  # delimiter, expands $refs, strips tabs

    # -- command lines --

    def scan(self, start: int = 0, end: int | None = None) -> None:
        self.run(start, len(self.text) if end is None else end, None)

    def run(self, pos: int, end: int, closer: str | None) -> int:
        text = self.text
        command = _Command(self)
        depth = 0
        while pos < end:
            ch = text[pos]
            if ch in " \t\r":
                pos += 1
            elif ch == "\\" and text.startswith("\n", pos + 1):
                pos += 2
            elif ch == "\\" and text.startswith("\r\n", pos + 1):
                pos += 3
            elif ch == "\n":
                pos += 1
                command.reset()
                if self.heredocs:
                    pos = self.heredoc_bodies(pos, end)
            elif ch == "#":
                newline = text.find("\n", pos, end)
                pos = end if newline < 0 else newline
            elif ch == "`" and closer == "`":
                return pos + 1
            elif ch == ")":
                pos += 1
                command.reset()
                if closer == ")" and depth == 0:
                    return pos
                depth = max(0, depth - 1)
            elif ch == "(":
                depth += 1
                pos += 1
                command.reset()
            elif (redirection := _REDIRECTION.match(text, pos, end)) is not None and (
                ch in "<>&" or redirection.group(0)[:-len(redirection.group(1))].isdigit()
            ):
                pos = self.redirection(redirection, end)
            elif ch in ";&|":
                operator = _OPERATOR.match(text, pos, end)
                pos += len(operator.group(0)) if operator else 1
                command.reset()
            else:
                word, pos = self.word(pos, end)
                if word.end == word.start:  # a character no rule above consumed
                    pos += 1
                    continue
                if command.pending == "skip":
                    command.pending = None
                elif command.state != "skip":
                    command.add(word)
        return pos

    def redirection(self, match: re.Match[str], end: int) -> int:
        operator = match.group(1)
        pos = match.end()
        while pos < end and self.text[pos] in " \t":
            pos += 1
        if pos >= end or self.text[pos] == "\n":
            return pos
        word, pos = self.word(pos, end)
        if operator in ("<<", "<<-"):
            delimiter = word.value if word.value is not None else self.text[word.start:word.end]
            self.heredocs.append((delimiter, not word.quoted, operator == "<<-"))
        return max(pos, word.end)

    def heredoc_bodies(self, pos: int, end: int) -> int:
        text = self.text
        pending, self.heredocs = self.heredocs, []
        for delimiter, expands, strip_tabs in pending:
            while pos < end:
                newline = text.find("\n", pos, end)
                line_end = end if newline < 0 else newline
                line = text[pos:line_end].rstrip("\r")
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    pos = line_end + 1
                    break
                if expands:
                    self.references(pos, line_end)
                data = _HEREDOC_ASSIGNMENT.match(text, pos, line_end)
                if data is not None:
                    self.c.data(data.start(1), data.end(1), data.group(1))
                pos = line_end + 1
        return min(pos, end)

    # -- what the command reader found --

    def assignment(self, w: Word, match: re.Match[str]) -> None:
        name = match.group(1)
        self.c.name(w.start, w.start + len(name), name)
        if name in VISIBLE_DEVICES and w.value is not None:
            self.c.devices(name, w.value[match.end() - w.start:], w.start, w.end)

    def bare_name(self, w: Word) -> None:
        if w.value is not None and not w.quoted and NAME.fullmatch(self.text, w.start, w.end):
            self.c.name(w.start, w.end, w.value)

    def env_argument(self, w: Word, skip: int = 0) -> None:
        """`docker run -e NAME=value`, `mpirun -x NAME`: the word starts with a name (maybe quoted)."""
        start = w.start + skip
        if self.text[start:start + 1] in ("'", '"'):
            start += 1
        match = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?==|\b)").match(self.text, start, w.end)
        if match is None:
            return
        name = match.group(1)
        self.c.name(match.start(1), match.end(1), name)
        if name in VISIBLE_DEVICES and w.value is not None and "=" in w.value:
            self.c.devices(name, w.value.split("=", 1)[1], w.start, w.end)

    def script(self, w: Word) -> None:
        """`bash -c '...'`: the script, when its characters are the word's characters."""
        raw = self.text[w.start:w.end]
        if len(raw) >= 2 and raw[0] == raw[-1] == "'" and "'" not in raw[1:-1]:
            pass
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"' and not re.search(r'[\\"]', raw[1:-1]):
            pass
        else:
            return
        saved, self.heredocs = self.heredocs, []
        self.run(w.start + 1, w.end - 1, None)
        self.heredocs = saved


def scan_shell(text: str, collector: Collector, *, commands: bool = True) -> None:
    ShellScanner(text, collector, commands=commands).scan()
