"""Jupyter notebooks (.ipynb, nbformat 4): the code cells are ported with the rules for Python files.

The code cells of a notebook are one program (cell 3 uses the `torch` that cell 1 imported), so
they are migrated together, as one module: each cell is preceded by a marker comment line, the
module goes through engine.migrate_source, and the result is split back at the markers. So
`torch.cuda.x` in any cell is recognised through imports in earlier cells, and `import torch_npu`
is added once, after the first torch import, as in a .py file.

IPython syntax is not Python. Before migration, every magic line (`%matplotlib inline`,
`!nvidia-smi`, `files = !ls`, `%env X=1`, `obj?`) is replaced by a placeholder expression of its
own line, so line numbers do not move, and put back afterwards. Shell in a notebook is handled as
in launch files (launchfiles.py): `!` lines, `%env`, `%%bash`/`%%sh` cells (renamed environment
variables, reported commands). `%%time`/`%%timeit`/`%%capture` cells are Python after their first
line; `%%writefile NAME` cells are migrated as a file called NAME (train.py, run.sh); other cell
magics (`%%html`, `%%sql`...) are left alone.

The JSON is never re-serialised: only the `source` value of a changed cell is replaced, its
unchanged lines keep their original escapes and the separators between list items are the
file's own, so outputs, metadata, key order, indentation, `ensure_ascii` style and the final
newline stay byte for byte. A cell that does not parse fails the whole notebook (MigrationError
naming the cell), which is then left untouched, as a .py file would be.

Locations: a Span's line and column point into the .ipynb file itself (the line of the JSON
string that holds that source line), so editors and SARIF viewers jump to the right place; the
message starts with `cell N, line L: ` (N counts every cell from 1, as the notebook shows them;
L is the line within the cell).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import PurePath

from portkit.model import Migration, MigrationError
from portkit.python.engine import migrate_source, parse_ast
from portkit.filekinds.launch import (
    Collector,
    LineIndex,
    Node,
    apply_edits,
    launch_rules,
    parse_json,
    scan_shell,
)
from portkit.model import Change, Finding, Safety, Span
from portkit.python.transform import CompiledRules

_NOTHING = Migration(None, (), ())

# cell magics whose body is Python (as black and nbQA treat them)
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "python", "python3"})
_SHELL_CELL_MAGICS = frozenset({"bash", "sh"})
_PYTHON_LANGUAGES = frozenset({"python", "python3", "ipython", "ipython3"})

_SHELL_LINE = re.compile(r"[ \t]*(!!?)")
_SHELL_ASSIGNMENT = re.compile(r"[ \t]*[\w.]+(?:[ \t]*,[ \t]*[\w.]+)*[ \t]*=[ \t]*(!!?|%sx\b|%system\b)")
_SHELL_MAGIC = re.compile(r"[ \t]*%(?:sx|system)\b")
_ENV_MAGIC = re.compile(r"[ \t]*%(?:set_)?env[ \t]+([A-Za-z_][A-Za-z0-9_]*)(?:([ \t]*=[ \t]*|[ \t]+)(\S.*?))?[ \t\r]*$")
_TIME_MAGIC = re.compile(r"[ \t]*(%(?:time|timeit|prun)[ \t]+)(?=[^\s-])")
_ANY_MAGIC = re.compile(r"[ \t]*%")
_HELP = re.compile(r"[ \t]*(?:\?{1,2}[\w.*]+|[\w.*]+\?{1,2})[ \t\r]*$")


# --- magics ---------------------------------------------------------------------------------------


@dataclass
class _Magic:
    line: int  # 0-based line in the cell
    original: str  # the whole line, or for a prefix magic (`%time `) the prefix
    token: str  # the placeholder identifier
    prefix: bool  # only `original` at the line's start was replaced; the rest is Python
    new: str = ""  # what goes back (the original, with shell edits applied)


@dataclass
class _Masked:
    text: str
    magics: list[_Magic]
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


def _mask(text: str, prefix: str) -> _Masked:
    """Replace IPython-only lines by placeholders of the same length where they fit; only lines
    that start a logical line of Python can be magics."""
    lines = text.split("\n")
    magics: list[_Magic] = []
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
            magics.append(_Magic(index, match.group(1), token, True, match.group(1)))
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
            magics.append(_Magic(number, original, token, False, original))
            lines[number] = indent + token + ("\r" if original.endswith("\r") else "")
        index = last + 1
        depth, quote, continued = 0, None, False
    return _Masked("\n".join(lines), magics, shell, env)


def _magic_kind(line: str) -> str | None:
    if _SHELL_LINE.match(line) or _SHELL_ASSIGNMENT.match(line) or _SHELL_MAGIC.match(line):
        return "shell"
    if _ENV_MAGIC.match(line):
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


def _restore(text: str, magics: list[_Magic], prefix: str) -> str:
    """Put the magics back in place of their placeholders; each must be found exactly once."""
    by_token = {m.token: m for m in magics}
    pattern = re.compile(rf"^([ \t]*)({re.escape(prefix)}\d+_*)(;?)", re.M)
    found: set[str] = set()

    def put_back(match: re.Match[str]) -> str:
        magic = by_token.get(match.group(2))
        if magic is None or bool(match.group(3)) != magic.prefix:
            return match.group(0)
        found.add(magic.token)
        if magic.prefix:
            return match.group(1) + magic.new
        return magic.new.rstrip("\r")  # the whole line (its \r, if any, is still in the text)

    restored = pattern.sub(put_back, text)
    if len(found) != len(magics):
        raise MigrationError("an IPython magic line was lost in the rewrite (please report)")
    return restored


def _restore_lines(text: str, magics: list[_Magic], prefix: str) -> str:
    """The same for the line texts in a change or finding (only the magics that are there)."""
    if prefix not in text:
        return text
    by_token = {m.token: m for m in magics}

    def put_back(match: re.Match[str]) -> str:
        magic = by_token.get(match.group(2))
        if magic is None:
            return match.group(0)
        return match.group(1) + magic.original if magic.prefix else magic.original.rstrip("\r")

    return re.sub(rf"^([ \t]*)({re.escape(prefix)}\d+_*)(;?)", put_back, text, flags=re.M)


# --- cells ----------------------------------------------------------------------------------------


@dataclass
class _Item:
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
class _Cell:
    index: int  # 0-based position in the cells list
    node: Node  # its `source` value
    text: str  # the source as one string
    new: str | None = None  # the migrated source
    items: list[_Item] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.index + 1


def _cell_text(source: Node) -> str | None:
    if source.kind == "str":
        return str(source.value)
    if source.kind == "seq" and all(item.kind == "str" for item in source.items):
        return "".join(str(item.value) for item in source.items)
    return None


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]


class _Notebook:
    def __init__(self, text: str, root: Node, rules: CompiledRules, render: bool) -> None:
        self.text = text
        self.root = root
        self.rules = rules
        self.render = render
        self.launch = launch_rules(rules)
        self.ascii = _escapes_non_ascii(text)
        self.prefix = "_pk"
        while self.prefix in text:
            self.prefix += "x"
        self.cells: list[_Cell] = []
        self.python: list[tuple[_Cell, _Masked]] = []  # the cells of the joined program

    # -- reading the cells --

    def read(self, cells: Node) -> None:
        for index, cell in enumerate(cells.items):
            if cell.kind != "map":
                continue
            kind, source = cell.get("cell_type"), cell.get("source")
            if kind is None or kind.value != "code" or source is None:
                continue
            text = _cell_text(source)
            if text is None or not text.strip():
                continue
            entry = _Cell(index, source, text)
            self.cells.append(entry)
            self.classify(entry)

    def classify(self, cell: _Cell) -> None:
        first_line = cell.text.split("\n", 1)[0]
        magic = re.match(r"[ \t]*%%([\w-]+)[ \t]*(.*?)[ \t\r]*$", first_line)
        if magic is None:
            self.python.append((cell, _mask(cell.text, self.prefix)))
            return
        name, argument = magic.group(1), magic.group(2)
        body_start = len(first_line) + 1
        if name in _PYTHON_CELL_MAGICS:
            masked = _mask(cell.text, self.prefix)  # the first line is a magic like any other
            self.python.append((cell, masked))
        elif name in _SHELL_CELL_MAGICS or (name == "script" and argument.split()[:1] in (["bash"], ["sh"])):
            self.shell_cell(cell, body_start)
        elif name in ("writefile", "file"):
            target = [word for word in argument.split() if not word.startswith("-")]
            if target:
                self.file_cell(cell, target[0].strip("'\""), body_start)

    def shell_cell(self, cell: _Cell, body_start: int) -> None:
        collector = Collector(self.launch)
        scan_shell(" " * body_start + cell.text[body_start:], collector)
        self.take(cell, collector)

    def file_cell(self, cell: _Cell, name: str, body_start: int) -> None:
        """`%%writefile train.py`: the body is migrated as that file (with its own imports)."""
        from portkit.filekinds import PYTHON, kind_for

        kind = kind_for(PurePath(name))
        if kind is None or kind.name == "notebook" or body_start > len(cell.text):
            return
        body = cell.text[body_start:]
        try:
            result = kind.load()(body, PurePath(name).name, self.rules, self.render) if kind is not PYTHON \
                else migrate_source(body, self.rules, render=self.render)
        except MigrationError as error:
            raise MigrationError(f"cell {cell.number}: %%writefile {name}: {error}") from None
        for change in result.changes:
            self.add(cell, change.span, change.rule_id, change.message, change.safety, change.old_text,
                     change.new_text, offset=1)
        for finding in result.findings:
            self.add(cell, finding.span, finding.rule_id, finding.message, finding.safety, finding.line_text,
                     None, offset=1)
        if result.new_text is not None:
            cell.new = cell.text[:body_start] + result.new_text

    def add(self, cell: _Cell, span: Span, rule_id: str, message: str, safety: Safety, old: str,
            new: str | None, offset: int = 0) -> None:
        cell.items.append(_Item(cell.index, span.line + offset, span.column, span.end_line + offset,
                                span.end_column, rule_id, message, safety, old, new))

    def take(self, cell: _Cell, collector: Collector, base: str | None = None) -> str:
        """Record what a launch-file scan of (a part of) the cell found; returns the edited text."""
        text = cell.text if base is None else base
        edited = apply_edits(text, list(collector.edits.values()))
        old_lines, new_lines = LineIndex(text), LineIndex(edited)
        for edit in collector.edits.values():
            line, column = old_lines.position(edit.start)
            self.add(cell, Span(line, column, line, column + edit.end - edit.start), edit.rule.id, edit.message,
                     edit.rule.safety, old_lines.line(line), new_lines.line(line))
        for note in collector.notes.values():
            line, column = old_lines.position(note.start)
            self.add(cell, Span(line, column, line, column + max(1, note.end - note.start)), note.rule.id,
                     note.message, Safety.MANUAL, old_lines.line(line), None)
        if edited != text:
            cell.new = edited
        return edited

    # -- the Python cells, as one program --

    def migrate_python(self) -> None:
        if not self.python:
            return
        for cell, masked in self.python:
            self.magic_shell(cell, masked)
        marker = "# portkit-cell"
        while any(marker in cell.text for cell, _ in self.python):
            marker += "-"
        parts: list[str] = []
        starts: list[int] = []  # first line of each cell in the joined program
        line = 1
        for number, (cell, masked) in enumerate(self.python):
            parts.append(f"{marker} {number}\n")
            line += 1
            starts.append(line)
            body = masked.text if masked.text.endswith("\n") else masked.text + "\n"
            parts.append(body)
            line += body.count("\n")
        joined = "".join(parts)
        try:
            result = migrate_source(joined, self.rules, render=self.render)
        except MigrationError as error:
            raise self.relocate(error, starts) from None
        self.place(result, starts, joined.splitlines())
        if result.new_text is not None:
            self.split(result.new_text, marker)

    def magic_shell(self, cell: _Cell, masked: _Masked) -> None:
        """Shell commands and %env lines inside a Python cell, scanned as launch-file shell."""
        lines = cell.text.split("\n")
        starts = [0]
        for text in lines:
            starts.append(starts[-1] + len(text) + 1)
        collector = Collector(self.launch)
        for first, last, column in masked.shell:
            start, end = starts[first] + column, starts[last + 1] - 1
            # blank everything else so positions are the cell's own
            view = " " * start + cell.text[start:end]
            scan_shell(view, collector)
        for number in masked.env:
            match = _ENV_MAGIC.match(lines[number])
            if match is None:
                continue
            base = starts[number]
            collector.name(base + match.start(1), base + match.end(1), match.group(1))
            if match.group(3) is not None:
                collector.devices(match.group(1), match.group(3), base + match.start(1), base + len(lines[number]))
        if not collector.edits and not collector.notes:
            return
        # the cell's new text: this, unless the joined program changes too (then these lines are
        # put back into its text in place of their placeholders)
        edited = self.take(cell, collector).split("\n")
        for magic in masked.magics:
            if not magic.prefix:
                magic.new = edited[magic.line]

    def relocate(self, error: MigrationError, starts: list[int]) -> MigrationError:
        """An error about a line of the joined program, told about the cell (and checked on the
        cell alone, whose own message is the precise one)."""
        message = str(error)
        match = re.search(r"line (\d+)", message)
        if match is None:
            return MigrationError(f"code cells: {message}")
        joined_line = int(match.group(1))
        number = max((i for i, start in enumerate(starts) if start <= joined_line), default=0)
        cell, masked = self.python[number]
        try:
            parse_ast(masked.text)
        except MigrationError as alone:
            return MigrationError(f"cell {cell.number}: {alone}")
        local = joined_line - starts[number] + 1
        return MigrationError(f"cell {cell.number}: {message[:match.start(1)]}{local}{message[match.end(1):]}")

    def locate(self, line: int, starts: list[int]) -> tuple[int, int]:
        number = max((i for i, start in enumerate(starts) if start <= line), default=0)
        return number, line - starts[number] + 1

    def landing_line(self, anchor: int, joined: list[str]) -> int:
        """Where an import inserted before the statement at `anchor` ends up: before the comments
        and blank lines (and cell markers) above that statement, that is right after the last
        line of code above it. Returns the joined program's line the import follows (0: the top)."""
        line = anchor - 1
        while line > 0 and (not joined[line - 1].strip() or joined[line - 1].lstrip().startswith("#")):
            line -= 1
        return line

    def place(self, result: Migration, starts: list[int], joined: list[str]) -> None:
        items: tuple[Change | Finding, ...] = (*result.changes, *result.findings)
        for item in items:
            if isinstance(item, Change) and item.new_text and not item.old_text:  # an inserted import
                after = self.landing_line(item.span.line, joined)
                number, line = self.locate(after, starts) if after >= starts[0] else (0, 0)
                cell, _ = self.python[number]
                cell.items.append(_Item(cell.index, max(1, line), 1, max(1, line), 1, item.rule_id,
                                        item.message, item.safety, "", item.new_text, shown=line + 1))
                continue
            number, line = self.locate(item.span.line, starts)
            _, end_line = self.locate(max(item.span.end_line, item.span.line), starts)
            cell, masked = self.python[number]
            if isinstance(item, Change):
                old = _restore_lines(item.old_text, masked.magics, self.prefix)
                new = _restore_lines(item.new_text, masked.magics, self.prefix)
                cell.items.append(_Item(cell.index, line, item.span.column, end_line, item.span.end_column,
                                        item.rule_id, item.message, item.safety, old, new))
            else:
                text = _restore_lines(item.line_text, masked.magics, self.prefix)
                cell.items.append(_Item(cell.index, line, item.span.column, end_line, item.span.end_column,
                                        item.rule_id, item.message, item.safety, text, None))

    def split(self, new_text: str, marker: str) -> None:
        pieces = re.split(rf"^{re.escape(marker)} (\d+)\n", new_text, flags=re.M)
        numbers = [int(n) for n in pieces[1::2]]
        if numbers != list(range(len(self.python))):
            raise MigrationError("the rewrite moved code across notebook cells (please report)")
        bodies = pieces[2::2]
        bodies[0] = pieces[0] + bodies[0]  # an import inserted at the very top belongs to the first cell
        for (cell, masked), body in zip(self.python, bodies):
            if not masked.text.endswith("\n") and body.endswith("\n"):
                body = body[:-1]
            restored = _restore(body, masked.magics, self.prefix)
            if restored != cell.text:
                cell.new = restored
        # an inserted import (`import torch_npu`) is reported where it landed: the cell of the
        # first torch import, which is not always the cell of the statement it was put before
        for cell, _ in self.python:
            for item in list(cell.items):
                if item.new_text and not item.old_text:
                    owner, at = self.landing(item.new_text)
                    if owner is None:
                        continue
                    cell.items.remove(item)
                    item.cell, item.shown = owner.index, at
                    item.line = item.end_line = max(1, at - 1)  # the line it follows, in the original
                    item.column, item.end_column = 1, 1
                    owner.items.append(item)

    def landing(self, line: str) -> tuple[_Cell | None, int]:
        for cell, _ in self.python:
            if cell.new is None:
                continue
            new, old = cell.new.splitlines(), cell.text.splitlines()
            if new.count(line) > old.count(line):
                return cell, new.index(line) + 1
        return None, 0

    # -- writing the notebook back --

    def result(self) -> Migration:
        by_index = {cell.index: cell for cell in self.cells}
        changes: list[Change] = []
        findings: list[Finding] = []
        for cell in self.cells:
            for item in cell.items:
                owner = by_index[item.cell]
                start = self.json_position(owner, item.line, item.column)
                end = self.json_position(owner, item.end_line, item.end_column)
                span = Span(start[0], start[1], max(end[0], start[0]), end[1])
                message = f"cell {owner.number}, line {item.shown or item.line}: {item.message}"
                if item.new_text is None:
                    findings.append(Finding(item.rule_id, message, item.safety, span, item.old_text))
                else:
                    changes.append(Change(item.rule_id, message, item.safety, span, item.old_text, item.new_text))
        order = lambda item: (item.span.line, item.span.column, item.rule_id)  # noqa: E731
        new_text = None
        edits = [(cell.node.start, cell.node.end, self.render_source(cell)) for cell in self.cells
                 if self.render and cell.new is not None and cell.new != cell.text]
        if edits:
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
        return Migration(new_text, tuple(sorted(changes, key=order)), tuple(sorted(findings, key=order)))

    def encode(self, value: str) -> str:
        return json.dumps(value, ensure_ascii=self.ascii)

    def render_source(self, cell: _Cell) -> str:
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

    def json_position(self, cell: _Cell, line: int, column: int) -> tuple[int, int]:
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
        return self.json_lines.position(at)

    @property
    def json_lines(self) -> LineIndex:
        if not hasattr(self, "_json_lines"):
            self._json_lines = LineIndex(self.text)
        return self._json_lines


def _escapes_non_ascii(text: str) -> bool:
    """Was the notebook written with ensure_ascii (non-ASCII as \\uXXXX escapes)?"""
    if any(ord(ch) > 127 for ch in text):
        return False
    return re.search(r"\\u(?:00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F][0-9a-fA-F])[0-9a-fA-F]{2}", text) is not None


def _language(root: Node) -> str | None:
    metadata = root.get("metadata")
    if metadata is None or metadata.kind != "map":
        return None
    for key, field_name in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        value = section.get(field_name) if section is not None and section.kind == "map" else None
        if value is not None and value.kind == "str":
            return str(value.value).lower()
    return None


def _may_need_work(text: str, rules: CompiledRules) -> bool:
    """Triage on the raw text, then on the code cells alone (outputs such as base64 images
    are full of accidental matches)."""
    launch = launch_rules(rules)
    if not (rules.may_need_work(text) or launch.may_need_work(text)):
        return False
    try:
        document = json.loads(text)
        code = "\n".join(
            "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            for cell in document["cells"] if cell.get("cell_type") == "code"
        )
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return True  # not the notebook it seems: the full reading says what is wrong
    return rules.may_need_work(code) or launch.may_need_work(code)


def migrate_notebook(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The notebook kind (filekinds.py): same contract as engine.migrate_source."""
    if not _may_need_work(text, rules):
        return _NOTHING
    root = parse_json(text)
    cells = root.get("cells") if root.kind == "map" else None
    version = root.get("nbformat") if root.kind == "map" else None
    if version is not None and version.kind == "other" and str(version.value).isdigit() and int(version.value) < 4:
        raise MigrationError(f"nbformat {version.value} notebook: convert it first with "
                             "`jupyter nbconvert --to notebook --nbformat 4`")
    if cells is None or cells.kind != "seq":
        raise MigrationError("not a Jupyter notebook (no list of cells)")
    language = _language(root)
    if language is not None and language not in _PYTHON_LANGUAGES:
        return _NOTHING
    notebook = _Notebook(text, root, rules, render)
    notebook.read(cells)
    notebook.migrate_python()
    return notebook.result()


__all__ = ["migrate_notebook"]
