"""The cells of a notebook in its .ipynb text: a code cell's source and what happened to it, where
a line of that source is in the file, and the new sources written back without re-serialising
the JSON (only the `source` value of a changed cell is replaced)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from portkit.model import Change, Finding, Migration, MigrationError, Safety, Span
from portkit.filekinds.launch import LineIndex, Node


@dataclass
class Item:
    """A change or finding in cell coordinates, before it is placed in the .ipynb text."""

    cell: int  # index in the cells list (0-based)
    line: int  # 1-based line in the cell
    column: int
    end_line: int
    end_column: int
    rule_id: str
    message: str
    safety: Safety
    old_text: str
    new_text: str | None  # None for a finding
    shown: int | None = None  # the line named in the message, when it is not `line` (an inserted line)


@dataclass
class Cell:
    index: int  # 0-based position in the cells list
    node: Node  # its `source` value
    text: str  # the source as one string
    new: str | None = None  # the migrated source
    items: list[Item] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.index + 1


def cell_text(source: Node) -> str | None:
    if source.kind == "str":
        return str(source.value)
    if source.kind == "seq" and all(item.kind == "str" for item in source.items):
        return "".join(str(item.value) for item in source.items)
    return None


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]


class NotebookText:
    """The .ipynb text, and the cells' changes, findings and new sources placed in it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = _escapes_non_ascii(text)
        self._lines: LineIndex | None = None  # built when the first position is asked for

    def migration(self, cells: list[Cell], render: bool) -> Migration:
        by_index = {cell.index: cell for cell in cells}
        changes: list[Change] = []
        findings: list[Finding] = []
        for cell in cells:
            for item in cell.items:
                owner = by_index[item.cell]
                start = self.position(owner, item.line, item.column)
                end = self.position(owner, item.end_line, item.end_column)
                span = Span(start[0], start[1], max(end[0], start[0]), end[1])
                message = f"cell {owner.number}, line {item.shown or item.line}: {item.message}"
                if item.new_text is None:
                    findings.append(Finding(item.rule_id, message, item.safety, span, item.old_text))
                else:
                    changes.append(Change(item.rule_id, message, item.safety, span, item.old_text, item.new_text))
        order = lambda item: (item.span.line, item.span.column, item.rule_id)  # noqa: E731
        new_text = self.rewrite(cells) if render else None
        return Migration(new_text, tuple(sorted(changes, key=order)), tuple(sorted(findings, key=order)))

    def rewrite(self, cells: list[Cell]) -> str | None:
        """The notebook with the new source of every changed cell (None: no cell changed)."""
        edits = [(cell.node.start, cell.node.end, self.render_source(cell)) for cell in cells
                 if cell.new is not None and cell.new != cell.text]
        if not edits:
            return None
        parts, last = [], 0
        for begin, stop, raw in sorted(edits):
            parts += [self.text[last:begin], raw]
            last = stop
        parts.append(self.text[last:])
        new_text = "".join(parts)
        try:
            json.loads(new_text)  # never hand back a broken notebook
        except ValueError as error:
            raise MigrationError(f"the rewritten notebook is not valid JSON ({error}); please report") from None
        return new_text

    def encode(self, value: str) -> str:
        return json.dumps(value, ensure_ascii=self.ascii)

    def render_source(self, cell: Cell) -> str:
        node, new = cell.node, cell.new or ""
        if node.kind == "str":
            return self.encode(new)
        items = node.items
        raw_of: dict[str, str] = {}
        for item in items:
            raw_of.setdefault(str(item.value), self.text[item.start:item.end])
        tokens = [raw_of.get(line) or self.encode(line) for line in new.splitlines(keepends=True)]
        if not items:
            return "[" + ", ".join(tokens) + "]"
        lead = self.text[node.start + 1:items[0].start]
        trail = self.text[items[-1].end:node.end - 1]
        if len(tokens) == len(items):
            out, last = ["["], node.start + 1
            for item, token in zip(items, tokens):
                out += [self.text[last:item.start], token]
                last = item.end
            out.append(self.text[last:node.end])
            return "".join(out)
        between = self.text[items[0].end:items[1].start] if len(items) > 1 else "," + lead
        return "[" + lead + between.join(tokens) + trail + "]"

    def position(self, cell: Cell, line: int, column: int) -> tuple[int, int]:
        """The place in the .ipynb text of a (line, column) of a cell's source."""
        starts = _line_starts(cell.text)
        line = min(max(line, 1), len(starts))
        offset = min(starts[line - 1] + max(column, 1) - 1, len(cell.text))
        node = cell.node
        element, inner = node, offset
        if node.kind == "seq":
            for item in node.items:
                size = len(str(item.value))
                element = item
                if inner < size or item is node.items[-1]:
                    break
                inner -= size
        value = str(element.value)
        at = element.start + 1 + len(self.encode(value[:min(inner, len(value))])) - 2
        return self.lines.position(at)

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines


def _escapes_non_ascii(text: str) -> bool:
    """Was the notebook written with ensure_ascii (non-ASCII as \\uXXXX escapes)?"""
    if any(ord(ch) > 127 for ch in text):
        return False
    return re.search(r"\\u(?:00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F][0-9a-fA-F])[0-9a-fA-F]{2}", text) is not None
