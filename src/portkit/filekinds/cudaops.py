"""Custom CUDA operators: .cu/.cuh sources, and the C++ blocks that register operators with
PyTorch (PYBIND11_MODULE, TORCH_LIBRARY, TORCH_LIBRARY_FRAGMENT, TORCH_LIBRARY_IMPL).

Nothing here rewrites code: a CUDA kernel needs an Ascend C (or PyTorch-ops) rewrite by a
person. The file kind (`migrate_cuda_source`) reports, per `cuda-source` rule
(rules/cuda-ops.toml): one manual item per CUDA source naming its `__global__` kernels, and one
per registration block naming its operators (msFmkTransplt's cuda_op_list.csv, in the report).
A C++ file that registers only CPU operators is not reported.

The Python side: `registered_ops` collects, over a whole tree, which operators the CUDA
extensions register (using the CUDAExtension / load() calls of setup.py and friends to name
pybind11 modules and to know which .cpp files are CUDA builds), and `call_site_rule` turns them
into a report rule, so the normal Python pipeline reports `torch.ops.<ns>.<op>(...)` and
`<module>.<op>(...)` call sites.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from portkit.model import Migration
from portkit.filekinds import CUDA_SOURCE_SUFFIXES
from portkit.model import Finding, Safety, Span
from portkit.ruleset import QUALIFIED_NAME, CudaSource, Report, Rule, RuleSet

if TYPE_CHECKING:
    from portkit.python.transform import CompiledRules

CUDA_SUFFIXES = (".cu", ".cuh")
SOURCE_SUFFIXES = CUDA_SOURCE_SUFFIXES
CALL_SITE_RULE = "cuda-op-call"
_REGISTRATION_WORDS = ("PYBIND11_MODULE", "TORCH_LIBRARY")
_NOTHING = Migration(None, (), ())


# --- comments and strings --------------------------------------------------------------------------

_LEXEME = re.compile(
    r"""
    (?=[/"'uULR])                                                    # cheap first test, for speed
    (?:
      (?P<line>//(?:[^\n\\]|\\.)*)                                   # // comment, \-continued
    | (?P<block>/\*(?:[^*]|\*(?!/))*(?:\*/)?)                        # /* comment */
    | (?P<raw>(?<![\w])(?:u8|u|U|L)?R"(?P<delim>[^()\\\s"]{0,16})\()  # R"x( ... )x"
    | (?P<string>(?:(?<![\w])(?:u8|u|U|L))?"(?:[^"\\\n]|\\.)*"?)     # "string"
    | (?P<char>(?:(?<![\w])(?:u8|u|U|L)|(?<![\w]))'(?:[^'\\\n]|\\.)*'?)  # 'c', not 1'000'000
    )
    """,
    re.DOTALL | re.VERBOSE,
)
_NOT_NEWLINE = re.compile(r"[^\r\n]")


def strip_c(text: str, *, strings: bool = True) -> str:
    """`text` with C/C++ comments blanked out (and, with `strings`, the contents of string and
    character literals, quotes kept): same length, same line breaks, so offsets, line and
    column numbers still hold."""
    code, bare = strip_both(text)
    return bare if strings else code


def strip_both(text: str) -> tuple[str, str]:
    """(`text` without comments, and also without string contents), in one pass."""
    code: list[str] = []
    bare: list[str] = []
    position = 0
    while True:
        match = _LEXEME.search(text, position)
        if match is None:
            break
        start, end = match.span()
        kind = match.lastgroup if match.group("raw") is None else "raw"
        if kind == "raw":  # its end is found by hand: a regex would rescan the rest of the file
            closing = text.find(")" + match.group("delim") + '"', end)
            inner_end, end = (closing, closing + len(match.group("delim")) + 2) if closing != -1 else (len(text),) * 2
            opening = match.end()
        elif kind in ("string", "char"):
            quote = '"' if kind == "string" else "'"
            opening = text.index(quote, start) + 1
            inner_end = end - 1 if end > opening and text[end - 1] == quote else end
        else:
            opening = inner_end = start
        lexeme = text[start:end]
        code.append(text[position:start])
        bare.append(text[position:start])
        if kind in ("line", "block"):
            blanked = _NOT_NEWLINE.sub(" ", lexeme)
            code.append(blanked)
            bare.append(blanked)
        else:  # keep the prefix and the quotes (and a raw string's delimiters), blank the inside
            code.append(lexeme)
            bare.append(text[start:opening] + _NOT_NEWLINE.sub(" ", text[opening:inner_end]) + text[inner_end:end])
        position = end
    code.append(text[position:])
    bare.append(text[position:])
    return "".join(code), "".join(bare)


# --- what a source defines ------------------------------------------------------------------------

_LAUNCH_BOUNDS = re.compile(r"__launch_bounds__\s*\([^()]{0,200}\)")
# `\b__global__\b` led by its literal: the engine jumps between occurrences (~25x faster)
_GLOBAL = re.compile(r"__global__(?<!\w__global__)\b")
_TRAILING_NAME = re.compile(r"[A-Za-z_]\w*")
_HEAD = 2000  # how far after __global__ the parameter list may start


@dataclass(frozen=True)
class Kernel:
    name: str
    line: int


def kernels(bare: str) -> list[Kernel]:
    """The `__global__` functions of a comment- and string-stripped source, first occurrence
    (declaration or definition) of each name."""
    bare = _LAUNCH_BOUNDS.sub(lambda m: " " * len(m.group()), bare)
    found: dict[str, Kernel] = {}
    line, counted = 1, 0  # the line number at offset `counted`
    for match in _GLOBAL.finditer(bare):
        paren = bare.find("(", match.end(), match.end() + _HEAD)
        head = bare[match.end():paren].rstrip() if paren != -1 else ";"
        if any(c in head for c in ";{}#"):
            continue
        if head.endswith(">"):  # an explicit specialisation: kernel<float>(...)
            head = head[:head.rfind("<")].rstrip()
        start = len(head)
        while start > 0 and (head[start - 1].isalnum() or head[start - 1] == "_"):
            start -= 1
        name = _TRAILING_NAME.fullmatch(head[start:])
        if name and name.group() not in found:
            line, counted = line + bare.count("\n", counted, match.start()), match.start()
            found[name.group()] = Kernel(name.group(), line)
    return list(found.values())


_REGISTRATION = re.compile(
    r"\b(PYBIND11_MODULE|TORCH_LIBRARY_FRAGMENT|TORCH_LIBRARY_IMPL|TORCH_LIBRARY)\s*\(([^()]{0,300})\)\s*\{"
)
# where a registration can start (led by a literal, found fast; `\b` + alternation is not)
_REGISTRATION_START = re.compile(r"PYBIND11_MODULE|TORCH_LIBRARY")


def _registration_matches(bare: str) -> list[re.Match[str]]:
    """`_REGISTRATION.finditer(bare)`, tried only where one of its words starts (every match
    starts with one; a word inside an earlier match is skipped, as finditer skips it)."""
    found: list[re.Match[str]] = []
    end = 0
    for word in _REGISTRATION_START.finditer(bare):
        if word.start() < end:
            continue
        match = _REGISTRATION.match(bare, word.start())
        if match is not None:
            found.append(match)
            end = match.end()
    return found


@dataclass(frozen=True)
class Registration:
    """One registration block and the operators it names."""

    macro: str  # PYBIND11_MODULE, TORCH_LIBRARY, TORCH_LIBRARY_FRAGMENT, TORCH_LIBRARY_IMPL
    namespace: str  # the pybind11 module name (maybe TORCH_EXTENSION_NAME), or the op namespace
    dispatch_key: str | None  # TORCH_LIBRARY_IMPL only
    ops: tuple[str, ...]
    start: int  # the macro invocation, `PYBIND11_MODULE(name, m)`
    end: int

    @property
    def is_cuda_impl(self) -> bool:
        return self.dispatch_key is not None and "CUDA" in self.dispatch_key

    @property
    def python_prefix(self) -> str | None:
        """How Python reaches its ops: `torch.ops.<ns>` or the pybind11 module's name."""
        if self.macro == "PYBIND11_MODULE":
            return None if self.namespace == "TORCH_EXTENSION_NAME" else self.namespace
        return f"torch.ops.{self.namespace}"


def registrations(code: str, bare: str) -> list[Registration]:
    """The registration blocks of a source: `code` without comments, `bare` also without string
    contents (the same offsets)."""
    blocks: list[Registration] = []
    matches = _registration_matches(bare)
    closing = _brace_pairs(bare) if matches else {}
    body_end = -1
    for match in matches:
        macro = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")]
        if match.start() < body_end or len(args) != (3 if macro == "TORCH_LIBRARY_IMPL" else 2) or not all(args):
            continue  # blocks do not nest
        variable = re.escape(args[-1])
        body_end = closing.get(match.end() - 1, len(bare))
        body = code[match.end():body_end]
        if macro == "PYBIND11_MODULE":
            pattern = rf"\b{variable}\s*\.\s*def\s*\(\s*\"([^\"]*)\""
        else:
            pattern = (rf"\b{variable}\s*\.\s*(?:def|impl)\s*\(\s*"
                       rf"(?:TORCH_SELECTIVE_SCHEMA\s*\(\s*|TORCH_SELECTIVE_NAME\s*\(\s*)?\"([^\"]*)\"")
        ops: list[str] = []
        for op in re.finditer(pattern, body):
            name = op.group(1) if macro == "PYBIND11_MODULE" else _op_name(op.group(1))
            if name and name not in ops:
                ops.append(name)
        close = bare.index(")", match.start())
        blocks.append(Registration(macro, args[0], args[1] if macro == "TORCH_LIBRARY_IMPL" else None,
                                   tuple(ops), match.start(), close + 1))
    return blocks


def _brace_pairs(bare: str) -> dict[int, int]:
    """Offset of each `{` -> offset of its `}` (an unclosed one has none)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in re.finditer(r"[{}]", bare):
        if match.group() == "{":
            stack.append(match.start())
        elif stack:
            pairs[stack.pop()] = match.start()
    return pairs


def _op_name(schema: str) -> str:
    """`myext::fused_gelu.out(Tensor x) -> Tensor` -> `fused_gelu`."""
    match = re.match(r"\s*(?:\w+::)?(\w+)", schema)
    return match.group(1) if match else ""


_CUDA_INCLUDE = re.compile(
    r"^[ \t]*#[ \t]*include[ \t]*[<\"][ \t]*(?:"
    r"(?:cuda\w*|cublas\w*|cudnn\w*|curand\w*|cufft\w*|cusparse\w*|cusolver\w*|nvrtc\w*|nvToolsExt\w*|nccl)\.h"
    r"|ATen/cuda/|c10/cuda/|thrust/|cub/|cooperative_groups|[^>\"\n]*\.cuh[>\"])",
    re.MULTILINE,
)
_CUDA_CODE = re.compile(
    r"\bcuda[A-Z]\w*|\bis_cuda\s*\(|\bkCUDA\b|\bat::cuda\b|\bc10::cuda\b|DeviceType::CUDA\b|\bCUDAGuard\b"
    r"|\bCUDAStream\b|<<<|\b\w+_cuda\s*\(|\b(?:AT|C10)_CUDA_\w+"
)


def uses_cuda(code: str, bare: str) -> bool:
    """Whether a C++ source is CUDA code: CUDA headers, CUDA runtime / ATen CUDA API, launches."""
    return _CUDA_INCLUDE.search(code) is not None or _CUDA_CODE.search(bare) is not None


def reported_blocks(blocks: Iterable[Registration], cuda_file: bool) -> list[Registration]:
    """The blocks of a CUDA file, which a TORCH_LIBRARY_IMPL(ns, CUDA, m) block makes one;
    never a TORCH_LIBRARY_IMPL for another key (CPU, Meta, Autograd…)."""
    blocks = list(blocks)
    cuda_file = cuda_file or any(b.is_cuda_impl for b in blocks)
    return [b for b in blocks if b.is_cuda_impl or (cuda_file and b.dispatch_key is None)]


# --- the file kind -------------------------------------------------------------------------------


def _cuda_rules(rules: CompiledRules | RuleSet) -> list[tuple[Rule, CudaSource]]:
    ruleset = rules if isinstance(rules, RuleSet) else rules.ruleset
    return [(rule, rule.spec) for rule in ruleset.rules if isinstance(rule.spec, CudaSource)]


def migrate_cuda_source(text: str, name: str, rules: CompiledRules, render: bool) -> Migration:
    """The cuda-source file kind (filekinds.py): manual items only, the file is never changed."""
    is_cuda = name.lower().endswith(CUDA_SUFFIXES)
    if not is_cuda and not any(word in text for word in _REGISTRATION_WORDS):
        return _NOTHING
    active = _cuda_rules(rules)
    if not active:
        return _NOTHING
    code, bare = strip_both(text)
    blocks = registrations(code, bare)
    if not is_cuda and not blocks:
        return _NOTHING
    reported = reported_blocks(blocks, is_cuda or uses_cuda(code, bare))
    defined = kernels(bare) if is_cuda else []
    lines = [line.removesuffix("\r") for line in text.split("\n")]  # lines as _span and kernels() count them
    findings: list[Finding] = []
    for rule, spec in active:
        if is_cuda:
            findings.append(Finding(rule.id, _file_message(name, defined, spec), Safety.MANUAL,
                                    Span(1, 1, 1, len(lines[0]) + 1), lines[0]))
        for block in reported:
            span = _span(text, block.start, block.end)
            findings.append(Finding(rule.id, _block_message(block, spec), Safety.MANUAL, span, lines[span.line - 1]))
    findings.sort(key=lambda f: (f.span.line, f.span.column, f.rule_id))
    return Migration(None, (), tuple(findings))


def _span(text: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = text.count("\n", 0, end) + 1
    end_column = end - (text.rfind("\n", 0, end) + 1) + 1
    return Span(line, column, end_line, end_column)


def _file_message(name: str, found: list[Kernel], spec: CudaSource) -> str:
    what = "CUDA header" if name.lower().endswith(".cuh") else "CUDA source"
    if found:
        listed = ", ".join(f"{k.name} (line {k.line})" for k in found)
        plural = "s" if len(found) > 1 else ""
        return f"{what} with {len(found)} __global__ kernel{plural}: {listed}: {spec.message}"
    return f"{what} (no __global__ kernel: device functions or host code): {spec.message}"


def _block_message(block: Registration, spec: CudaSource) -> str:
    ops = ", ".join(block.ops) if block.ops else "no operator found by name"
    count = f"{len(block.ops)} op{'s' if len(block.ops) != 1 else ''}"
    if block.macro == "PYBIND11_MODULE":
        module = ("TORCH_EXTENSION_NAME (the extension's name in its build script)"
                  if block.namespace == "TORCH_EXTENSION_NAME" else block.namespace)
        return f"pybind11 module {module} binds CUDA code, {count}: {ops}: {spec.message}"
    if block.macro == "TORCH_LIBRARY_IMPL":
        return (f"TORCH_LIBRARY_IMPL({block.namespace}, {block.dispatch_key}) registers {block.dispatch_key} kernels, "
                f"{count}: {ops}: register NPU ones with TORCH_LIBRARY_IMPL({block.namespace}, PrivateUse1, m); "
                f"{spec.message}")
    return f"{block.macro}({block.namespace}) defines CUDA operators torch.ops.{block.namespace}.*, {count}: {ops}: " \
           f"{spec.message}"


# --- the tree: which operators Python can call ------------------------------------------------------


@dataclass(frozen=True)
class Extension:
    """A CUDAExtension / CppExtension / cpp_extension.load() call in a build script."""

    name: str | None  # the Python module it builds (None when not a literal)
    sources: tuple[str, ...]  # as resolved: normalised paths or glob patterns
    cuda: bool  # CUDAExtension, or built from .cu sources


def extensions(path: PurePath, text: str) -> list[Extension]:
    """The extensions a Python build script (setup.py, a module calling load()) declares."""
    folder = os.path.dirname(os.path.normpath(str(path)))
    found: list[Extension] = []
    for callee, name, strings in _build_calls(text):
        sources = tuple(os.path.normpath(os.path.join(folder, s)) for s in strings)
        cuda = callee == "CUDAExtension" or any(s.endswith(CUDA_SUFFIXES) for s in sources)
        found.append(Extension(name, sources, cuda))
    return found


@functools.lru_cache(maxsize=64)
def _build_calls(text: str) -> tuple[tuple[str, str | None, tuple[str, ...]], ...]:
    """(callee, literal name, literal sources) of a script's build calls (cached: two passes ask)."""
    if "CUDAExtension" not in text and "CppExtension" not in text and "cpp_extension" not in text:
        return ()  # none of the three callees can be there (a load() counts only with cpp_extension)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = _callee(node.func)
        if callee not in ("CUDAExtension", "CppExtension", "load"):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        name_node = node.args[0] if node.args else keywords.get("name")
        sources_node = node.args[1] if len(node.args) > 1 else keywords.get("sources")
        if callee == "load" and (sources_node is None or "cpp_extension" not in text):
            continue
        name = name_node.value if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str) else None
        found.append((callee, name, tuple(_source_strings(sources_node))))
    return tuple(found)


def _callee(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _source_strings(node: ast.expr | None) -> list[str]:
    """Literal source paths: "a.cpp", os.path.join("csrc", "a.cu"), glob.glob("csrc/*.cu")."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for element in node.elts for s in _source_strings(element)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _source_strings(node.left) + _source_strings(node.right)
    if isinstance(node, ast.Call):
        callee = _callee(node.func)
        parts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if callee == "join" and len(parts) == len(node.args) and parts:
            return ["/".join(parts)]
        if callee in ("glob", "iglob") and len(parts) == 1:
            return [parts[0]]
    return []


def _built_by(path: PurePath, built: list[Extension]) -> Extension | None:
    """The extension that compiles a source: by path (or glob), else by a unique file name."""
    normal = os.path.normpath(str(path))
    for extension in built:
        if any(normal == s or fnmatch.fnmatchcase(normal, s) for s in extension.sources):
            return extension
    by_name = [e for e in built if any(os.path.basename(s) == path.name for s in e.sources)]
    return by_name[0] if len(by_name) == 1 else None


def registered_ops(files: Iterable[tuple[Path, str]]) -> dict[str, list[str]]:
    """The CUDA operators a tree registers, as Python reaches them: `torch.ops.<namespace>` or
    the pybind11 module's name -> op names, in order of appearance.

    A pybind11 module named TORCH_EXTENSION_NAME takes its name from the CUDAExtension /
    load() call that builds its file; a .cpp file is CUDA code when it is one (by its
    includes and calls) or when a CUDA extension builds it.
    """
    files = list(files)
    built = [e for path, text in files if path.suffix == ".py" for e in extensions(path, text)]
    ops: dict[str, list[str]] = {}
    for path, text in files:
        suffix = path.suffix.lower()
        if suffix not in SOURCE_SUFFIXES or not any(word in text for word in _REGISTRATION_WORDS):
            continue
        code, bare = strip_both(text)
        extension = _built_by(path, built)
        cuda_file = suffix in CUDA_SUFFIXES or uses_cuda(code, bare) or (extension is not None and extension.cuda)
        for block in reported_blocks(registrations(code, bare), cuda_file):
            prefix = block.python_prefix
            if prefix is None and extension is not None:
                prefix = extension.name
            if prefix is None:
                continue
            names = ops.setdefault(prefix, [])
            names.extend(op for op in block.ops if op not in names)
    return {prefix: names for prefix, names in ops.items() if names}


def call_site_rule(ops: dict[str, list[str]], base: Rule | None = None) -> Rule | None:
    """A report rule (`cuda-op-call`) for the Python call sites of registered CUDA operators,
    or None when there are none. `base` (the `cuda-op` rule) lends its targets and rule file,
    so `--select cuda-ops` covers it."""
    names = sorted({f"{prefix}.{op}" for prefix, listed in ops.items() for op in listed
                    if QUALIFIED_NAME.match(f"{prefix}.{op}")})
    if not names:
        return None
    spec = Report(
        names=frozenset(names), prefixes=(),
        message=("{name} is a custom CUDA operator: it has no NPU kernel until its C++/CUDA source is ported "
                 "(Ascend C via OpPlugin, or PyTorch ops); see the cuda-op items of its sources"),
        guidance={}, keywords={}, fallback=False,
    )
    return Rule(
        id=CALL_SITE_RULE, kind="report",
        summary="Calls of custom CUDA operators registered by the project's own extensions",
        why="An operator registered from CUDA code (PYBIND11_MODULE, TORCH_LIBRARY) has no NPU implementation: "
            "every call fails on Ascend until the operator is ported.",
        safety=Safety.MANUAL, source="found in this tree by portkit (rules/cuda-ops.toml cuda-op)",
        targets=base.targets if base is not None else frozenset({"npu"}), examples=(), spec=spec,
        needs_import=False, origin=base.origin if base is not None else "rules/cuda-ops.toml",
    )


def with_call_sites(ruleset: RuleSet, paths: Sequence[Path], scripts: Sequence[tuple[Path, str]]) -> RuleSet:
    """The rule set plus the `cuda-op-call` rule for the operators the tree at `paths`
    registers from CUDA code, when `cuda-op` is active and there are any. `scripts` are the
    tree's Python files that mention `cpp_extension`, with their text (already read for
    extimports): they name pybind11 modules and tell CUDA builds from CPU ones.

    C/C++/CUDA sources are read here, so a tree without extensions costs a scan of file
    names. The generated rule is part of the rule set, so the check cache key changes with it."""
    if CALL_SITE_RULE in ruleset.ids or not any(rule.id == "cuda-op" for rule in ruleset.rules):
        return ruleset
    sources = [(p, t) for p in paths if p.suffix.lower() in SOURCE_SUFFIXES
               for t in [_read(p)] if t is not None and any(w in t for w in _REGISTRATION_WORDS)]
    if not sources:
        return ruleset
    rule = call_site_rule(registered_ops([*scripts, *sources]), ruleset.get("cuda-op"))
    if rule is None:
        return ruleset
    return RuleSet(ruleset.rules + (rule,), (ruleset.universe or ruleset.rules) + (rule,), ruleset.npu_version)


def _read(path: Path) -> str | None:
    """The text of a file, or None when it cannot be read (the main pass reports why)."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
