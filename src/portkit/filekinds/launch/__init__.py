"""Launch files: shell scripts, .env files, Dockerfiles, and launcher / CI configs in YAML or JSON.

What changes: environment variable *names*, renamed by every replace-string rule whose
`contexts.launch_files` is true (the env-var rule: CUDA_VISIBLE_DEVICES -> ASCEND_RT_VISIBLE_DEVICES,
NCCL_SOCKET_IFNAME -> HCCL_SOCKET_IFNAME, ...). What is reported: names matching such a rule's
`report_pattern` that have no twin, device lists that are not strictly ascending (Ascend needs
ascending ids in ASCEND_RT_VISIBLE_DEVICES), and commands listed by report-command rules
(`nvidia-smi` -> `npu-smi info`).

Nothing is ever re-serialised: every edit replaces the exact characters of one name, so
comments, quoting, indentation and line endings stay as they were. A name is only renamed
where it *is* a variable name:

- shell (and Dockerfile RUN/CMD/ENTRYPOINT, CI `run:`/`script:` steps): a small tokenizer that
  knows comments, quotes, `$(...)`, backticks and here-documents. Renamed are assignments
  (`NAME=v cmd`, `export NAME=v`, `env NAME=v`, `declare -x`, `unset NAME`, `docker run -e NAME`,
  `mpirun -x NAME`) and references (`$NAME`, `${NAME:-x}`), the latter also inside "...".
  Nothing inside '...', comments, here-document text or other words (MY_CUDA_VISIBLE_DEVICES).
- .env files: `NAME=value` lines, and references in values.
- Dockerfiles: ENV / ARG names, `$NAME` references in any instruction, RUN/CMD/ENTRYPOINT as shell.
- YAML (PyYAML node marks) and JSON (a position-keeping scanner that also accepts JSONC):
  keys of `env`/`environment`/`variables`/`env_vars` mappings, `name:` entries of k8s env lists,
  `NAME=value` items of docker-compose lists, and shell in `run`/`script`/`command`/`args` values.
"""

from __future__ import annotations

import bisect
import json
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # the stdlib's (C) string scanner
from pathlib import PurePath
from typing import Any

from portkit.model import Change, Finding, Migration, MigrationError, Safety, Span
from portkit.ruleset import ReplaceString, ReportCommand, Rule
from portkit.python.transform import CompiledRules
from portkit.python.triage import pattern_words

# The variable whose device ids must be ascending on Ascend, under both its names; and the
# accelerate option / config key that accelerate exports as ASCEND_RT_VISIBLE_DEVICES on NPU hosts.
VISIBLE_DEVICES = frozenset({"CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES"})
_DEVICES_SOURCE = "CUDA_VISIBLE_DEVICES"  # the rule that renames this one owns the check
GPU_IDS = "gpu_ids"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\+?=)")


# --- the rules that apply to launch files --------------------------------------------------------


@dataclass
class LaunchRules:
    renames: dict[str, tuple[Rule, str]] = field(default_factory=dict)  # NAME -> (rule, new name)
    reports: list[tuple[Rule, ReplaceString]] = field(default_factory=list)  # rules with a report_pattern
    commands: dict[str, tuple[Rule, str]] = field(default_factory=dict)  # command -> (rule, guidance)
    devices: Rule | None = None  # owner of the ascending-ids check
    trigger: re.Pattern[str] | None = None

    def may_need_work(self, text: str) -> bool:
        return self.trigger is not None and self.trigger.search(text) is not None


_INDEX: weakref.WeakKeyDictionary[CompiledRules, LaunchRules] = weakref.WeakKeyDictionary()


def launch_rules(rules: CompiledRules) -> LaunchRules:
    """The launch-file view of a rule set (built once per CompiledRules)."""
    found = _INDEX.get(rules)
    if found is not None:
        return found
    index = LaunchRules()
    words: set[str] = set()
    for rule in rules.ruleset.rules:
        spec = rule.spec
        if isinstance(spec, ReplaceString) and spec.contexts.launch_files:
            for old, new in spec.values.items():
                index.renames.setdefault(old, (rule, new))
                words.add(old)
            if spec.report_pattern is not None:
                index.reports.append((rule, spec))
                words.update(pattern_words(spec.report_pattern))
        elif isinstance(spec, ReportCommand):
            for command, guidance in spec.commands.items():
                index.commands.setdefault(command, (rule, guidance))
                words.add(command)
    if _DEVICES_SOURCE in index.renames:
        index.devices = index.renames[_DEVICES_SOURCE][0]
        words.update(VISIBLE_DEVICES | {GPU_IDS, "gpu-ids"})
    words.discard("")
    if words:
        index.trigger = re.compile("|".join(re.escape(w) for w in sorted(words)))
    _INDEX[rules] = index
    return index


# --- what a scan found ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    new: str
    rule: Rule
    message: str


@dataclass(frozen=True)
class Note:
    start: int
    end: int
    rule: Rule
    message: str


class Collector:
    """Edits and notes, at character offsets of the text being scanned."""

    def __init__(self, rules: LaunchRules) -> None:
        self.rules = rules
        self.edits: dict[tuple[int, int], Edit] = {}
        self.notes: dict[tuple[int, str, str], Note] = {}

    def note(self, start: int, end: int, rule: Rule, message: str) -> None:
        self.notes.setdefault((start, rule.id, message), Note(start, end, rule, message))

    def edit(self, edit: Edit) -> None:
        self.edits.setdefault((edit.start, edit.end), edit)

    def name(self, start: int, end: int, name: str) -> None:
        """An environment variable name in a variable position."""
        hit = self.rules.renames.get(name)
        if hit is not None:
            rule, new = hit
            self.edit(Edit(start, end, new, rule, f"{name} → {new}"))
            return
        for rule, spec in self.rules.reports:
            if spec.report_pattern is not None and spec.report_pattern.search(name):
                self.note(start, end, rule, spec.report_message.format(name=name))
                return

    def devices(self, name: str, value: str | None, start: int, end: int) -> None:
        """The value given to CUDA_VISIBLE_DEVICES (or accelerate's gpu_ids): ids must ascend."""
        rule = self.rules.devices
        if rule is None or value is None:
            return
        ids = [part.strip() for part in value.strip().strip("'\"").split(",")]
        if not all(part.isdigit() for part in ids) or len(ids) < 2:
            return
        numbers = [int(part) for part in ids]
        if all(a < b for a, b in zip(numbers, numbers[1:])):
            return
        fixed = ",".join(str(n) for n in sorted(set(numbers)))
        given = value.strip().strip("'\"")
        where = (f"gpu_ids {given}: accelerate passes gpu_ids to ASCEND_RT_VISIBLE_DEVICES on Ascend, which"
                 if name == GPU_IDS else f"{name}={given}: ASCEND_RT_VISIBLE_DEVICES")
        self.note(start, end, rule, f"{where} needs device ids in strictly ascending order ({fixed}); "
                                    "npu:0 is then the lowest id, so check code that relies on which card is which")

    def data(self, start: int, end: int, name: str) -> None:
        """A renameable name written as data (a here-document line `NAME=...`): not renamed."""
        hit = self.rules.renames.get(name)
        if hit is not None:
            rule, new = hit
            self.note(start, end, rule, f"{name} is written here as text, which portkit does not change: "
                                        f"if this writes an env file or a script, rename it to {new} by hand")

    def command(self, start: int, end: int, word: str) -> None:
        hit = self.rules.commands.get(word.rsplit("/", 1)[-1])
        if hit is not None:
            rule, guidance = hit
            self.note(start, end, rule, guidance)

    def merge(self, other: Collector, locate: Callable[[int, int], int | None], fallback: int) -> None:
        """Take over what a scan of a decoded string found; `locate` maps a span of the
        decoded string to the offset of the same characters in this collector's text."""
        for edit in other.edits.values():
            at = locate(edit.start, edit.end)
            if at is None:
                self.note(fallback, fallback + 1, edit.rule,
                          f"{edit.message}: rename it by hand (portkit does not rewrite inside this escaped or folded string)")
            else:
                self.edit(Edit(at, at + edit.end - edit.start, edit.new, edit.rule, edit.message))
        for note in other.notes.values():
            at = locate(note.start, note.end)
            at = fallback if at is None else at
            self.note(at, at + max(1, note.end - note.start), note.rule, note.message)


# --- shell ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    value: str | None  # with quotes and escapes removed; None when it holds an expansion
    quoted: bool


_RESERVED_START = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "coproc"})
_RESERVED_SKIP = frozenset({"for", "select", "case", "function", "in"})
_RESERVED_END = frozenset({"fi", "done", "esac", "}", "]]"})
_EXPORTS = frozenset({"export", "declare", "typeset", "local", "readonly"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
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
        s, text = self.s, self.s.text
        if self.pending is not None:
            pending, self.pending = self.pending, None
            if pending == "env-arg":
                s.env_argument(w)
            elif pending == "unset-name":
                s.bare_name(w)
            elif pending == "devices":
                s.c.devices(GPU_IDS, w.value, w.start, w.end)
            elif pending == "script":
                s.script(w)
            return
        state = self.state
        if state in ("start", "wrapped"):
            match = _ASSIGNMENT.match(text, w.start, w.end)
            if match is not None and (state == "start" or self.wrapper in ("env", "sudo")):
                s.assignment(w, match)
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
        elif state == "export":
            match = _ASSIGNMENT.match(text, w.start, w.end)
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
        elif name in _SHELLS:
            self.state = "shell"
        else:
            self.state = "args"


class ShellScanner:
    """A tokenizer for POSIX shell / bash, just deep enough to know where variable names and
    command names are. It never fails: text it does not understand is skipped as data."""

    def __init__(self, text: str, collector: Collector, *, commands: bool = True) -> None:
        self.text = text
        self.c = collector
        self.commands = commands  # report commands listed by report-command rules
        self.heredocs: list[tuple[str, bool, bool]] = []  # delimiter, expands $refs, strips tabs
        self.backticks = 0

    # -- commands --

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

    def backtick_substitution(self, pos: int, end: int) -> int:
        """`` `command` `` at `pos`: its inside is a command line of its own."""
        self.backticks += 1
        try:
            return self.run(pos + 1, end, "`")
        finally:
            self.backticks -= 1

    def references(self, pos: int, end: int) -> None:
        """`$NAME` and `${NAME}` in text that is neither quoted nor code (here-document bodies)."""
        text = self.text
        while pos < end:
            ch = text[pos]
            if ch == "\\":
                pos += 2
            elif ch == "$":
                pos, _, _ = self.dollar(pos, end)
            elif ch == "`":
                pos = self.backtick_substitution(pos, end)
            else:
                pos += 1

    # -- words --

    def word(self, pos: int, end: int) -> tuple[Word, int]:
        text = self.text
        start = pos
        parts: list[str] = []
        dynamic = quoted = False
        while pos < end:
            ch = text[pos]
            if ch in " \t\n;&|<>()":
                if ch == "(" and pos > start and text[pos - 1] == "=" and _ASSIGNMENT.fullmatch(text, start, pos):
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
        match = _NAME.match(text, pos + 1, end)
        if match is not None:
            self.c.name(match.start(), match.end(), match.group(0))
            return match.end(), "", True
        if following and following in "@*#?-$!0123456789":
            return pos + 2, "", True
        return pos + 1, "$", False

    def braced(self, pos: int, end: int) -> int:
        """After `${`: the name, then the operator's words up to the matching `}`."""
        text = self.text
        if text[pos:pos + 1] in ("#", "!") and _NAME.match(text, pos + 1, end):
            pos += 1
        match = _NAME.match(text, pos, end)
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
            elif ch == "\\":
                pos += 2
            elif ch == "'":
                close = text.find("'", pos + 1, end)
                pos = end if close < 0 else close + 1
            elif ch == '"':
                pos, _, _ = self.double_quoted(pos + 1, end)
            elif ch == "$":
                pos, _, _ = self.dollar(pos, end)
            elif ch == "`":
                pos = self.backtick_substitution(pos, end)
            else:
                pos += 1
        return end

    # -- what the command reader found --

    def assignment(self, w: Word, match: re.Match[str]) -> None:
        name = match.group(1)
        self.c.name(w.start, w.start + len(name), name)
        if name in VISIBLE_DEVICES and w.value is not None:
            self.c.devices(name, w.value[match.end() - w.start:], w.start, w.end)

    def bare_name(self, w: Word) -> None:
        if w.value is not None and not w.quoted and _NAME.fullmatch(self.text, w.start, w.end):
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


# --- .env files ----------------------------------------------------------------------------------

_DOTENV_LINE = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*")


def scan_dotenv(text: str, c: Collector) -> None:
    """`NAME=value` lines (`export NAME=value` too), and $references in values."""
    scanner = ShellScanner(text, c, commands=False)
    pos = 0
    while pos < len(text):
        end = _line_end(text, pos)
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


# --- Dockerfiles ---------------------------------------------------------------------------------

_INSTRUCTION = re.compile(r"[ \t]*([A-Za-z]+)(?=[ \t\r\n\\]|$)[ \t]*")
_HEREDOC = re.compile(r"<<-?[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_RUN_FLAGS = re.compile(r"(?:[ \t]*--[a-z-]+(?:=\S*)?)*[ \t]*")


def _line_end(text: str, pos: int) -> int:
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline


def scan_dockerfile(text: str, c: Collector) -> None:
    escape = "\\"
    directive = re.match(r"(?:[ \t]*#[ \t]*\w+[ \t]*=.*\n)*?[ \t]*#[ \t]*escape[ \t]*=[ \t]*(\S)", text, re.I)
    if directive is not None:
        escape = directive.group(1)
    pos = 0
    while pos < len(text):
        end = _line_end(text, pos)
        stripped = text[pos:end].strip()
        if not stripped or stripped.startswith("#"):
            pos = end + 1
            continue
        # the instruction's lines: continuations, and here-document bodies
        first_end = end
        line_start = pos
        while end < len(text):
            line = text[line_start:end]
            continued = line.rstrip(" \t\r").endswith(escape)
            # comment and empty lines inside a continuation are dropped by Docker and do not end it
            dropped = line_start != pos and (not line.strip() or line.lstrip().startswith("#"))
            if not (continued or dropped):
                break
            line_start = end + 1
            end = _line_end(text, line_start)
        heredocs = [m.group(2) for m in _HEREDOC.finditer(text, pos, first_end)]
        for delimiter in heredocs:
            while end < len(text):
                line_start = end + 1
                end = _line_end(text, line_start)
                if text[line_start:end].strip() == delimiter:
                    break
        _instruction(text, pos, end, c, escape)
        pos = end + 1


def _instruction(text: str, pos: int, end: int, c: Collector, escape: str) -> None:
    match = _INSTRUCTION.match(text, pos, end)
    if match is None:
        return
    keyword = match.group(1).upper()
    rest = match.end()
    shell = ShellScanner(text, c)
    if keyword == "ONBUILD":
        _instruction(text, rest, end, c, escape)
    elif keyword in ("RUN", "CMD", "ENTRYPOINT"):
        if keyword == "RUN":
            rest = _RUN_FLAGS.match(text, rest, end).end()  # type: ignore[union-attr]
        _command_instruction(text, rest, end, c, shell, escape)
    elif keyword == "HEALTHCHECK":
        cmd = re.compile(r"(?:.*?[ \t])?CMD[ \t]+", re.I).match(text, rest, _line_end(text, rest))
        if cmd is not None:
            _command_instruction(text, cmd.end(), end, c, shell, escape)
    elif keyword in ("ENV", "ARG"):
        legacy = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([ \t]+)(?=\S)").match(text, rest, end)
        if keyword == "ENV" and legacy is not None:  # ENV NAME value
            name = legacy.group(1)
            c.name(legacy.start(1), legacy.end(1), name)
            value_start = legacy.end()
            if name in VISIBLE_DEVICES:
                c.devices(name, text[value_start:_line_end(text, value_start)], legacy.start(1), _line_end(text, value_start))
            _words(shell, value_start, end)
            return
        for word in _words(shell, rest, end):
            assignment = _ASSIGNMENT.match(text, word.start, word.end)
            if assignment is not None:
                shell.assignment(word, assignment)
            elif keyword == "ARG":
                shell.bare_name(word)
    elif keyword not in ("SHELL",):
        _words(shell, rest, end)  # FROM, WORKDIR, COPY, LABEL...: only $NAME references


def _words(shell: ShellScanner, pos: int, end: int) -> list[Word]:
    """Lex words (collecting their $references) without reading them as a command."""
    text = shell.text
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
            pos = _line_end(text, pos)
        else:
            line_start = False
            word, pos = shell.word(pos, end)
            if word.end == word.start:
                pos += 1
                continue
            words.append(word)
    return words


def _command_instruction(text: str, rest: int, end: int, c: Collector, shell: ShellScanner, escape: str) -> None:
    if text.startswith("[", rest):  # exec form: ["nvidia-smi", "-L"]
        try:
            node, _ = JsonScanner(text, end).value(rest)
        except MigrationError:
            node = None
        if node is not None and node.kind == "seq":
            _exec_form(text, node, c)
            return
    only_heredoc = re.compile(r"<<-?[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1[ \t]*\r?$").match(
        text, rest, _line_end(text, rest))
    if only_heredoc is not None:  # RUN <<EOF: the body is the script
        body = _line_end(text, rest) + 1
        last = text.rfind("\n", body, end)
        shell.scan(body, max(body, last))
        return
    if escape != "\\":
        return  # `# escape=\``: continuations the shell scanner would misread
    shell.scan(rest, end)


def _exec_form(text: str, node: Node, c: Collector) -> None:
    items = [item for item in node.items if item.kind == "str"]
    if not items:
        return
    first = items[0]
    if isinstance(first.value, str):
        c.command(first.start + 1, first.end - 1, first.value)
        name = first.value.rsplit("/", 1)[-1]
        if name in _SHELLS and len(items) >= 3 and items[1].value == "-c":
            scan_string(text, items[2], c, "shell")


# --- structured configs: one tree for YAML and JSON ----------------------------------------------


@dataclass(eq=False)
class Node:
    kind: str  # "map" | "seq" | "str" | "other"
    start: int  # offsets of the node's text (a string's quotes included)
    end: int
    value: Any = None  # str for "str" and "other" (the scalar as text)
    items: list[Any] = field(default_factory=list)  # map: (key Node, value Node); seq: Node
    content: int = -1  # where a scalar's characters start (after a block scalar's header line)

    def get(self, key: str) -> Node | None:
        for k, v in self.items if self.kind == "map" else ():
            if k.kind == "str" and k.value == key:
                return v  # type: ignore[no-any-return]
        return None


class JsonScanner:
    """JSON with positions; also accepts JSONC (comments, trailing commas), as editors write it."""

    _NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")

    def __init__(self, text: str, end: int | None = None) -> None:
        self.text = text
        self.end = len(text) if end is None else end

    def fail(self, pos: int, problem: str) -> MigrationError:
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return MigrationError(f"not valid JSON at line {line}, column {column}: {problem}")

    def skip(self, pos: int) -> int:
        text, end = self.text, self.end
        while pos < end:
            ch = text[pos]
            if ch in " \t\r\n\ufeff":
                pos += 1
            elif text.startswith("//", pos):
                pos = _line_end(text, pos)
            elif text.startswith("/*", pos):
                close = text.find("*/", pos + 2, end)
                if close < 0:
                    raise self.fail(pos, "unterminated comment")
                pos = close + 2
            else:
                break
        return pos

    def document(self) -> Node:
        try:
            node, pos = self.value(self.skip(0))
        except RecursionError:
            raise MigrationError("JSON nested too deeply") from None
        if self.skip(pos) != self.end:
            raise self.fail(self.skip(pos), "extra data after the document")
        return node

    def value(self, pos: int) -> tuple[Node, int]:
        text = self.text
        pos = self.skip(pos)
        if pos >= self.end:
            raise self.fail(pos, "unexpected end of file")
        ch = text[pos]
        if ch == '"':
            try:
                value, end = scanstring(text, pos + 1, False)
            except ValueError as error:
                raise self.fail(pos, str(error).split(":")[0]) from None
            return Node("str", pos, end, value, content=pos), end
        if ch in "{[":
            closer = "}" if ch == "{" else "]"
            node = Node("map" if ch == "{" else "seq", pos, pos)
            at = self.skip(pos + 1)
            while at < self.end and text[at] != closer:
                if ch == "{":
                    key, at = self.value(at)
                    if key.kind != "str":
                        raise self.fail(key.start, "object keys must be strings")
                    at = self.skip(at)
                    if not text.startswith(":", at):
                        raise self.fail(at, "expected ':'")
                    item, at = self.value(at + 1)
                    node.items.append((key, item))
                else:
                    item, at = self.value(at)
                    node.items.append(item)
                at = self.skip(at)
                if text.startswith(",", at):
                    at = self.skip(at + 1)
                elif at < self.end and text[at] != closer:
                    raise self.fail(at, f"expected ',' or '{closer}'")
            if at >= self.end:
                raise self.fail(pos, f"'{ch}' is never closed")
            node.end = at + 1
            return node, at + 1
        match = self._NUMBER.match(text, pos, self.end)
        if match is None:
            raise self.fail(pos, f"unexpected character {ch!r}")
        return Node("other", pos, match.end(), match.group(0), content=pos), match.end()


def parse_json(text: str) -> Node:
    return JsonScanner(text).document()


def _yaml_documents(text: str) -> list[Node]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        raise MigrationError("YAML files need PyYAML (pip install pyyaml)") from None
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise MigrationError(f"not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise MigrationError("YAML nested too deeply") from None
    memo: dict[int, Node] = {}

    def convert(node: Any) -> Node:
        if id(node) in memo:
            return memo[id(node)]
        start, end = node.start_mark.index, node.end_mark.index
        if isinstance(node, yaml.ScalarNode):
            content = start
            if node.style in ("|", ">"):
                content = min(_line_end(text, start) + 1, end)
            result = Node("str", start, end, node.value, content=content)
            memo[id(node)] = result
            return result
        result = Node("map" if isinstance(node, yaml.MappingNode) else "seq", start, end)
        memo[id(node)] = result
        if isinstance(node, yaml.MappingNode):
            result.items = [(convert(k), convert(v)) for k, v in node.value]
        else:
            result.items = [convert(item) for item in node.value]
        return result

    return [convert(document) for document in documents if document is not None]


def _occurrences(haystack: str, needle: str) -> list[int]:
    found, at = [], haystack.find(needle)
    while at >= 0 and needle:
        found.append(at)
        at = haystack.find(needle, at + len(needle))
    return found


def string_locator(text: str, node: Node) -> Callable[[int, int], int | None]:
    """Map a span of a scalar's decoded value to the same characters in the file: the k-th
    occurrence of those characters in the value is the k-th in the scalar's text, as long as
    both hold the same number of them (escapes and line folding never split a name)."""
    value = node.value if isinstance(node.value, str) else ""
    content = node.content if node.content >= 0 else node.start
    raw = text[content:node.end]

    def locate(start: int, end: int) -> int | None:
        needle = value[start:end]
        in_value = _occurrences(value, needle)
        in_raw = _occurrences(raw, needle)
        if start not in in_value or len(in_value) != len(in_raw):
            return None
        return content + in_raw[in_value.index(start)]

    return locate


def scan_string(text: str, node: Node, c: Collector, how: str, name: str | None = None) -> None:
    """Scan one scalar's value: as a shell script, as `NAME` / `NAME=value`, or for $references."""
    if node.kind not in ("str", "other") or not isinstance(node.value, str):
        return
    value = node.value
    inner = Collector(c.rules)
    if how == "shell":
        scan_shell(value, inner)
    elif how == "name":
        match = _NAME.fullmatch(value)
        if match is not None:
            inner.name(0, len(value), value)
    elif how == "item":  # docker-compose `- NAME=value` / `- NAME`
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(=|$)", value)
        if match is not None:
            inner.name(0, match.end(1), match.group(1))
            if match.group(2):
                rest = value[match.end():]
                if match.group(1) in VISIBLE_DEVICES:
                    inner.devices(match.group(1), rest, 0, len(value))
                _words(ShellScanner(value, inner, commands=False), match.end(), len(value))
    elif how == "value":  # an environment value: devices check and $references
        if name is not None and name in VISIBLE_DEVICES | {GPU_IDS}:
            inner.devices(name, value, 0, len(value))
        if "$" in value:
            _words(ShellScanner(value, inner, commands=False), 0, len(value))
    c.merge(inner, string_locator(text, node), node.start)


_ENV_KEYS = frozenset({"env", "environment", "envs", "env_vars", "envvars", "environment_variables",
                       "variables", "extraenv", "extra_env"})
_SHELL_KEYS = frozenset({"run", "script", "before_script", "after_script", "command", "commands",
                         "entrypoint", "args", "cmd", "setup"})


class ConfigWalker:
    """The places of a YAML/JSON config that hold environment variables or shell."""

    def __init__(self, text: str, c: Collector) -> None:
        self.text = text
        self.c = c
        self.seen: set[int] = set()
        self.accelerate = False

    def walk_documents(self, documents: list[Node]) -> None:
        self.accelerate = any(
            d.kind == "map" and (d.get("distributed_type") is not None or d.get("compute_environment") is not None)
            for d in documents
        )
        for document in documents:
            self.walk(document)

    def walk(self, node: Node) -> None:
        if id(node) in self.seen:
            return
        self.seen.add(id(node))
        if node.kind == "map":
            for key, value in node.items:
                word = key.value.lower().replace("-", "_") if key.kind == "str" else ""
                if word in _ENV_KEYS:
                    self.environment(value)
                elif word in _SHELL_KEYS:
                    self.shell(value)
                elif word == GPU_IDS and self.accelerate:
                    scan_string(self.text, value, self.c, "value", GPU_IDS)
                self.walk(value)
        elif node.kind == "seq":
            for item in node.items:
                self.walk(item)

    def environment(self, node: Node) -> None:
        if node.kind == "map":
            for key, value in node.items:
                scan_string(self.text, key, self.c, "name")
                scan_string(self.text, value, self.c, "value", key.value if key.kind == "str" else None)
        elif node.kind == "seq":
            for item in node.items:
                if item.kind == "map" and (name := item.get("name")) is not None:  # k8s: {name, value}
                    scan_string(self.text, name, self.c, "name")
                    if (value := item.get("value")) is not None:
                        scan_string(self.text, value, self.c, "value", name.value if name.kind == "str" else None)
                elif item.kind == "str":
                    scan_string(self.text, item, self.c, "item")

    def shell(self, node: Node) -> None:
        if node.kind == "str":
            scan_string(self.text, node, self.c, "shell")
        elif node.kind == "seq":
            for item in node.items:
                if item.kind == "str":
                    scan_string(self.text, item, self.c, "shell")


def _json_may_matter(text: str) -> bool:
    """A cheap look with the C parser: does the document have a key portkit reads at all?"""
    keys: set[str] = set()

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys.update(k.lower().replace("-", "_") for k, _ in pairs)
        return {}

    try:
        json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return True  # JSONC, or broken: the position-keeping scanner decides
    return bool(keys & (_ENV_KEYS | _SHELL_KEYS | {GPU_IDS}))


# --- the file kind -------------------------------------------------------------------------------


def file_type(name: str) -> str:
    path = PurePath(name)
    lower = path.name.lower()
    if lower.endswith((".sh", ".bash", ".zsh", ".ksh", ".slurm", ".sbatch")):
        return "shell"
    if lower == ".env" or lower.endswith(".env") or lower == ".deepspeed_env":  # DeepSpeed: NAME=VALUE lines
        return "dotenv"
    if lower == "dockerfile" or lower.startswith("dockerfile.") or lower.endswith(".dockerfile"):
        return "dockerfile"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    if lower.endswith(".json"):
        return "json"
    return "shell"


def collect(text: str, name: str, rules: LaunchRules) -> Collector:
    c = Collector(rules)
    kind = file_type(name)
    if kind == "shell":
        scan_shell(text, c)
    elif kind == "dotenv":
        scan_dotenv(text, c)
    elif kind == "dockerfile":
        scan_dockerfile(text, c)
    elif kind == "json":
        if _json_may_matter(text):
            ConfigWalker(text, c).walk_documents([parse_json(text)])
    else:
        ConfigWalker(text, c).walk_documents(_yaml_documents(text))
    return c


def apply_edits(text: str, edits: Iterator[Edit] | list[Edit]) -> str:
    parts, last = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < last:
            continue  # overlapping (cannot happen for names; never garble)
        parts += [text[last:edit.start], edit.new]
        last = edit.end
    parts.append(text[last:])
    return "".join(parts)


class LineIndex:
    """Offsets <-> 1-based lines and columns of one text (lines end at \\n; a \\r before it is not text)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def line(self, number: int) -> str:
        if not 0 < number <= len(self.starts):
            return ""
        start = self.starts[number - 1]
        end = self.starts[number] - 1 if number < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r")


def to_migration(text: str, c: Collector, render: bool) -> Migration:
    if not c.edits and not c.notes:
        return Migration(None, (), ())
    new_text = apply_edits(text, list(c.edits.values()))
    old_lines, new_lines = LineIndex(text), LineIndex(new_text)
    changes, findings = [], []
    for edit in c.edits.values():
        line, column = old_lines.position(edit.start)
        end_line, end_column = old_lines.position(edit.end)
        changes.append(Change(edit.rule.id, edit.message, edit.rule.safety,
                              Span(line, column, end_line, end_column),
                              old_lines.line(line), new_lines.line(line)))  # renames never add lines
    for note in c.notes.values():
        line, column = old_lines.position(note.start)
        end_line, end_column = old_lines.position(max(note.end, note.start))
        findings.append(Finding(note.rule.id, note.message, Safety.MANUAL,
                                Span(line, column, end_line, end_column), old_lines.line(line)))
    order = lambda item: (item.span.line, item.span.column, item.rule_id)  # noqa: E731
    changed = new_text != text
    return Migration(new_text if changed and render else None,
                     tuple(sorted(changes, key=order)), tuple(sorted(findings, key=order)))


def migrate_launch_file(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The launch-file kind (filekinds.py): same contract as engine.migrate_source."""
    index = launch_rules(rules)
    if not index.may_need_work(text):
        return Migration(None, (), ())
    c = collect(text, name, index)
    migration = to_migration(text, c, render)
    if migration.new_text is not None:
        again = collect(migration.new_text, name, index)
        if again.edits:
            first = next(iter(again.edits.values()))
            raise MigrationError(f"rewrite is not stable: rule {first.rule.id} would change it again (please report)")
    return migration
