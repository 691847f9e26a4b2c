"""Imports of compiled CUDA extension modules: the `cuda-extension-import` rule (rules/cuda-ops.toml).

`import scaled_masked_softmax_cuda` (Megatron), `import fused_layer_norm_cuda` (apex): such a
module is a shared library that nvcc built; on Ascend it neither builds nor loads, and the
import fails before any of its operators is called. The rule file lists a few well-known
names; for each run `expand` adds the tree's own (from `extension_sources`), so the normal Python
pipeline reports their imports (the report kind, `prefixes`):

- the CUDA extensions the tree builds: the literal name of a CUDAExtension(...), or of a
  CppExtension(...) / cpp_extension.load(...) over .cu sources (cudaops.extensions);
- the modules the tree's Python files import whose last name marks a CUDA build (`*_cuda`,
  `*_cuda_kernel`, `*_cuda_ext`, …) and that are not Python modules of the tree.

A name under another report rule's prefixes (apex's `amp_C`, `flash_attn_2_cuda`) is left to
that rule, and a name the tree builds as a CPU-only extension is not reported. The names are
part of the rule, so they are part of the check cache key.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from portkit.ruleset import QUALIFIED_NAME, Report, Rule, RuleSet

IMPORT_RULE = "cuda-extension-import"

# the last name of a module built by nvcc, by the conventions of apex, Megatron, mamba, mmcv…
# (a stem is required: `torch.cuda`, `numba.cuda` and `from cupy import cuda` are packages)
CUDA_BUILD_NAME = re.compile(r"[A-Za-z0-9]\w*?_cuda(?:_(?:kernels?|ext|extension|lib|ops?|C))?")

# an import statement at the start of a line or after `;` / `:` (`try: import x_cuda`): the
# modules of `import a, b as c`, the module of `from m import ...` (not the names it imports)
_IMPORT = re.compile(
    r"(?:^|[;:])[ \t]*(?:from[ \t]+(?P<module>\.*[\w.]*)[ \t]+import\b|import[ \t]+(?P<modules>[^\n;#]*))",
    re.MULTILINE,
)


# a build that can name its module: CUDAExtension(... / CppExtension(..., or load("name", ...) /
# load(name="name", ...) (a load() without a literal name tells nothing; parsing every script
# that mentions cpp_extension would cost more than the rest of this pass)
_BUILD_CALL = re.compile(r"\b(?:CUDAExtension|CppExtension)\s*\(|\bload\s*\(\s*(?:name\s*=\s*)?['\"]")


@dataclass(frozen=True)
class ExtensionModule:
    """A module the rule reports at its imports, and how portkit knows it is a CUDA build."""

    name: str  # dotted, as imported: `fused_cuda`, `pkg._C`
    built_by: str | None  # the build script that names it (CUDAExtension / load), else None


def imported_candidates(text: str) -> set[str]:
    """Absolute modules this Python text imports whose last name marks a CUDA build:
    `import a.x_cuda as y`, `from x_cuda_ext import f`. A name imported *from* a module
    (`from utils import move_to_cuda`) may be a function: not a candidate. Only the lines
    that hold `_cuda` are read (the regex over a whole file costs more than the rest)."""
    found: set[str] = set()
    start = text.find("_cuda")
    while start != -1:
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        line_end = len(text) if line_end == -1 else line_end
        found.update(_line_candidates(text[line_start:line_end]))
        start = text.find("_cuda", line_end)
    return found


def _line_candidates(line: str) -> Iterator[str]:
    for match in _IMPORT.finditer(line):
        if match.group("module") is not None:
            modules = [match.group("module")]
        else:
            modules = [part.split(" as ")[0] for part in match.group("modules").split(",")]
        for module in (m.strip() for m in modules):
            if QUALIFIED_NAME.fullmatch(module) and CUDA_BUILD_NAME.fullmatch(module.rpartition(".")[2]):
                yield module


def tree_modules(relative_paths: Iterable[PurePath]) -> frozenset[str]:
    """Every dotted name a Python file or folder of the tree can be imported as, whatever the
    package root: `src/pkg/x_cuda.py` gives x_cuda, pkg.x_cuda, src.pkg.x_cuda, pkg, src.pkg…"""
    names: set[str] = set()
    for path in relative_paths:
        if path.suffix not in (".py", ".pyi"):
            continue
        parts = [*path.parent.parts, path.stem] if path.stem != "__init__" else list(path.parent.parts)
        for end in range(1, len(parts) + 1):
            for start in range(end):
                names.add(".".join(parts[start:end]))
    return frozenset(names)


def extension_modules(scripts: Iterable[tuple[PurePath, str]], imported: Iterable[str],
                      in_tree: frozenset[str], left_to_others: Sequence[str]) -> list[ExtensionModule]:
    """The tree's CUDA extension modules: built by its scripts (CUDA builds only), or imported
    with a CUDA-build name and not a Python module of the tree; none another rule reports."""
    from portkit.filekinds.cudaops import extensions

    built: dict[str, str] = {}
    cpu_only: set[str] = set()
    for path, text in scripts:
        for extension in extensions(path, text):
            if extension.name is None or not QUALIFIED_NAME.fullmatch(extension.name):
                continue
            if extension.cuda:
                built.setdefault(extension.name, path.as_posix())
            else:
                cpu_only.add(extension.name)
    found = [ExtensionModule(name, script) for name, script in built.items()]
    found += [ExtensionModule(name, None) for name in sorted(set(imported) - built.keys() - cpu_only)
              if name not in in_tree]
    return [m for m in sorted(found, key=lambda m: m.name) if not _under(m.name, left_to_others)]


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


_ADVICE = ("it does not build or load on Ascend; port its kernels to Ascend C custom operators (registered "
           "for the NPU through torch_npu's op-plugin, built with torch_npu.utils.cpp_extension.NpuExtension) "
           "or replace its calls with PyTorch / torch_npu ops")


def _guidance(module: ExtensionModule) -> str:
    """Why this name is a CUDA build, and what to do: the item's message."""
    if module.built_by is not None:
        return f"{module.name} is a CUDA extension built in this tree ({module.built_by}): {_ADVICE}"
    return f"{module.name} is not a Python module of this tree and its name marks a compiled CUDA extension: {_ADVICE}"


def import_rule(base: Rule, modules: Sequence[ExtensionModule], in_tree: frozenset[str]) -> Rule:
    """`base` (the rule file's cuda-extension-import) with the tree's modules added to its
    prefixes, each with its own message; its listed names that are Python modules of the
    tree are dropped."""
    spec = base.spec
    assert isinstance(spec, Report)
    listed = [p for p in spec.prefixes if p not in in_tree]
    added = [m for m in modules if m.name not in listed]
    guidance = {**spec.guidance, **{m.name: _guidance(m) for m in added}}
    # `from pkg import _C`: the import names its module `pkg`, which the message is keyed by
    parents: dict[str, list[str]] = {}
    for module in added:
        parent, _, _ = module.name.rpartition(".")
        if parent:
            parents.setdefault(parent, []).append(module.name)
    for parent, names in parents.items():
        if parent not in guidance:
            guidance[parent] = (guidance[names[0]] if len(names) == 1
                                else f"{' / '.join(names)} are CUDA extension modules; each one: {_ADVICE}")
    new = dataclasses.replace(spec, prefixes=(*listed, *(m.name for m in added)), guidance=guidance)
    return dataclasses.replace(base, spec=new)


def expand(ruleset: RuleSet, sources: Iterable[tuple[PurePath, str]], relative: Iterable[PurePath]) -> RuleSet:
    """The rule set with `cuda-extension-import` made for this tree (when it is active):
    `sources` are the Python texts worth reading (path, text), `relative` every file of the
    tree below its root."""
    if IMPORT_RULE not in ruleset.ids:
        return ruleset
    base = ruleset.get(IMPORT_RULE)
    sources = list(sources)
    in_tree = tree_modules(relative)
    imported = {name for _, text in sources for name in imported_candidates(text)}
    scripts = [(path, text) for path, text in sources if "cpp_extension" in text and _BUILD_CALL.search(text)]
    # judged against every loaded rule, as `fallback` is: `--ignore apex` does not hand amp_C to this rule
    others = [p for rule in ruleset.universe or ruleset.rules if rule.id != IMPORT_RULE
              and isinstance(rule.spec, Report) for p in rule.spec.prefixes]
    rule = import_rule(base, extension_modules(scripts, imported, in_tree, others), in_tree)
    if rule == base:
        return ruleset
    swap = {IMPORT_RULE: rule}
    universe = ruleset.universe or ruleset.rules
    return RuleSet(tuple(swap.get(r.id, r) for r in ruleset.rules), tuple(swap.get(r.id, r) for r in universe),
                   ruleset.npu_version)


def extension_sources(files: Sequence[tuple[Path, PurePath]]) -> list[tuple[Path, PurePath, str]]:
    """The Python files of a run, (path, path below its root), that mention `_cuda` or
    `cpp_extension`, with their text: read once for `expand` and for cudaops' build scripts
    (the rest costs a byte search)."""
    found: list[tuple[Path, PurePath, str]] = []
    for path, relative in files:
        if path.suffix != ".py":
            continue
        try:
            data = path.read_bytes()
        except OSError:  # the main pass reports it
            continue
        if b"_cuda" in data or b"cpp_extension" in data:
            found.append((path, relative, data.decode("utf-8", errors="replace")))
    return found
