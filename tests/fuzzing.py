"""The fault-injection campaign of issue 12, shared by tests/test_fuzz.py (bounded, in CI) and
bench/fuzz.py (long, by hand): mutants of real files, and what every run must hold.

A mutant is one of the repository's example files with a few random edits that portkit has
to take in its stride: CUDA calls inserted at statement boundaries (so the rewriter works
near the edit), form feeds, lone CRs and CRLFs, deep nesting, comment and blank lines (at
the end of the file too), backslash continuations before a colon, line separators that are
not line ends to Python. Mutants that are not valid Python are dropped.

`examine` runs the engine on one text and reports what went wrong:

- a crash: any exception but MigrationError (a clean refusal with a one-line reason);
- a refusal of portkit's own rewrite ("please report": the verification caught a bug, so
  nothing was written, but a file that could be migrated was not);
- output that does not parse, or that a second run would change again;
- a line that differs between input and output although no reported change covers it
  (the untouched-line invariant; `untouched_changes`).
"""

from __future__ import annotations

import ast
import random
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from portkit.model import Change, MigrationError
from portkit.pipeline.sourcefile import dominant_newline
from portkit.python.engine import migrate_source
from portkit.python.statements import first_line, source_lines
from portkit.python.transform import CompiledRules

REPO = Path(__file__).resolve().parents[1]
CUDA = (
    "x = torch.cuda.is_available()",
    "torch.cuda.synchronize()",
    "t = torch.zeros(2).cuda()",
    'device = torch.device("cuda:0")',
    "n = torch.cuda.device_count()  # cuda",
    'dist.init_process_group(backend="nccl")',
    "with torch.cuda.amp.autocast():\n    pass",
)


def examples() -> list[tuple[str, str]]:
    """The Python files the campaign mutates: every example program and the torture fixture."""
    paths = sorted((REPO / "examples").glob("*/original/**/*.py")) + [REPO / "tests" / "data" / "torture.py"]
    return [(str(p.relative_to(REPO)), p.read_text(encoding="utf-8")) for p in paths]


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _statement_lines(text: str) -> list[tuple[int, str]]:
    """(0-based line, indentation) of every statement that starts its line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = source_lines(text)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            number = first_line(node) - 1
            if number < len(lines):
                line = lines[number]
                indent = line[: len(line) - len(line.lstrip(" \t\f"))]
                found.append((number, indent.replace("\f", "")))
    return sorted(found)


def _insert(text: str, rng: random.Random, make: Callable[[str, str], str]) -> str:
    """Insert `make(indent, newline)` before a random statement that starts its line."""
    spots = _statement_lines(text)
    if not spots:
        return text
    number, indent = rng.choice(spots)
    lines = source_lines(text, keepends=True)
    lines.insert(number, make(indent, dominant_newline(text)))
    return "".join(lines)


def insert_cuda(text: str, rng: random.Random) -> str:
    snippet = rng.choice(CUDA)
    return _insert(text, rng, lambda indent, nl: "".join(indent + part + nl for part in snippet.split("\n")))


def deep_nesting(text: str, rng: random.Random, largest: int = 200) -> str:
    size = min(largest, int(rng.paretovariate(0.8) * 3))
    call = "torch.cuda.is_available()"
    shapes = {
        "list": lambda: "[" * min(size, 180) + call + "]" * min(size, 180),
        "or": lambda: " or ".join([call] + ["a"] * size),
        "plus": lambda: " + ".join([call] * max(1, size // 4) + ["1"] * (size - size // 4)),
        "strings": lambda: "(" + " ".join(['"cuda"'] * size) + ")",
        "attribute": lambda: call + ".real" * size,
        "not": lambda: "not " * size + call,
    }
    expression = shapes[rng.choice(sorted(shapes))]()
    return _insert(text, rng, lambda indent, nl: f"{indent}_deep = {expression}{nl}")


def form_feed(text: str, rng: random.Random) -> str:
    lines = source_lines(text, keepends=True)
    if not lines:
        return "\f"
    number = rng.randrange(len(lines))
    line = lines[number]
    at = rng.choice([0, len(line) - len(line.lstrip(" \t"))])
    lines[number] = line[:at] + "\f" + line[at:]
    return "".join(lines)


def line_ends(text: str, rng: random.Random) -> str:
    lines = source_lines(text)
    style = rng.choice(["\r", "\r\n", "mixed", "no-final"])
    if style == "no-final":
        return text.rstrip("\r\n")
    ends = [style if style != "mixed" else rng.choice(["\n", "\r", "\r\n"]) for _ in lines]
    return "".join(line + end for line, end in zip(lines, ends))


def comments(text: str, rng: random.Random) -> str:
    nl = dominant_newline(text)
    where = rng.choice(["end-indented", "end-blank", "anywhere"])
    if where == "end-indented":
        indent = rng.choice(["    ", "  ", "\t", "        "])
        return text + "".join(f"{indent}# trailing {i}{nl}" for i in range(rng.randint(1, 3)))
    if where == "end-blank":
        return text + "".join(rng.choice(["", "   ", "\t", "\f"]) + nl for _ in range(rng.randint(1, 3)))
    lines = source_lines(text, keepends=True)
    number = rng.randrange(len(lines) + 1)
    lines.insert(number, rng.choice(["", "    ", "\t", "  "]) + "# a comment" + nl)
    return "".join(lines)


_HEADER = re.compile(r"^(?P<head>[ \t]*(?:except|if|elif|while|for|with|def|class|else|try|finally)\b[^#\r\n]*?)"
                     r"[ \t]*:(?P<tail>[ \t]*(?:#[^\r\n]*)?)(?P<end>\r\n|\r|\n)", re.MULTILINE)


def continuation(text: str, rng: random.Random) -> str:
    """A backslash continuation before the colon of a compound statement's header."""
    headers = list(_HEADER.finditer(text))
    if not headers:
        return text
    m = rng.choice(headers)
    return text[: m.start()] + f"{m['head']} \\{m['end']}:{m['tail']}{m['end']}" + text[m.end():]


def separators(text: str, rng: random.Random) -> str:
    """Characters str.splitlines breaks at but Python does not, in a comment."""
    lines = source_lines(text, keepends=True)
    if not lines:
        return text
    number = rng.randrange(len(lines))
    line = lines[number]
    body = line.rstrip("\r\n")
    mark = rng.choice(["\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x0b"])
    lines[number] = body + f"  # sep{mark}arator" + line[len(body):]
    return "".join(lines)


def bare_except(text: str, rng: random.Random) -> str:
    nl = dominant_newline(text)
    block = ["try:", "    x = torch.cuda.is_available()", "except:", "    pass", "except ValueError:", "    pass"]
    return text + nl + nl.join(block) + nl


MUTATORS: dict[str, Callable[[str, random.Random], str]] = {
    "cuda": insert_cuda, "deep": deep_nesting, "form-feed": form_feed, "line-ends": line_ends,
    "comments": comments, "continuation": continuation, "separators": separators, "bare-except": bare_except,
}
# how often each is drawn: rewrites near the edits need CUDA calls
WEIGHTS = {"cuda": 4, "deep": 1, "form-feed": 3, "line-ends": 1, "comments": 3, "continuation": 2,
           "separators": 2, "bare-except": 0.2}


def mutant(text: str, rng: random.Random, edits: int) -> tuple[str, list[str]] | None:
    """`text` with `edits` random mutations (and the names of those applied), or None if the
    result is not valid Python."""
    names = rng.choices(sorted(WEIGHTS), [WEIGHTS[n] for n in sorted(WEIGHTS)], k=edits)
    for name in names:
        text = MUTATORS[name](text, rng)
    return (text, names) if _parses(text) else None


# --- what must hold -----------------------------------------------------------------------------


@dataclass
class Verdict:
    refused: str | None = None  # MigrationError's one-line reason
    changed: bool = False
    problems: list[str] = field(default_factory=list)  # "kind: detail"


def examine(text: str, rules: CompiledRules) -> Verdict:
    """Run the engine (migrate, then check) on `text` and say what went wrong."""
    verdict = Verdict()
    try:
        migrate_source(text, rules, render=False)
        migration = migrate_source(text, rules)
    except MigrationError as error:
        verdict.refused = str(error)
        if "\n" in verdict.refused:
            verdict.problems.append("multi-line reason: " + verdict.refused[:80])
        if "please report" in verdict.refused:  # portkit refused its own rewrite: safe, but a bug
            verdict.problems.append("own rewrite refused: " + verdict.refused[:120])
        return verdict
    except Exception as error:  # noqa: BLE001 - that is what is looked for
        verdict.problems.append(f"crash: {type(error).__name__}: {str(error)[:120]}")
        return verdict
    if migration.new_text is None:
        return verdict
    verdict.changed = True
    if not _parses(migration.new_text):
        verdict.problems.append("unparsable output")
        return verdict
    verdict.problems += [f"untouched line: {p}" for p in untouched_changes(text, migration.new_text, migration.changes)]
    try:
        again = migrate_source(migration.new_text, rules)
    except MigrationError as error:
        verdict.problems.append(f"second run refused: {error}")
    else:
        if again.new_text is not None:
            verdict.problems.append("unstable: a second run changes the output again")
    return verdict


def untouched_changes(old: str, new: str, changes: Sequence[Change]) -> list[str]:
    """Lines that differ between `old` and `new` although no change covers them (Change.span),
    and lines added that are no added import; line ends count (a lone CR is a byte too)."""
    covered = {line for c in changes if c.old_text
               for line in range(c.span.line, max(c.span.end_line, c.span.line) + 1)}
    inserted = {c.new_text.strip() for c in changes if not c.old_text}
    before, after = source_lines(old, keepends=True), source_lines(new, keepends=True)
    found = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        loose = [i + 1 for i in range(i1, i2) if i + 1 not in covered]
        if loose:
            found.append(f"line {loose[0]} {before[loose[0] - 1]!r} became {after[j1:j2]!r}")
        elif i1 == i2 and any(line.strip() not in inserted for line in after[j1:j2]):
            found.append(f"lines added before line {i1 + 1}: {after[j1:j2]!r}")
    return found
