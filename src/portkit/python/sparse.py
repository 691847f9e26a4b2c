"""Parse with libcst only the statements that can matter.

A libcst parse costs about ten stdlib parses, and most files that need a change need it in a
few places: a 3,000-line modeling file with one `torch.cuda.synchronize()`. Before libcst
sees a file, every top-level statement (and every statement of a kept class: its methods)
that cannot matter to any rule has its lines replaced by comment lines (`GAP`): libcst parses a comment line for almost nothing, line numbers stay
as they were (so every position portkit reports is the original one), and a comment is never
changed by a rule, so the rewritten text comes back with its gaps where they were and the
original lines go back in their place (`restore`).

A statement is kept when any of its lines holds a trigger of the active rules (the same
trigger lines the rewriter uses to skip quiet statements, the file's own aliases of CUDA
modules included), when it holds an import (the rewriter's import map is file-wide), when it
shares a line with a kept statement, and at the top level when it follows an import or
starts the module (where portkit inserts `import torch_npu`, and the statement that insertion
is reported at). The first and last statements of every block stay, so no block is empty and
every kept statement ends on the line it ended on (an event on a class spans all of it). What is left out cannot produce an event, and nothing the rewriter
decides depends on it; `tests/test_sparse.py` holds that to the full parse on every example,
fixture and rule example.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import accumulate

from portkit.model import MigrationError
from portkit.python.statements import first_line, source_lines, trigger_lines
from portkit.python.lines import TORCH_ATTRIBUTE
from portkit.python.triage import import_bindings

GAP = "#@portkit-gap@"
_IMPORT_WORD = re.compile(r"\bimport\b")


@dataclass(frozen=True)
class SparseSource:
    text: str  # the source with the lines of left-out statements replaced by GAP lines
    tree: ast.Module  # the stdlib tree of `text`: the kept statements
    gaps: tuple[str, ...]  # the original lines behind the GAP lines, in order, with their line ends


def sparse_source(text: str, tree: ast.Module, trigger_regex: Callable[[Sequence[str]], re.Pattern[str]],
                  is_alias: Callable[[str], bool]) -> SparseSource | None:
    """The sparse form of `text`, or None when leaving statements out would not pay (or the
    text already holds a GAP line, which would make the restore ambiguous)."""
    if len(tree.body) < 2 or GAP in text:
        return None
    lines = source_lines(text, keepends=True)
    starts = [0, *accumulate(len(line) for line in lines)]  # offset of each line's first character
    import_lines = sorted({bisect.bisect_right(starts, m.start()) for m in _IMPORT_WORD.finditer(text)})
    imports = list(_imports(tree.body, import_lines))
    # the file's own names for CUDA modules (`import torch.cuda as tc`) are triggers too
    aliases = [name for name, qualified in import_bindings(imports) if is_alias(qualified)]
    counts = trigger_lines(text, trigger_regex(aliases))
    selection = _Selection(lines, import_lines, counts)
    star = any(isinstance(i, ast.ImportFrom) and any(a.name == "*" for a in i.names) for i in imports)
    if star and (use := TORCH_ATTRIBUTE.search(text)) is not None:
        # `torch` from `import *` is the torch module only where the file spells `torch.`
        # (transform._torch_from_star_import): the statement that does stays
        selection.forced_line = bisect.bisect_right(starts, use.start())
    selection.choose(tree.body, top=True)
    if not selection.gaps:
        return None
    gaps: list[str] = []
    for first, last in sorted(selection.gaps):
        for number in range(first - 1, last):
            original = lines[number]
            gaps.append(original)
            lines[number] = GAP + original[len(original.rstrip("\r\n")):]
    sparse_text = "".join(lines)
    try:
        sparse_tree = ast.parse(sparse_text)
    except SyntaxError:  # never expected: whole statements became comments; be safe anyway
        return None
    return SparseSource(sparse_text, sparse_tree, tuple(gaps))


@dataclass
class _Selection:
    """Which statements' lines become gaps: top-level statements, and inside every kept
    compound statement (a class, a def, an if…) the statements of its blocks, so a file that
    is one big class still leaves out the methods that cannot matter."""

    lines: Sequence[str]
    import_lines: Sequence[int]
    counts: Sequence[int]  # prefix counts of trigger lines (statements.trigger_lines)
    forced_line: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)

    def _matters(self, first: int, last: int) -> bool:
        has_trigger = self.counts[min(last, len(self.counts) - 1)] > self.counts[first - 1]
        forced = self.forced_line is not None and first <= self.forced_line <= last
        return has_trigger or forced or _holds_any(first, last, self.import_lines)

    def choose(self, body: Sequence[ast.stmt], *, top: bool) -> None:
        ranges = [_range(s) for s in body]
        keep = [self._matters(first, last) for first, last in ranges]
        # never empty, and a kept compound statement ends on the line it ended on (its span)
        keep[0] = keep[-1] = True
        if top:
            for index in _insertion_points(body):
                keep[index] = True  # where an inserted import goes, and is reported
        _keep_shared_lines(ranges, keep)
        for statement, (first, last), kept in zip(body, ranges, keep):
            if not kept:
                self.gaps.append((first, last))
                continue
            for block in _blocks(statement):
                if self._indented(block[0]):  # not `if ok: x = 1` on one line
                    self.choose(block, top=False)

    def _indented(self, statement: ast.stmt) -> bool:
        """The statement starts its line: the block holding it is an indented one."""
        return self.lines[statement.lineno - 1][:statement.col_offset].strip() == ""


def _blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        block = getattr(statement, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for part in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
        if part.body:
            yield part.body


def _insertion_points(body: Sequence[ast.stmt]) -> list[int]:
    """Statements transform.Migrator._insertion_index may insert an import before: the one
    after the first top-level torch import, else the first after the docstring and
    `__future__` imports."""
    for index, statement in enumerate(body):
        if _imports_torch(statement):
            return [index + 1] if index + 1 < len(body) else []
    index = 0
    while index < len(body) and (_is_docstring(body[index], index) or _is_future(body[index])):
        index += 1
    return [index] if index < len(body) else []


def _imports_torch(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Import):
        return any(a.name.split(".")[0] == "torch" for a in statement.names)
    return isinstance(statement, ast.ImportFrom) and not statement.level and (
        (statement.module or "").split(".")[0] == "torch")


def _is_docstring(statement: ast.stmt, index: int) -> bool:
    return index == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _is_future(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.ImportFrom) and statement.module == "__future__"


def restore(sparse: SparseSource, generated: str) -> str | None:
    """The rewritten file: `generated` (libcst's output for the sparse text) with the original
    lines back in place of the GAP lines; None if the gaps did not come back one for one."""
    lines = generated.splitlines(keepends=True)
    gaps = iter(sparse.gaps)
    count = 0
    for i, line in enumerate(lines):
        if line.rstrip("\r\n") == GAP:
            original = next(gaps, None)
            if original is None:
                return None
            lines[i] = original
            count += 1
    if count != len(sparse.gaps):
        return None
    return "".join(lines)


def _range(node: ast.stmt) -> tuple[int, int]:
    """First line (decorators included) and last line of a statement."""
    return first_line(node), node.end_lineno or node.lineno


def _holds_any(first: int, last: int, lines: Sequence[int]) -> bool:
    at = bisect.bisect_left(lines, first)
    return at < len(lines) and lines[at] <= last


def _keep_shared_lines(ranges: Sequence[tuple[int, int]], keep: list[bool]) -> None:
    """`a = (1,\\n 2); b = cuda()`: statements that share a line are kept or left out together."""
    changed = True
    while changed:
        changed = False
        for i in range(len(ranges) - 1):
            if ranges[i][1] >= ranges[i + 1][0] and keep[i] != keep[i + 1]:
                keep[i] = keep[i + 1] = True
                changed = True


def _imports(body: Sequence[ast.stmt], import_lines: Sequence[int]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements, at any depth, found by descending only into the statements
    whose lines hold the word `import` (an expression never holds an import statement)."""
    for statement in body:
        if not _holds_any(*_range(statement), import_lines):
            continue
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield statement
            continue
        for block in _blocks(statement):
            yield from _imports(block, import_lines)


def plain_indentation(text: str, tree: ast.Module) -> tuple[str, dict[int, int]]:
    """`text` without the form feeds of its indentations (nor the blanks before the last one:
    the tokenizer counts columns from there, so the meaning is the same), and how many
    characters each such line lost. libcst drops them, or refuses a block whose indentation
    starts with one; `reconcile` puts them back. Lines inside strings keep theirs."""
    if "\f" not in text:
        return text, {}
    inside = {number for node in ast.walk(tree) if isinstance(node, (ast.Constant, ast.JoinedStr))
              and (node.end_lineno or node.lineno) > node.lineno
              for number in range(node.lineno + 1, (node.end_lineno or node.lineno) + 1)}
    lines = source_lines(text, keepends=True)
    shifts: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        cut = line.rfind("\f", 0, len(line) - len(line.lstrip(" \t\f"))) + 1
        # a blank line keeps its form feed (libcst takes it), and no line may come to start
        # with the "\n" that would join a lone CR before it into one CRLF
        if cut and number not in inside and line[cut:].strip(" \t\r\n"):
            lines[number - 1] = line[cut:]
            shifts[number] = cut
    return ("".join(lines), shifts) if shifts else (text, {})


# --- fidelity: libcst's output back to the original bytes on every line no rule touched ----------
#
# libcst gives back the text it parsed byte for byte, with a few exceptions: a form feed in the
# indentation of a statement line, a backslash continuation before the colon of `except`,
# indented comment lines and blank lines at the end of a file, the last line end of a file
# (a lone CR). `reconcile` compares the original with the rewritten text line by line and
# puts back every original line that no change covers when what stands in its place differs
# from it only in such whitespace, comments and continuations; any other difference on a line
# no change covers is refused (MigrationError), so it can never reach the user's file.

Opcode = tuple[str, int, int, int, int]
_COMMENT_OR_BLANK = re.compile(r"[ \t\f]*(#[^\r\n]*)?(\r\n|\r|\n)?")
_LINE_END = re.compile(r"(\r\n|\r|\n)\Z")
_FILLER = re.compile(r"\\(\r\n|\r|\n)|[ \t\f\r\n]+")
_LAYOUT = re.compile(r"(?:[ \t\f]|\\(?:\r\n|\r|\n))+")
_COLON_AT_END = re.compile(r":(?P<tail>[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?)\Z")
_CONTINUED = re.compile(r"\\(?:\r\n|\r|\n)\Z")
_COLON_LINE = re.compile(r"[ \t\f]*:[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?")
_BEFORE_COLON = re.compile(r"(?<=\S)(?P<gap>(?:[ \t\f]|\\(?:\r\n|\r|\n))+)" + _COLON_AT_END.pattern)


def reconcile(old_text: str, new_text: str, touched: Set[int], inserted: Set[str]) -> tuple[str, list[Opcode]]:
    """`new_text` with the original line back wherever no change covers it (`touched`: the
    original line numbers changes cover; `inserted`: the text of lines portkit adds), and the
    opcodes that pair the original lines (i) with those of the result (j)."""
    ending = _LINE_END.search(old_text)
    if ending and not _LINE_END.search(new_text):
        new_text += ending.group()  # libcst drops the last line end of a file that uses lone CRs
    old, new = source_lines(old_text, keepends=True), source_lines(new_text, keepends=True)
    out: list[str] = []
    opcodes: list[Opcode] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            opcodes.append(("equal", i1, i2, len(out), len(out) + i2 - i1))
            out += new[j1:j2]
            continue
        for kind, olds, news in _Hunk(old, new, i1, i2, j1, j2, touched, inserted).pieces():
            opcodes.append((kind, olds.start, olds.stop, len(out), len(out) + len(news)))
            out += news
    return "".join(out), opcodes


@dataclass
class _Hunk:
    """One place where the texts differ: old[lo:hi] became new[new_lo:new_hi]. Settled from
    both ends inwards: lines portkit added stay; a run of lines no change covers gets its
    original lines back if some lines at that end of the new text say the same thing; what is
    left starts and ends with lines changes cover, and is taken as rewritten."""

    old: Sequence[str]
    new: Sequence[str]
    lo: int
    hi: int
    new_lo: int
    new_hi: int
    touched: Set[int]
    inserted: Set[str]

    def pieces(self) -> list[tuple[str, range, list[str]]]:
        """("equal", old lines, the original lines back) and ("replace", old lines, new lines),
        in order."""
        head = self._added(front=True)
        tail = self._added(front=False)
        if not any(i + 1 in self.touched for i in range(self.lo, self.hi)):
            originals = list(self.old[self.lo:self.hi])
            if _essence(originals) != _essence(self.new[self.new_lo:self.new_hi]):
                raise self._untouched(self.lo)
            middle = [("equal", range(self.lo, self.hi), originals)]
        else:
            head += self._untouched_run(front=True)
            tail += self._untouched_run(front=False)
            olds = range(self.lo, self.hi)
            middle = [("replace", olds, self._changed(olds, list(self.new[self.new_lo:self.new_hi])))]
        return [piece for piece in (*head, *middle, *reversed(tail)) if piece[1] or piece[2]]

    def _added(self, *, front: bool) -> list[tuple[str, range, list[str]]]:
        """The import lines portkit added, at one end of the new lines."""
        taken: list[tuple[str, range, list[str]]] = []
        while self.new_lo < self.new_hi:
            line = self.new[self.new_lo if front else self.new_hi - 1]
            if line.strip() not in self.inserted:
                break
            boundary = self.lo if front else self.hi
            taken.append(("replace", range(boundary, boundary), [line]))
            if front:
                self.new_lo += 1
            else:
                self.new_hi -= 1
        return taken

    def _untouched_run(self, *, front: bool) -> list[tuple[str, range, list[str]]]:
        """The lines no change covers at one end: back as they were, with as many lines of the
        new text at that end as say the same thing (none for comment lines libcst dropped)."""
        count = 0
        while count < self.hi - self.lo and (self.lo + count if front else self.hi - 1 - count) + 1 not in self.touched:
            count += 1
        if not count:
            return []
        run = range(self.lo, self.lo + count) if front else range(self.hi - count, self.hi)
        available = list(self.new[self.new_lo:self.new_hi])
        taken = _matching_end(available, _essence([self.old[i] for i in run]), count, front)
        if taken is None:  # joined to a changed line, say: left to _changed
            return []
        if front:
            self.lo, self.new_lo = self.lo + count, self.new_lo + taken
        else:
            self.hi, self.new_hi = self.hi - count, self.new_hi - taken
        return [("equal", run, [self.old[i] for i in run])]

    def _changed(self, olds: range, news: list[str]) -> list[str]:
        """The rewritten lines of a change, with the layout libcst dropped put back
        (`_restore_layout`); a line in there that no change covers must come out as it was."""
        units = _units(self.old, olds)
        if len(olds) == len(news):
            result = [_restore_layout(self.old[i], line) for i, line in zip(olds, news)]
        elif len(units) == len(news):  # libcst joined each `header \` + `:` into one line
            result = [part for unit, line in zip(units, news)
                      for part in source_lines(_restore_layout("".join(self.old[i] for i in unit), line), keepends=True)]
        else:
            result = source_lines(_restore_layout("".join(self.old[i] for i in olds), "".join(news)), keepends=True)
        loose = [i for i in olds if i + 1 not in self.touched]
        if loose:
            if len(olds) == len(news):
                result = [self.old[i] if i in loose and _essence([self.old[i]]) == _essence([line]) else line
                          for i, line in zip(olds, result)]
            kept = iter(result)
            missing = [i for i in loose if not any(line == self.old[i] for line in kept)]
            if missing:
                raise self._untouched(missing[0])
        return result

    def _untouched(self, index: int) -> MigrationError:
        return MigrationError(f"the rewrite would change line {index + 1}, which no change covers (please report)")


def _units(lines: Sequence[str], olds: range) -> list[range]:
    """`olds` in groups that libcst prints as one line each: a header continued with
    backslashes up to a line that holds only its colon is one group, any other line one."""
    units = []
    i = olds.start
    while i < olds.stop:
        j = i
        while j + 1 < olds.stop and _CONTINUED.search(lines[j]) and not _COLON_LINE.fullmatch(lines[j]):
            j += 1
        end = j if j > i and _COLON_LINE.fullmatch(lines[j]) else i
        units.append(range(i, end + 1))
        i = end + 1
    return units


def _matching_end(lines: Sequence[str], essence: str, preferred: int, front: bool) -> int | None:
    """How many lines at one end of `lines` say `essence`: `preferred` if they do, else the
    fewest; None if no number of them does."""
    def end(k: int) -> Sequence[str]:
        return lines[:k] if front else lines[len(lines) - k:]

    if preferred <= len(lines) and _essence(end(preferred)) == essence:
        return preferred
    said = ""
    for k in range(len(lines) + 1):
        if k:
            line = lines[k - 1] if front else lines[len(lines) - k]
            part = "" if _COMMENT_OR_BLANK.fullmatch(line) else _FILLER.sub("", line)
            said = said + part if front else part + said
        if said == essence:
            return k
        if len(said) > len(essence):
            return None
    return None


def _essence(lines: Sequence[str]) -> str:
    """What is left of some lines without comment lines, whitespace and line continuations."""
    return "".join(_FILLER.sub("", line) for line in lines if not _COMMENT_OR_BLANK.fullmatch(line))


def _restore_layout(original: str, rewritten: str) -> str:
    """`rewritten` (one or more lines) with the layout libcst dropped from `original` put back:
    the form feeds of the first line's indentation (the tokenizer counts columns from the last
    one), and the blanks and backslash continuations before the colon that ends a header
    (`except E \\` + newline + `:` comes back from libcst as `except E:`)."""
    rewritten = _with_form_feeds(original, rewritten)
    gap = _BEFORE_COLON.search(original)
    colon = _COLON_AT_END.search(rewritten)
    if gap is None or colon is None or gap["tail"] != colon["tail"] or _LAYOUT.fullmatch(rewritten[colon.start() - 1:colon.start()]):
        return rewritten
    return rewritten[: colon.start()] + gap["gap"] + rewritten[colon.start():]


def _with_form_feeds(original: str, line: str) -> str:
    indent = original[: len(original) - len(original.lstrip(" \t\f"))]
    if "\f" not in indent:
        return line
    effective = indent[indent.rfind("\f") + 1:]
    current = line[: len(line) - len(line.lstrip(" \t\f"))]
    return indent + line[len(current):] if current == effective else line
