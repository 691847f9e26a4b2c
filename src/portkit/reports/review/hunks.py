"""Diff hunks: what the review page and the Markdown show of a file. With the original and
migrated text, full hunks with `CONTEXT_LINES` of context (`_hunks_from_sources`); without, each
change's own lines from the report (`_hunks_from_report`). Each change and manual item is
attached to the row its note follows."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from portkit.model import Change, FileResult, FileStatus
from portkit.reports.review.common import Entry, Sources, _entries, _merged
from portkit.reports.review.syntax import Paint, Token, _at, _highlight_lines, _highlighter

CONTEXT_LINES = 3
CTX, DEL, ADD = 0, 1, 2


@dataclass
class _Row:
    kind: int
    old: int | None  # line number in the original
    new: int | None  # line number in the migrated text
    text: str
    tokens: list[Token]
    split: bool = False  # a changed row that starts a block of its own (see `_replace_rows`)


@dataclass
class _Hunk:
    rows: list[_Row]
    notes: dict[int, list[int]]  # row index -> entry indices shown after that row
    old_after: int = 0  # for a side with no lines: the line it follows (as `diff -u` writes it)
    new_after: int = 0

    def header(self) -> tuple[int, int, int, int]:
        olds = [r.old for r in self.rows if r.old is not None]
        news = [r.new for r in self.rows if r.new is not None]
        return olds[0] if olds else self.old_after, len(olds), news[0] if news else self.new_after, len(news)

    def extend(self, rows: list[_Row], notes: dict[int, list[int]]) -> None:
        """Append the rows (and their notes) of the next group, on the lines right after; its
        changed lines are a block of their own (its notes follow it)."""
        base = len(self.rows)
        if rows:
            rows[0].split = rows[0].kind != CTX
        self.rows += rows
        for t, ids in notes.items():
            self.notes.setdefault(base + t, []).extend(ids)


def _block_ends(rows: Sequence[_Row]) -> list[int]:
    """For each row, the last row of the block of changed rows it belongs to (itself for
    context). A block is a run of changed rows, cut before each row marked `split`."""
    ends = list(range(len(rows)))
    end: int | None = None
    for k in range(len(rows) - 1, -1, -1):
        if rows[k].kind == CTX:
            end = None
            continue
        if end is None:
            end = k
        ends[k] = end
        if rows[k].split:
            end = None
    return ends


def _inserted_row(rows: Sequence[_Row], lines: Sequence[str], before: int) -> int | None:
    """The last row of the added lines `lines` (an insertion's text): the occurrence nearest
    before row `before` (an insertion's span is the statement it precedes, possibly after blank
    lines), else the first one after it; None when the rows do not hold them."""
    wanted = [line.strip() for line in lines]

    def holds(k: int) -> bool:
        return k + len(wanted) <= len(rows) and all(
            rows[k + t].kind == ADD and rows[k + t].text.strip() == text for t, text in enumerate(wanted))

    starts = [k for k, row in enumerate(rows) if row.kind == ADD and row.text.strip() == wanted[0] and holds(k)]
    earlier = [k for k in starts if k < before]
    start = earlier[-1] if earlier else starts[0] if starts else None
    return None if start is None else start + len(wanted) - 1


def _attach(rows: Sequence[_Row], entries: Sequence[Entry]) -> dict[int, list[int]]:
    """Where each entry's note goes: after the run of changed lines it explains, or after the
    line a manual item is on."""
    if not rows:
        return {}
    ends = _block_ends(rows)
    with_old = [i for i, row in enumerate(rows) if row.old is not None]  # original lines ascend
    old_numbers = [rows[i].old or 0 for i in with_old]
    row_of = dict(zip(old_numbers, with_old))

    def position(line: int) -> int:  # the first row at or after original line `line`
        k = bisect.bisect_left(old_numbers, line)
        return with_old[k] if k < len(with_old) else len(rows)

    notes: dict[int, list[int]] = {}
    for index, entry in enumerate(entries):
        line = entry.span.line
        target: int | None = None
        if isinstance(entry, Change) and entry.old_text == "":  # an inserted line: under it
            inserted = _inserted_row(rows, entry.new_text.split("\n"), position(line))
            if inserted is not None:
                target = ends[inserted]
        elif isinstance(entry, Change):
            last = max(entry.span.end_line, line)
            hits = [row_of[n] for n in range(line, last + 1) if n in row_of and rows[row_of[n]].kind == DEL]
            if hits:
                target = ends[hits[-1]]
        if target is None:
            p = min(position(line), len(rows) - 1)
            target = ends[p]
        notes.setdefault(target, []).append(index)
    return notes


def _line_opcodes(old: Sequence[str], new: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes, quicker: the common head and tail are matched before difflib runs, and
    difflib's "popular line" heuristic (autojunk) is on, since ported files differ in few lines."""
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    ops: list[tuple[str, int, int, int, int]] = [("equal", 0, head, 0, head)] if head else []
    middle = difflib.SequenceMatcher(None, old[head:len(old) - tail], new[head:len(new) - tail])
    ops += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in middle.get_opcodes()
            if i2 > i1 or j2 > j1]
    if tail:
        ops.append(("equal", len(old) - tail, len(old), len(new) - tail, len(new)))
    return ops


def _opcode_rows(opcodes: Sequence[tuple[str, int, int, int, int]], old: Sequence[str], new: Sequence[str],
                 old_first: int, new_first: int, old_tokens: list[list[Token]] | None = None,
                 new_tokens: list[list[Token]] | None = None) -> list[_Row]:
    """The rows of a line diff: context lines, and for each other opcode its deleted then its
    added lines. Line numbers count from `old_first` and `new_first`; rows get their tokens
    from `old_tokens` and `new_tokens` (one list per line) when given, else none yet."""

    def tokens(table: list[list[Token]] | None, index: int, text: str) -> list[Token]:
        return [] if table is None else _at(table, index, text)

    rows: list[_Row] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            rows += [_Row(CTX, old_first + i, new_first + j1 + (i - i1), old[i], tokens(old_tokens, i, old[i]))
                     for i in range(i1, i2)]
            continue
        for number, (dels, adds) in enumerate(_replace_blocks(old, new, i1, i2, j1, j2)):
            block = [_Row(DEL, old_first + i, None, old[i], tokens(old_tokens, i, old[i])) for i in dels]
            block += [_Row(ADD, None, new_first + j, new[j], tokens(new_tokens, j, new[j])) for j in adds]
            block[0].split = number > 0
            rows += block
    return rows


_PAIR_CUTOFF = 0.6  # how alike (difflib's ratio) a deleted and an added line must be to be shown side by side
_PAIR_LIMIT = 2_500  # deleted × added lines of one block above which lines are not paired


def _pairs(old: Sequence[str], new: Sequence[str], i1: int, i2: int, j1: int, j2: int,
           out: list[tuple[int, int]]) -> None:
    """Append to `out`, in order, the pairs (i, j) of alike lines of old[i1:i2] and new[j1:j2]:
    the most alike pair, then the same on each side of it (as difflib.Differ pairs lines)."""
    best, where = _PAIR_CUTOFF, None
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    for j in range(j1, j2):
        matcher.set_seq2(new[j])
        for i in range(i1, i2):
            matcher.set_seq1(old[i])
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best and matcher.ratio() > best:
                best, where = matcher.ratio(), (i, j)
    if where is None:
        return
    _pairs(old, new, i1, where[0], j1, where[1], out)
    out.append(where)
    _pairs(old, new, where[0] + 1, i2, where[1] + 1, j2, out)


def _replace_blocks(old: Sequence[str], new: Sequence[str], i1: int, i2: int, j1: int,
                    j2: int) -> list[tuple[list[int], list[int]]]:
    """old[i1:i2] replaced by new[j1:j2] as blocks of (deleted, added) line indices: runs of
    alike lines, which the page shows side by side, and the lines between them, so that a line
    only added (`import torch_npu` above a changed import) is a block of its own, with its note
    under it, and is not shown against a line it has nothing to do with."""
    pairs: list[tuple[int, int]] = []
    if 0 < (i2 - i1) * (j2 - j1) <= _PAIR_LIMIT:
        _pairs(old, new, i1, i2, j1, j2, pairs)
    if not pairs:
        return [(list(range(i1, i2)), list(range(j1, j2)))]
    blocks: list[tuple[list[int], list[int]]] = []
    i, j = i1, j1
    run = False  # whether the last block is a run of pairs that the next pair may extend
    for pi, pj in pairs:
        if i < pi or j < pj:
            blocks.append((list(range(i, pi)), list(range(j, pj))))
            run = False
        if not run:
            blocks.append(([], []))
        blocks[-1][0].append(pi)
        blocks[-1][1].append(pj)
        run, i, j = True, pi + 1, pj + 1
    if i < i2 or j < j2:
        blocks.append((list(range(i, i2)), list(range(j, j2))))
    return blocks


def _hunks_from_sources(result: FileResult, old: str, new: str) -> list[_Hunk]:
    """Full hunks: `CONTEXT_LINES` of context around every change and manual item. Only the
    lines shown are highlighted (tokenizing whole files would cost more than the rest)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    rows = _opcode_rows(_line_opcodes(old_lines, new_lines), old_lines, new_lines, 1, 1)
    notes = _attach(rows, _entries(result))
    wanted = sorted({i for i, row in enumerate(rows) if row.kind != CTX} | set(notes))
    windows = _merged(((max(0, i - CONTEXT_LINES), min(len(rows), i + CONTEXT_LINES + 1)) for i in wanted), 0)
    shown = [row for low, high in windows for row in rows[low:high]]
    paint = _highlighter(result.path)
    old_tokens = _highlight_lines(old, old_lines, {r.old for r in shown if r.kind != ADD and r.old is not None}, paint)
    new_tokens = _highlight_lines(new, new_lines, {r.new for r in shown if r.kind == ADD and r.new is not None}, paint)
    for row in shown:
        number = (row.new if row.kind == ADD else row.old) or 0
        row.tokens = (new_tokens if row.kind == ADD else old_tokens).get(number) or [row.text]
    hunks = []
    old_after = new_after = 0
    previous = 0
    for low, high in windows:
        for row in rows[previous:low]:
            old_after = row.old if row.old is not None else old_after
            new_after = row.new if row.new is not None else new_after
        previous = low
        hunks.append(_Hunk(rows[low:high], {i - low: ids for i, ids in notes.items() if low <= i < high},
                           old_after, new_after))
    return hunks


@dataclass
class _Group:
    """Lines that the report shows together: a change's (or overlapping changes') original and
    migrated lines, an insertion, or the line of a manual item."""

    start: int  # first original line
    end: int  # last original line (start - 1 for an insertion)
    old: dict[int, str]
    new: list[str]
    entries: list[int]
    insert: bool = False

    def absorb(self, start: int, end: int, old_lines: list[str], new_lines: list[str], index: int) -> None:
        """Take in a change to some of the same lines: they are shown once."""
        for offset, text in enumerate(old_lines):
            self.old.setdefault(start + offset, text)
        if end - start > self.end - self.start:
            self.new = new_lines
        elif start < self.start or end > self.end:  # partial overlap: keep both
            self.new = self.new + new_lines
        self.start, self.end = min(self.start, start), max(self.end, end)
        self.entries.append(index)


def _change_groups(entries: Sequence[Entry]) -> tuple[list[_Group], list[_Group]]:
    """The changes' groups in entry order, and those of them that modify lines (an insertion is
    a group of its own; changes to the same lines share one group)."""
    groups: list[_Group] = []
    modify: list[_Group] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Change):
            continue
        if entry.old_text == "":
            groups.append(_Group(entry.span.line, entry.span.line - 1, {}, entry.new_text.split("\n"), [index], True))
            continue
        old_lines = entry.old_text.split("\n")
        start = entry.span.line
        end = start + len(old_lines) - 1
        new_lines = entry.new_text.split("\n") if entry.new_text != "" else []
        owner = next((g for g in modify if start <= g.end and g.start <= end), None)
        if owner is not None:
            owner.absorb(start, end, old_lines, new_lines, index)
        else:
            group = _Group(start, end, {start + k: t for k, t in enumerate(old_lines)}, new_lines, [index])
            modify.append(group)
            groups.append(group)
    return groups, modify


def _manual_groups(entries: Sequence[Entry], modify: Sequence[_Group]) -> list[_Group]:
    """A group for each line with manual items that no change's group already shows."""
    by_line: dict[int, _Group] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, Change):
            continue
        line = entry.span.line
        owner = next((g for g in modify if g.start <= line <= g.end), None) or by_line.get(line)
        if owner is not None:
            owner.entries.append(index)
        else:
            by_line[line] = _Group(line, line, {line: entry.line_text}, [entry.line_text], [index])
    return list(by_line.values())


def _group_rows(group: _Group, entries: Sequence[Entry], shift: int, paint: Paint) -> list[_Row]:
    """A group's rows; migrated line numbers are the original ones shifted by `shift`."""
    old_lines = [group.old.get(n, "") for n in range(group.start, group.end + 1)]
    if group.insert:
        tokens = paint("\n".join(group.new))
        return [_Row(ADD, None, group.start + shift + k, t, _at(tokens, k, t)) for k, t in enumerate(group.new)]
    if not any(isinstance(entries[i], Change) for i in group.entries):  # a manual item's line
        tokens = paint(old_lines[0])
        return [_Row(CTX, group.start, group.start + shift, old_lines[0], _at(tokens, 0, old_lines[0]))]
    matcher = difflib.SequenceMatcher(None, old_lines, group.new, autojunk=False)
    return _opcode_rows(matcher.get_opcodes(), old_lines, group.new, group.start, group.start + shift,
                        paint("\n".join(old_lines)), paint("\n".join(group.new)))


def _hunks_from_report(result: FileResult) -> list[_Hunk]:
    """Hunks from the report alone: each change's original and migrated line(s) (`old_text`,
    `new_text`), changes on the same lines shown once, and each manual item's line; groups on
    adjacent lines form one hunk. Migrated line numbers are the original ones shifted by the
    lines added or removed above."""
    entries = _entries(result)
    paint = _highlighter(result.path)
    groups, modify = _change_groups(entries)
    groups += _manual_groups(entries, modify)
    groups.sort(key=lambda g: (g.start, not g.insert, g.end))
    hunks: list[_Hunk] = []
    shift = 0
    previous_end: int | None = None
    for group in groups:
        rows = _group_rows(group, entries, shift, paint)
        chosen = [entries[i] for i in group.entries]
        notes = {t: [group.entries[k] for k in ks] for t, ks in _attach(rows, chosen).items()}
        if hunks and previous_end is not None and group.start <= previous_end + 1:
            hunks[-1].extend(rows, notes)
        else:
            hunks.append(_Hunk(rows, notes, group.start - 1, group.start - 1 + shift))
        shift += sum(r.kind == ADD for r in rows) - sum(r.kind == DEL for r in rows)
        previous_end = max(group.end, previous_end or 0)
    return hunks


def _hunks(result: FileResult, sources: Sources | None) -> list[_Hunk]:
    pair = sources.get(result.path) if sources is not None and result.status is not FileStatus.FAILED else None
    if pair is not None:
        return _hunks_from_sources(result, pair[0], pair[1])
    return _hunks_from_report(result)
