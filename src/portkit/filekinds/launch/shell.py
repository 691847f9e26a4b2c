"""Shell scripts: command lines (operators, redirections, here-documents) and, for each simple
command, which of its words are assignments, the command name and its arguments. The tokenizer
is just deep enough to know where variable names and command names are; it never fails: text
it does not understand is skipped as data."""

from __future__ import annotations

import re

from portkit.filekinds.launch import launchline
from portkit.filekinds.launch.common import ASSIGNMENT, GPU_IDS, NAME, VISIBLE_DEVICES, Collector
from portkit.filekinds.launch.launchline import HOSTS, SLURM
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
# commands whose operands are variable names: name -> the options that take an argument (a name
# for the letters in the second set: `read -a NAME`, `printf -v NAME`, `test -v NAME`)
_NAME_READERS: dict[str, tuple[str, str]] = {
    "read": ("dinNptu", "a"),
    "mapfile": ("dnOsuCc", ""),
    "readarray": ("dnOsuCc", ""),
    "printf": ("", "v"),
    "getopts": ("", ""),
    "test": ("", "v"),
    "[": ("", "v"),
    "[[": ("", "v"),
}
_LAUNCH_STATES = frozenset({"launch", "accelerate"})
_PRINTERS = frozenset({"echo", "printf"})
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
        self.operands = 0  # operands read so far, for the name readers
        self.name: str | None = None  # the command's name, once read
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
        elif pending in ("unset-name", "name"):
            s.bare_name(w)
        elif pending == "export-list":
            launchline.export_list(s.text, s.c, w.start, w.end)
        elif pending.startswith("backend "):
            launchline.option_value(s.text, s.c, pending.split(" ", 1)[1], w.start, w.end)
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
        if state == "start" and w.value in ("for", "select"):  # for NAME in ...: the loop variable
            self.state = "loop"
            return
        if state == "start" and w.value == "[[":  # [[ tests ]]: only `-v NAME` names a variable
            self.state = "names-of [["
            return
        if state == "start" and w.value in _RESERVED_SKIP:
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
        elif state in ("mpi", "slurm", "host") and (found := launchline.launcher(w.value)) is not None:
            self.state = "accelerate" if found == "accelerate" else "launch"  # srun python train.py ...
        elif state == "mpi":
            if w.value == "-x":
                self.pending = "env-arg"
        elif state == "loop":
            s.bare_name(w)
            self.state = "skip"
        elif state.startswith("names-of "):
            self.name_reader(w, state.split(" ", 1)[1])
        elif state == "slurm" and (w.value or "").startswith("--export="):
            launchline.export_list(s.text, s.c, w.start + len("--export="), w.end)
        elif state == "slurm" and w.value == "--export":
            self.pending = "export-list"
        elif state == "accelerate" and (w.value or "").startswith(("--gpu_ids", "--gpu-ids")):
            value = w.value or ""
            if value in ("--gpu_ids", "--gpu-ids"):
                self.pending = "devices"
            elif value.startswith(("--gpu_ids=", "--gpu-ids=")):
                s.c.devices(GPU_IDS, value.split("=", 1)[1], w.start, w.end)
        elif state in _LAUNCH_STATES:
            option = launchline.argument(s.text, s.c, w.start, w.end)
            if option is not None:
                self.pending = f"backend {option}"
        elif state == "shell":
            value = w.value or ""
            if re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", value):
                self.pending = "script"

    def name_reader(self, w: Word, command: str) -> None:
        """An operand of read, mapfile, printf, getopts or test: which of them is a variable name."""
        value = w.value or ""
        with_argument, with_name = _NAME_READERS[command]
        if value.startswith("-") and len(value) > 1 and command not in ("getopts",):
            for index, letter in enumerate(value[1:], start=1):
                if letter in with_argument or letter in with_name:
                    if index + 1 < len(value):  # the argument is attached: -aNAME, -p'prompt'
                        if letter in with_name:
                            self.s.name_at(w.start + index + 1, w.end)
                    else:
                        self.pending = "name" if letter in with_name else "skip"
                    return
            return
        self.operands += 1
        if command in ("read", "mapfile", "readarray") or (command == "getopts" and self.operands == 2):
            self.s.bare_name(w)
        elif command == "printf":
            self.state = "args"  # the format and its arguments are no names

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
        self.name = name
        if self.s.commands:
            self.s.c.command(w.start, w.end, name)
        if name in _WRAPPERS:
            self.state, self.wrapper = "wrapped", name
            self.positional = _WRAPPERS[name][1]
        elif name in _EXPORTS:
            self.state = "export"
        elif name in ("unset", "printenv"):
            self.state = "names"
        elif name in _NAME_READERS:
            self.state = f"names-of {name}"
        elif name in SLURM:
            self.state = "slurm"
        elif name in HOSTS:
            self.state = "host"
        elif launchline.launcher(name) is not None and name != "accelerate":
            self.state = "launch"
        elif w.value is None and launchline.launcher_variable(self.s.text, w.start, w.end):
            self.state = "launch"
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
                if closer is None and (pos == 0 or text[pos - 1] == "\n"):
                    launchline.directive(text, self.c, pos, end if newline < 0 else newline)
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
                literals = len(self.c.literals)
                word, pos = self.word(pos, end)
                if command.name in _PRINTERS:  # echo '$NAME': text printed, not shell run later
                    del self.c.literals[literals:]
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
                else:
                    launchline.literal_mentions(text, self.c, pos, line_end)
                data = _HEREDOC_ASSIGNMENT.match(text, pos, line_end)
                if data is not None:
                    self.c.data(data.start(1), data.end(1), data.group(1))
                pos = line_end + 1
        return min(pos, end)

    # -- what the command reader found --

    def assignment(self, w: Word, match: re.Match[str]) -> None:
        name = match.group(1)
        self.c.name(w.start, w.start + len(name), name)
        launchline.held_values(self.text, self.c, name, match.end(), w.end)
        if name in VISIBLE_DEVICES and w.value is not None:
            self.c.devices(name, w.value[match.end() - w.start:], w.start, w.end)

    def bare_name(self, w: Word) -> None:
        if w.value is not None and not w.quoted and NAME.fullmatch(self.text, w.start, w.end):
            self.c.name(w.start, w.end, w.value)

    def name_at(self, start: int, end: int) -> None:
        """A name attached to its option (`read -aGPUS`)."""
        if NAME.fullmatch(self.text, start, end):
            self.c.name(start, end, self.text[start:end])

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
    collector.settle()  # the whole script has been read
