"""Jupyter notebooks (.ipynb, nbformat 4): the code cells are ported with the rules for Python files.

The code cells of a notebook are one program (cell 3 uses the `torch` that cell 1 imported), so
they are migrated together, as one module: each cell is preceded by a marker comment line, the
module goes through engine.migrate_source, and the result is split back at the markers. So
`torch.cuda.x` in any cell is recognised through imports in earlier cells, and `import torch_npu`
is added once, after the first torch import, as in a .py file.

IPython syntax is not Python. Before migration, every magic line (`%matplotlib inline`,
`!nvidia-smi`, `files = !ls`, `%env X=1`, `obj?`) is replaced by a placeholder expression of its
own line, so line numbers do not move, and put back afterwards. Shell in a notebook is handled as
in launch files (filekinds/launch): `!` lines, `%env`, `%%bash`/`%%sh` cells (renamed environment
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

The modules: notebook_magics (IPython syntax masked as Python), notebook_json (the cells in the
.ipynb text, and writing them back); this one reads the cells and migrates them.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath

from portkit.model import Change, Finding, Migration, MigrationError, Safety, Span
from portkit.python.engine import migrate_source, parse_ast
from portkit.python.compiled import CompiledRules
from portkit.filekinds.launch import (
    Collector,
    LineIndex,
    Node,
    apply_edits,
    launch_rules,
    parse_json,
    scan_shell,
)
from portkit.filekinds.notebook_json import Cell, Item, NotebookText, cell_text
from portkit.filekinds.notebook_magics import ENV_MAGIC, Masked, mask, restore, restore_lines

_NOTHING = Migration(None, (), ())

# cell magics whose body is Python (as black and nbQA treat them)
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "python", "python3"})
_SHELL_CELL_MAGICS = frozenset({"bash", "sh"})
_PYTHON_LANGUAGES = frozenset({"python", "python3", "ipython", "ipython3"})


class _Notebook:
    def __init__(self, text: str, root: Node, rules: CompiledRules, render: bool) -> None:
        self.root = root
        self.rules = rules
        self.render = render
        self.launch = launch_rules(rules)
        self.json = NotebookText(text)
        self.prefix = "_pk"
        while self.prefix in text:
            self.prefix += "x"
        self.cells: list[Cell] = []
        self.python: list[tuple[Cell, Masked]] = []  # the cells of the joined program

    # -- reading the cells --

    def read(self, cells: Node) -> None:
        for index, cell in enumerate(cells.items):
            if cell.kind != "map":
                continue
            kind, source = cell.get("cell_type"), cell.get("source")
            if kind is None or kind.value != "code" or source is None:
                continue
            text = cell_text(source)
            if text is None or not text.strip():
                continue
            entry = Cell(index, source, text)
            self.cells.append(entry)
            self.classify(entry)

    def classify(self, cell: Cell) -> None:
        first_line = cell.text.split("\n", 1)[0]
        magic = re.match(r"[ \t]*%%([\w-]+)[ \t]*(.*?)[ \t\r]*$", first_line)
        if magic is None:
            self.python.append((cell, mask(cell.text, self.prefix)))
            return
        name, argument = magic.group(1), magic.group(2)
        body_start = len(first_line) + 1
        if name in _PYTHON_CELL_MAGICS:
            masked = mask(cell.text, self.prefix)  # the first line is a magic like any other
            self.python.append((cell, masked))
        elif name in _SHELL_CELL_MAGICS or (name == "script" and argument.split()[:1] in (["bash"], ["sh"])):
            self.shell_cell(cell, body_start)
        elif name in ("writefile", "file"):
            target = [word for word in argument.split() if not word.startswith("-")]
            if target:
                self.file_cell(cell, target[0].strip("'\""), body_start)

    def shell_cell(self, cell: Cell, body_start: int) -> None:
        collector = Collector(self.launch)
        scan_shell(" " * body_start + cell.text[body_start:], collector)
        self.take(cell, collector)

    def file_cell(self, cell: Cell, name: str, body_start: int) -> None:
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

    def add(self, cell: Cell, span: Span, rule_id: str, message: str, safety: Safety, old: str,
            new: str | None, offset: int = 0) -> None:
        cell.items.append(Item(cell.index, span.line + offset, span.column, span.end_line + offset,
                                span.end_column, rule_id, message, safety, old, new))

    def take(self, cell: Cell, collector: Collector, base: str | None = None) -> str:
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

    def magic_shell(self, cell: Cell, masked: Masked) -> None:
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
            match = ENV_MAGIC.match(lines[number])
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
                cell.items.append(Item(cell.index, max(1, line), 1, max(1, line), 1, item.rule_id,
                                        item.message, item.safety, "", item.new_text, shown=line + 1))
                continue
            number, line = self.locate(item.span.line, starts)
            _, end_line = self.locate(max(item.span.end_line, item.span.line), starts)
            cell, masked = self.python[number]
            if isinstance(item, Change):
                old = restore_lines(item.old_text, masked.magics, self.prefix)
                new = restore_lines(item.new_text, masked.magics, self.prefix)
                cell.items.append(Item(cell.index, line, item.span.column, end_line, item.span.end_column,
                                        item.rule_id, item.message, item.safety, old, new))
            else:
                text = restore_lines(item.line_text, masked.magics, self.prefix)
                cell.items.append(Item(cell.index, line, item.span.column, end_line, item.span.end_column,
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
            restored = restore(body, masked.magics, self.prefix)
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

    def landing(self, line: str) -> tuple[Cell | None, int]:
        for cell, _ in self.python:
            if cell.new is None:
                continue
            new, old = cell.new.splitlines(), cell.text.splitlines()
            if new.count(line) > old.count(line):
                return cell, new.index(line) + 1
        return None, 0

    # -- writing the notebook back --

    # -- writing the notebook back --

    def result(self) -> Migration:
        return self.json.migration(self.cells, self.render)


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
