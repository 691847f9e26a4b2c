"""What every launch-file format shares: the rules that apply to launch files, the edits and notes
a scan collects (at character offsets of the scanned text), and turning them into a Migration."""

from __future__ import annotations

import bisect
import fnmatch
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from portkit.model import Change, Finding, Migration, Safety, Span
from portkit.ruleset import ReplaceString, ReportCommand, Rule
from portkit.python.compiled import CompiledRules
from portkit.python.triage import pattern_words

# The variable whose device ids must be ascending on Ascend, under both its names; and the
# accelerate option / config key that accelerate exports as ASCEND_RT_VISIBLE_DEVICES on NPU hosts.
VISIBLE_DEVICES = frozenset({"CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES"})
_DEVICES_SOURCE = "CUDA_VISIBLE_DEVICES"  # the rule that renames this one owns the check
GPU_IDS = "gpu_ids"

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\+?=)")
# replace-string rules with this flow are about the collective backend; their `names` pattern,
# which on the Python side matches argparse options (`--dist-backend` -> dist_backend), also
# matches the options that pass a backend on launch lines
_BACKEND_FLOW = "backend"


def line_end(text: str, pos: int) -> int:
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline


# --- the rules that apply to launch files --------------------------------------------------------


@dataclass
class LaunchRules:
    renames: dict[str, tuple[Rule, str]] = field(default_factory=dict)  # NAME -> (rule, new name)
    reports: list[tuple[Rule, ReplaceString]] = field(default_factory=list)  # rules with a report_pattern
    commands: dict[str, tuple[Rule, str]] = field(default_factory=dict)  # command -> (rule, guidance)
    devices: Rule | None = None  # owner of the ascending-ids check
    backends: list[tuple[Rule, ReplaceString]] = field(default_factory=list)  # backend values of launch options
    images: list[tuple[str, Rule, str]] = field(default_factory=list)  # (image pattern, rule, guidance)
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
        if isinstance(spec, ReplaceString) and spec.contexts.flow == _BACKEND_FLOW and spec.contexts.names:
            index.backends.append((rule, spec))
            words.update(spec.values)
        elif isinstance(spec, ReportCommand):
            for command, guidance in spec.commands.items():
                index.commands.setdefault(command, (rule, guidance))
                words.add(command)
            for image, guidance in spec.images.items():
                index.images.append((image, rule, guidance))
                words.add(re.split(r"[:*?\[@]", image, maxsplit=1)[0])
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


@dataclass(frozen=True)
class Pending:
    """A backend value in a shell variable's value (`DIST_ARGS="--dist-backend nccl"`, `ARGS=(--backend
    nccl)`, `BACKEND=nccl`): it is converted only once the variable is seen on a launch line."""

    start: int
    end: int
    value: str
    option: str | None  # the option it follows inside the value; None for a whole value (BACKEND=nccl)


class Collector:
    """Edits and notes, at character offsets of the text being scanned. What depends on the whole
    script (a variable used on a launch line further down, a name renamed elsewhere) is kept
    until `settle`."""

    def __init__(self, rules: LaunchRules) -> None:
        self.rules = rules
        self.edits: dict[tuple[int, int], Edit] = {}
        self.notes: dict[tuple[int, str, str], Note] = {}
        self.pending: dict[str, list[Pending]] = {}  # variable -> backend values in its value
        self.on_launch: set[str] = set()  # variables expanded among a launch line's arguments
        self.as_option: dict[str, str] = {}  # variable -> the backend option whose value it is
        self.literals: list[tuple[int, int, str]] = []  # `$NAME` in '...' or a quoted here-document
        self.seen: set[str] = set()  # names met in variable positions
        self.renamed: set[str] = set()  # names renamed somewhere in this text

    def note(self, start: int, end: int, rule: Rule, message: str) -> None:
        self.notes.setdefault((start, rule.id, message), Note(start, end, rule, message))

    def edit(self, edit: Edit) -> None:
        self.edits.setdefault((edit.start, edit.end), edit)

    def name(self, start: int, end: int, name: str) -> None:
        """An environment variable name in a variable position."""
        self.seen.add(name)
        hit = self.rules.renames.get(name)
        if hit is not None:
            rule, new = hit
            self.edit(Edit(start, end, new, rule, f"{name} → {new}"))
            self.renamed.add(name)
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

    def literal(self, start: int, end: int, name: str) -> None:
        """`$NAME` in text the shell does not expand here ('...', a quoted here-document): never
        changed, but worth a person's look when this script renames NAME (see `settle`)."""
        if name in self.rules.renames:
            self.literals.append((start, end, name))

    def backend_option(self, option: str) -> bool:
        """Whether an option of a launch line passes the collective backend (`--dist-backend`)."""
        name = option.lstrip("-").replace("-", "_")
        return bool(name) and any(spec.contexts.names is not None and spec.contexts.names.search(name)
                                  for _, spec in self.rules.backends)

    def is_backend_value(self, value: str) -> bool:
        return any(value in spec.values for _, spec in self.rules.backends)

    def backend(self, start: int, end: int, option: str, value: str, via: str = "") -> None:
        """The backend `value` at text[start:end], passed to a launched program as `option`: the
        rule that converts the Python side's backend converts it the same way. A rule whose
        replacement is an expression (the accelerator target's None) cannot be written on a
        command line: the value is reported instead."""
        name = option.lstrip("-").replace("-", "_")
        for rule, spec in self.rules.backends:
            new = spec.values.get(value)
            if new is None or spec.contexts.names is None or not spec.contexts.names.search(name):
                continue
            if spec.expressions or spec.report_only:
                self.note(start, end, rule, f"{option} {value}{via}: the ported Python leaves the backend to "
                          "torch.distributed (backend=None: hccl on NPU, nccl on CUDA), but this launch line still "
                          "asks for nccl; drop the option where the script's default was converted, or pass the "
                          "backend of the device the job runs on")
            else:
                self.edit(Edit(start, end, new, rule, f"{option} {value} → {new}{via}: the collective backend "
                                                      "the launched script passes to torch.distributed"))
            return

    def image(self, start: int, end: int, reference: str, via: str = "") -> None:
        """A Dockerfile base image (`repository[:tag]`, registry defaults removed)."""
        repository, tag = split_image(reference)
        for pattern, rule, guidance in self.rules.images:
            target = f"{repository}:{tag}" if ":" in pattern else repository
            if fnmatch.fnmatchcase(target, pattern):
                self.note(start, end, rule, f"FROM {reference}{via}: {guidance}")
                return

    def settle(self) -> None:
        """What needs the whole script: backend values held in variables that a launch line uses,
        and literal mentions of names that this script renames (or already uses under the new name)."""
        for variable, found in self.pending.items():
            for p in found:
                if p.option is not None and (variable in self.on_launch or variable in self.as_option):
                    self.backend(p.start, p.end, p.option, p.value, f" (in ${variable}, used on a launch line)")
                elif p.option is None and variable in self.as_option:
                    self.backend(p.start, p.end, self.as_option[variable], p.value,
                                 f" (the value of ${variable})")
        self.pending.clear()
        edited = {start for start, _ in self.edits}
        for start, end, name in self.literals:
            rule, new = self.rules.renames[name]
            if start not in edited and (name in self.renamed or new in self.seen):
                self.note(start, end, rule, f"{name} is {new} elsewhere in this script, but here it is literal "
                          "text ('...' or a quoted here-document) that portkit does not change: if it runs as "
                          "shell later (ssh, eval, a generated script), rename it by hand")
        self.literals.clear()

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


def split_image(reference: str) -> tuple[str, str]:
    """`docker.io/library/ubuntu:22.04` -> ("ubuntu", "22.04"); a digest is kept as the tag's stand-in."""
    repository, tag = reference, "latest"
    at = repository.find("@")
    if at >= 0:
        repository, tag = repository[:at], repository[at + 1:]
    colon = repository.rfind(":")
    if colon > repository.rfind("/"):
        repository, tag = repository[:colon], repository[colon + 1:]
    for registry in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if repository.startswith(registry):
            repository = repository[len(registry):]
            break
    return repository, tag


# --- the edits applied, and what they become in a Migration ------------------------------------


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
