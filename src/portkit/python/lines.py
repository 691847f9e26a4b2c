"""Lines, trigger lines and nesting depth of a Python text, from the text and the stdlib `ast`
alone: what the cheap paths (triage, check's fast path, suppressions) need without importing
libcst (statements.py re-exports these for the libcst side).

`deepest` measures, from the stdlib tree, how deep libcst's tree would nest: libcst recurses
once per level when it parses, visits and prints, so a file nested deeper than MAX_NESTING is
refused with a clear message instead of crashing the parser.

Also the text patterns the libcst side and the fast path both read (one copy, no libcst):
`TORCH_ATTRIBUTE` and `BACKEND_CLASS`.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterator, Sequence

LINE_BREAK = re.compile(r"\r\n|\r|\n")

# `torch.` spelled in a file: `torch` from `import *` is the torch module only where it is
# (transform._torch_from_star_import, sparse.py, fastcheck.py)
TORCH_ATTRIBUTE = re.compile(r"(?<![\w.])torch\.")
# a backend class of a multi-backend framework, `CUDAAccelerator`, `Xla_Backend` (backends.py;
# fastcheck.py leaves a text that names one to the libcst path)
BACKEND_PREFIXES = ("CUDA", "Cuda", "GPU", "Gpu", "CPU", "Cpu", "MPS", "Mps", "XLA", "Xla", "TPU", "Tpu", "XPU",
                    "Xpu", "HPU", "Hpu", "IPU", "Ipu", "NPU", "Npu", "ROCm", "Rocm", "HIP", "Hip")
BACKEND_CLASS = re.compile(rf"\b({'|'.join(BACKEND_PREFIXES)})_?(Accelerator|Backend|Platform)\b")


def source_lines(text: str, keepends: bool = False) -> list[str]:
    """The lines as Python numbers them: str.splitlines would also break at form feeds,
    vertical tabs, \\x1c-\\x1e, \\x85 and U+2028/2029, which are not line ends to the tokenizer.
    A text ending in a line break has no empty last line (as str.splitlines)."""
    lines = LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    if not keepends:
        return lines
    return [line + end for line, end in zip(lines, [*LINE_BREAK.findall(text), ""])]


def trigger_lines(text: str, pattern: re.Pattern[str]) -> list[int]:
    """Prefix counts of lines that contain a trigger: lines a..b have one iff c[b] > c[a-1]."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    marked = [0] * (len(starts) + 1)
    for match in pattern.finditer(text):
        marked[bisect.bisect_right(starts, match.start())] = 1
    counts = [0] * len(marked)
    for i in range(1, len(marked)):
        counts[i] = counts[i - 1] + marked[i]
    return counts


def first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None)
    return min([node.lineno, *(d.lineno for d in decorators)]) if decorators else node.lineno


# --- nesting ---------------------------------------------------------------------------------

# libcst parses, visits and prints a tree by recursion, several frames per level of its tree:
# the rewriter runs it with a deep stack (engine.contained), and refuses a file whose tree
# would be deeper than this many levels (a 1,500-term `or` chain, 1,500 adjacent string
# literals, a list nested 1,500 deep) with a message instead of exhausting it. Real code stays
# under 100.
MAX_NESTING = 1_500
_BLOCKS = ("body", "orelse", "finalbody")
# libcst levels per level of the stdlib tree: f(x) is Call > Arg > x, a[0] is Subscript >
# SubscriptElement > Index > 0, {k: v} is Dict > DictElement > v
_WEIGHT: dict[type, int] = {ast.Call: 2, ast.Subscript: 3, ast.Dict: 2, ast.Lambda: 2, ast.keyword: 2}


def deepest(tree: ast.Module, text: str, limit: int | None = None) -> tuple[int, int] | None:
    """(levels, line) of the first statement whose libcst tree would nest deeper than `limit`
    (MAX_NESTING), or None. Cheap: every level takes at least a character of source, so only
    statements (or headers of compound statements) whose lines hold more than the levels left
    are walked."""
    limit = MAX_NESTING if limit is None else limit
    starts = [0, *(m.end() for m in LINE_BREAK.finditer(text)), len(text) + 1]

    def room(node: ast.AST) -> int:
        first, last = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        return starts[min(last, len(starts) - 1)] - starts[first - 1]

    stack: list[tuple[ast.stmt, int]] = [(s, 2) for s in tree.body]
    while stack:
        statement, level = stack.pop()
        if room(statement) <= limit - level:  # too short to nest that deep, blocks and all
            continue
        if level > limit:
            return level, statement.lineno
        children = [s for block in _statement_blocks(statement) for s in block]
        # a block is two levels (IndentedBlock, then the statement line); an `elif` is one
        elif_ = statement.orelse[0] if isinstance(statement, ast.If) and len(statement.orelse) == 1 else None
        stack.extend((child, level + (1 if child is elif_ else 2)) for child in children)
        parts = [statement] if not children else list(_header_parts(statement))
        for part in parts:
            if hasattr(part, "lineno") and room(part) <= limit - level:
                continue
            levels = level + _expression_depth(part, text, starts, limit - level)
            if levels > limit:
                return levels, getattr(part, "lineno", statement.lineno)
    return None


def _statement_blocks(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in _BLOCKS:
        block = getattr(statement, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield block
    for part in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
        yield part.body


def _header_parts(statement: ast.stmt) -> Iterator[ast.AST]:
    """What a compound statement holds besides its blocks: test, target, decorators, bases…"""
    for name, value in ast.iter_fields(statement):
        if name in _BLOCKS:
            continue
        if name == "handlers":
            yield from (h.type for h in value if h.type is not None)
        elif name == "cases":
            for case in value:
                yield case.pattern
                if case.guard is not None:
                    yield case.guard
        elif isinstance(value, ast.AST):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, ast.AST))


def _expression_depth(node: ast.AST, text: str, starts: Sequence[int], room: int) -> int:
    """How deep libcst's tree of this node nests (an upper estimate), walked without recursion."""
    deepest_level = 0
    stack = [(node, 0)]
    while stack:
        current, level = stack.pop()
        level += _WEIGHT.get(type(current), 1)
        if isinstance(current, ast.BoolOp):
            level += len(current.values) - 2  # `a or b or c` is one node for ast, nested for libcst
        elif isinstance(current, ast.alias):
            level += current.name.count(".")  # `import a.b.c` nests attributes in libcst
        elif isinstance(current, ast.ImportFrom):
            level += (current.module or "").count(".")
        elif isinstance(current, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(current, "value", ""), (str, bytes)):
            level += _adjacent_strings(current, text, starts, room - level) - 1
        deepest_level = max(deepest_level, level)
        stack.extend((child, level) for child in ast.iter_child_nodes(current))
    return deepest_level


def _adjacent_strings(node: ast.AST, text: str, starts: Sequence[int], room: int) -> int:
    """How many string literals are written next to each other for this one string (ast joins
    `"a" "b"`; libcst nests them): tokenized only when there is room for more than `room`."""
    segment = text[_offset(text, starts, node.lineno, node.col_offset):  # type: ignore[attr-defined]
                   _offset(text, starts, node.end_lineno, node.end_col_offset)]  # type: ignore[attr-defined]
    if len(segment) <= 2 * max(room, 0):  # every literal takes two characters at least
        return 1
    import io
    import tokenize

    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}
    try:
        tokens = tokenize.generate_tokens(io.StringIO(f"(\n{segment}\n)").readline)
        return max(1, sum(1 for t in tokens if t.type in kinds))
    except (tokenize.TokenError, SyntaxError):
        return len(segment) // 2  # cannot tell: assume the worst


def _offset(text: str, starts: Sequence[int], line: int, column: int) -> int:
    """The offset in `text` of an ast position (its columns count UTF-8 bytes)."""
    start = starts[line - 1]
    source = text[start:starts[min(line, len(starts) - 1)]]
    return start + (column if source.isascii() else len(source.encode("utf-8")[:column].decode("utf-8", "replace")))
