#!/usr/bin/env python3
"""Derive the public API of one torch-npu release from its wheel and write
src/portkit/ruleset/data/torch_npu-<version>.json.

The wheel is read with zipfile and its sources parsed with ast: torch_npu is never imported
(it needs Ascend drivers).  The torch.cuda side comes from the installed (CPU) torch, probed
in a subprocess with TORCH_DEVICE_BACKEND_AUTOLOAD=0.

    python scripts/derive_npu_api.py path/to/torch_npu-2.13.0-...whl
    python scripts/derive_npu_api.py --version 2.13.0      # pip download into ~/.cache/portkit/wheels

How torch.npu becomes importable (torch_npu 2.13.0, found in the wheel; also in "import_notes"):
  torch_npu/_init/registry/backend.py::register_privateuse1_backend() calls
  torch.utils.rename_privateuse1_backend("npu") and then
  torch._register_device_module("npu", torch_npu.npu).  That torch function does
  setattr(torch, "npu", module) and sys.modules["torch.npu"] = module.  Nothing in the wheel
  writes sys.modules["torch.npu.amp"] (or any other "torch.npu.*" key).  `import torch.npu.amp`
  still works because torch_npu.npu is a package: Python finds amp/ through its __path__ and
  executes it a second time under the name "torch.npu.amp" (a distinct module object, which
  also rebinds torch_npu.npu.amp).  Plain attribute access (torch.npu.amp.X) needs no import.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "src" / "portkit" / "ruleset" / "data"
DEFAULT_CACHE = Path.home() / ".cache" / "portkit" / "wheels"
NPU = "torch_npu/npu"


class Wheel:
    """Python sources of a wheel, parsed on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())

    def text(self, member: str) -> str:
        return self.zip.read(member).decode("utf-8")

    @cache
    def tree(self, member: str) -> ast.Module:
        with warnings.catch_warnings():  # invalid escapes etc. in the wheel's sources are not our business
            warnings.simplefilter("ignore")
            return ast.parse(self.text(member), filename=member)

    def module_file(self, dotted: str) -> str | None:
        """'torch_npu/npu/amp' -> its __init__.py or .py member, if present."""
        for candidate in (f"{dotted}/__init__.py", f"{dotted}.py"):
            if candidate in self.names:
                return candidate
        return None

    def sources(self, prefix: str = "torch_npu/") -> Iterator[str]:
        return (n for n in sorted(self.names) if n.startswith(prefix) and n.endswith(".py"))


def literal_all(tree: ast.Module) -> list[str] | None:
    """The literal top-level `__all__ = [...]` of a module, if it has one."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return None


def public_definitions(tree: ast.Module) -> list[str]:
    """Public names a module binds itself at top level (defs, classes, assignments; not imports)."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def module_exports(wheel: Wheel, member: str) -> list[str]:
    """What `from module import *` binds: __all__, else the public top-level definitions."""
    tree = wheel.tree(member)
    found = literal_all(tree)
    return found if found is not None else public_definitions(tree)


def npu_bindings(wheel: Wheel) -> dict[str, str]:
    """Every public name the torch_npu.npu package gets bound in Python, with evidence."""
    init = f"{NPU}/__init__.py"
    tree = wheel.tree(init)
    extra: dict[str, str] = {}
    for name in public_definitions(tree):
        extra.setdefault(name, f"top-level binding in {init}")
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            sub = node.module.split(".")[0]
            member = wheel.module_file(f"{NPU}/{node.module.replace('.', '/')}")
            if not sub.startswith("_"):
                extra.setdefault(sub, f"submodule, imported by {init} (from .{node.module} import ...)")
            names = [a.asname or a.name for a in node.names]
            if names == ["*"] and member:
                names = module_exports(wheel, member)
                how = f"star-imported from {member} by {init}"
            else:
                how = f"imported from .{node.module} by {init}"
            for name in names:
                if not name.startswith("_"):
                    extra[name] = how  # a later binding wins, as at runtime
        # the module-level __getattr__ serving lazy submodules (npugraph_ex)
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            for lazy in name_comparisons(node):
                extra.setdefault(lazy, f"lazy, via __getattr__ in {init}")
    # submodules imported (anywhere, also inside functions) by the package's init machinery
    for member in ["torch_npu/__init__.py", *wheel.sources("torch_npu/_init/")]:
        for found in ast.walk(wheel.tree(member)):
            mods = [a.name for a in found.names] if isinstance(found, ast.Import) else (
                [found.module] if isinstance(found, ast.ImportFrom) and found.module else [])
            for mod in mods:
                parts = mod.split(".")
                if parts[:2] == ["torch_npu", "npu"] and len(parts) > 2 and not parts[2].startswith("_"):
                    extra.setdefault(parts[2], f"submodule, imported during `import torch_npu` by {member}")
    return extra


def npu_namespace(wheel: Wheel) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """torch.npu.__all__, the other public names torch.npu gets (with evidence), and the
    public names of each submodule reachable as torch.npu.<sub>."""
    exported = literal_all(wheel.tree(f"{NPU}/__init__.py")) or []
    extra = npu_bindings(wheel)
    for name in exported:  # names in __all__ shadow same-named submodules (mstx is a class)
        extra.pop(name, None)
    submodules: dict[str, list[str]] = {}
    for name in extra:
        member = wheel.module_file(f"{NPU}/{name}")
        if member:
            submodules[name] = sorted(set(module_exports(wheel, member)) | set(public_definitions(wheel.tree(member))))
    return sorted(exported), dict(sorted(extra.items())), submodules


def bound_in_python(wheel: Wheel, exported: list[str]) -> list[str]:
    """Names of torch.npu.__all__ that no Python statement binds (they come from the C extension)."""
    return sorted(set(exported) - set(npu_bindings(wheel)))


def name_comparisons(fn: ast.FunctionDef) -> set[str]:
    """The string constants a __getattr__/__setattr__ compares its `name` argument with."""
    return {c.comparators[0].value for c in ast.walk(fn)
            if isinstance(c, ast.Compare) and isinstance(c.left, ast.Name) and c.left.id == "name"
            and isinstance(c.ops[0], ast.Eq) and isinstance(c.comparators[0], ast.Constant)
            and isinstance(c.comparators[0].value, str)}


def config_attributes(wheel: Wheel) -> dict[str, dict[str, list[str]]]:
    """torch.npu.matmul / conv / config: instances of npu_config classes whose __getattr__ /
    __setattr__ compare `name` against string constants; those constants are the attributes."""
    config_tree = wheel.tree(f"{NPU}/npu_config.py")
    classes = {n.name: n for n in config_tree.body if isinstance(n, ast.ClassDef)}
    result: dict[str, dict[str, list[str]]] = {}
    for node in wheel.tree(f"{NPU}/__init__.py").body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in classes):
            access: dict[str, list[str]] = {"get": [], "set": []}
            for method in classes[node.value.func.attr].body:
                if isinstance(method, ast.FunctionDef) and method.name in ("__getattr__", "__setattr__"):
                    key = "get" if method.name == "__getattr__" else "set"
                    access[key] = sorted(name_comparisons(method))
            for target in node.targets:
                result[f"torch.npu.{getattr(target, 'id')}"] = access
    return result


def parameters(fn: ast.FunctionDef) -> dict[str, list[str]]:
    """Parameter names in order, and which of them have no default."""
    args = [*fn.args.posonlyargs, *fn.args.args]
    required = args[: len(args) - len(fn.args.defaults)]
    return {"params": [a.arg for a in args], "required": [a.arg for a in required]}


def mstx_functions(wheel: Wheel) -> dict[str, dict[str, list[str]]]:
    """Static methods of class `mstx` in npu/mstx.py: `torch.npu.mstx` is that class."""
    for node in wheel.tree(f"{NPU}/mstx.py").body:
        if isinstance(node, ast.ClassDef) and node.name == "mstx":
            return {f.name: parameters(f) for f in node.body
                    if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}
    raise SystemExit("class mstx not found in npu/mstx.py")


def find_calls(wheel: Wheel, attr: str, prefix: str = "torch_npu/") -> list[tuple[str, int, list[Any], dict[str, Any]]]:
    """Calls to `<anything>.attr(...)` under prefix: (member, line, constant args, constant kwargs)."""
    hits: list[tuple[str, int, list[Any], dict[str, Any]]] = []
    for member in wheel.sources(prefix):
        if attr not in wheel.text(member):
            continue
        for node in ast.walk(wheel.tree(member)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == attr:
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                kwargs = {k.arg: k.value.value for k in node.keywords if k.arg and isinstance(k.value, ast.Constant)}
                hits.append((member, node.lineno, args, kwargs))
    return hits


def sys_modules_writes(wheel: Wheel) -> list[str]:
    """Every `sys.modules[...] = ...` in the wheel, as 'member:line key'."""
    found = []
    for member in wheel.sources():
        if "sys.modules[" not in wheel.text(member):
            continue
        for node in ast.walk(wheel.tree(member)):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "sys.modules":
                        found.append(f"{member}:{node.lineno} {ast.unparse(t.slice)}")
    return found


def public_api_aliases(wheel: Wheel) -> dict[str, str]:
    """torch.distributed.<name> targets of _PUBLIC_API_ALIASES in the distributed patches."""
    member = "torch_npu/_init/patches/distributed_patches.py"
    if member in wheel.names:
        for node in wheel.tree(member).body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_PUBLIC_API_ALIASES":
                pairs = ast.literal_eval(node.value)
                return {t.split(".", 1)[1]: f"torch_npu.{s} (patched on by {member})"
                        for t, s in pairs if t.count(".") == 1}
        return {}
    # releases before the _init/ package assign them directly: torch.distributed.X = torch_npu.Y
    member = "torch_npu/__init__.py"
    found: dict[str, str] = {}
    for node in ast.walk(wheel.tree(member)):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = ast.unparse(node.targets[0])
            if target.startswith("torch.distributed.") and target.count(".") == 2:
                found[target.rsplit(".", 1)[1]] = f"{ast.unparse(node.value)} (patched on by {member})"
    return found


def import_notes(wheel: Wheel, exported: list[str]) -> list[str]:
    """Where torch_npu makes `torch.npu` (and `import torch.npu.X`) work, with file:line evidence."""
    notes = [f"{m}:{line} calls torch.utils.rename_privateuse1_backend({args[0]!r})"
             for m, line, args, _ in find_calls(wheel, "rename_privateuse1_backend")]
    notes += [f"{m}:{line} calls torch._register_device_module({args[0]!r}, torch_npu.npu); that torch function "
              "does setattr(torch, 'npu', module) and sys.modules['torch.npu'] = module"
              for m, line, args, _ in find_calls(wheel, "_register_device_module")]
    writes = sys_modules_writes(wheel)
    if not any("torch.npu" in w for w in writes):
        notes.append("no sys.modules['torch.npu.<sub>'] key is written anywhere in the wheel (sys.modules writes: "
                     + "; ".join(writes) + "). `import torch.npu.amp` still works because torch.npu is the "
                     "torch_npu.npu package: Python finds amp/ through its __path__ and executes it a second time "
                     "as a distinct module 'torch.npu.amp' (other class objects than torch_npu.npu.amp) and rebinds "
                     "torch_npu.npu.amp to it; attribute access torch.npu.amp.X needs no import")
    init = wheel.tree(f"{NPU}/__init__.py")
    for node in init.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in exported:
            shadow = [a.name for a in node.names if (a.asname or a.name) == node.module]
            if shadow:
                notes.append(f"torch.npu.{node.module} is the object {node.module!r} from torch_npu/npu/"
                             f"{node.module}.py (from .{node.module} import {node.module} shadows the submodule); "
                             f"the module itself is reachable only via sys.modules / from-import")
    entry_points = wheel.text(next(n for n in wheel.names if n.endswith(".dist-info/entry_points.txt")))
    autoload = re.search(r"\[torch\.backends\]\s*\n([^\[]+)", entry_points)
    if autoload:
        notes.append(f"entry point [torch.backends] {autoload.group(1).strip()}: `import torch` imports torch_npu "
                     "unless TORCH_DEVICE_BACKEND_AUTOLOAD=0")
    return notes


TORCH_PROBE = r"""
import inspect, json, sys
import torch
import torch.distributed
req = json.loads(sys.argv[1])
def params(fn):
    return [p.name for p in inspect.signature(fn).parameters.values()]
out = {"torch_version": torch.__version__,
       "torch.cuda": sorted(torch.cuda.__all__), "torch.cuda.amp": sorted(torch.cuda.amp.__all__),
       "torch.cuda.nvtx": {n: params(getattr(torch.cuda.nvtx, n)) for n in torch.cuda.nvtx.__all__},
       "torch.distributed": {n: hasattr(torch.distributed, n) for n in req["distributed"]}}
classes = {"torch.Tensor": torch.Tensor, "torch.nn.Module": torch.nn.Module,
           "torch.TypedStorage": torch.TypedStorage, "torch.UntypedStorage": torch.UntypedStorage}
before = {k: set(dir(c)) for k, c in classes.items()}
torch.utils.rename_privateuse1_backend(req["backend"])
torch.utils.generate_methods_for_privateuse1_backend(**req["flags"])
out["generated"] = {k: sorted(set(dir(c)) - before[k]) for k, c in classes.items()}
out["ProfilerActivity"] = sorted(torch.profiler.ProfilerActivity.__members__) + (
    ["NPU"] if hasattr(torch.profiler.ProfilerActivity, "NPU") else [])
print(json.dumps(out))
"""


def probe_torch(backend: str, flags: dict[str, Any], distributed: list[str]) -> dict[str, Any]:
    """Ask the installed torch (a fresh process: renaming the backend cannot be undone)."""
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    request = json.dumps({"backend": backend, "flags": flags, "distributed": distributed})
    done = subprocess.run([sys.executable, "-c", TORCH_PROBE, request], env=env, cwd=REPO,
                          capture_output=True, text=True, check=True)
    facts: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return facts


def wheel_version(wheel: Wheel) -> tuple[str, str]:
    """(version, git_version) from torch_npu/version.py."""
    text = wheel.text("torch_npu/version.py")
    found = dict(re.findall(r"^(\w+)\s*=\s*['\"]([^'\"]+)['\"]", text, re.M))
    return found["__version__"], found.get("git_version", "")


def requires_torch(wheel: Wheel) -> dict[str, str]:
    """The torch release this torch_npu is built for, from its METADATA `Requires-Dist: torch==...`
    (`torch (==2.6.0+cpu)` in older wheels, `torch==2.13.0.*` in newer ones): the requirement as
    written, without spaces or parentheses, and the plain release it names."""
    metadata = wheel.text(next(n for n in sorted(wheel.names) if n.endswith(".dist-info/METADATA")))
    for line in metadata.splitlines():
        found = re.fullmatch(r"Requires-Dist:\s*torch\s*\(?\s*==\s*([^\s);]+)\s*\)?\s*", line)
        if found:
            pinned = found.group(1)
            release = re.sub(r"(\+.*|\.\*)$", "", pinned)
            return {"requirement": f"torch=={pinned}", "version": release}
    raise SystemExit(f"{wheel.path.name}: METADATA has no `Requires-Dist: torch==...`")


def derive(wheel_path: Path) -> dict[str, Any]:
    wheel = Wheel(wheel_path)
    version, git_version = wheel_version(wheel)
    exported, extra, submodules = npu_namespace(wheel)

    # where torch_npu registers itself moved between releases (torch_npu/__init__.py in 2.1,
    # torch_npu/_init/ in 2.13): take the call with a literal backend name, wherever it is
    backend = next(args[0] for _, _, args, _ in find_calls(wheel, "rename_privateuse1_backend") if args)
    gen_file, gen_line, _, flags = find_calls(wheel, "generate_methods_for_privateuse1_backend")[0]
    aliases = public_api_aliases(wheel)
    torch_facts = probe_torch(backend, flags, sorted(aliases))

    profiler = literal_all(wheel.tree("torch_npu/profiler/__init__.py")) or []
    activity_members = sorted({n.attr for m in wheel.sources("torch_npu/profiler/") for n in ast.walk(wheel.tree(m))
                               if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "ProfilerActivity"})
    activity_origin = next((ast.unparse(n) for n in wheel.tree("torch_npu/profiler/__init__.py").body
                            if isinstance(n, ast.ImportFrom) and any(a.name == "ProfilerActivity" for a in n.names)),
                           "ProfilerActivity")

    data: dict[str, Any] = {
        "version": version,
        "source": {"wheel": wheel_path.name, "sha256": hashlib.sha256(wheel_path.read_bytes()).hexdigest(),
                   "git_version": git_version},
        "requires_torch": requires_torch(wheel),
        "torch": {"version": torch_facts["torch_version"],
                  "note": "torch.cuda* fields, torch.distributed presence and tensor_methods come from this "
                          "installed torch, run with TORCH_DEVICE_BACKEND_AUTOLOAD=0"},
        "torch.npu": exported,
        "torch.npu.defined_in_c": bound_in_python(wheel, exported),
        "torch.npu.submodules": sorted(extra),
        "torch.npu.submodules_evidence": extra,
        "torch.npu.submodule_exports": {k: v for k, v in submodules.items() if k != "amp"},
        "torch.npu.amp": sorted(literal_all(wheel.tree(f"{NPU}/amp/__init__.py")) or []),
        "torch.npu.mstx": mstx_functions(wheel),
        "attribute_access": config_attributes(wheel),
        "torch_npu.profiler": sorted(profiler),
        "torch_npu.profiler.ProfilerActivity": {
            "defined_in": f"C extension ({activity_origin} in torch_npu/profiler/__init__.py); members not readable "
                          "from Python sources",
            "members_used_in_python": activity_members,
            "has_NPU": "NPU" in activity_members,
            "torch.profiler.ProfilerActivity_after_rename": torch_facts["ProfilerActivity"],
        },
        "torch_npu.distributed": sorted(literal_all(wheel.tree("torch_npu/distributed/__init__.py")) or []),
        "torch.distributed": {name: {"source": src, "in_plain_torch": torch_facts["torch.distributed"][name]}
                              for name, src in aliases.items()},
        "tensor_methods": {
            **torch_facts["generated"],
            "how": f"{gen_file}:{gen_line} calls torch.utils.generate_methods_for_privateuse1_backend({flags}); "
                   f"the names are what that call adds on the installed torch after rename_privateuse1_backend"
                   f"({backend!r}).",
        },
        "torch.cuda": torch_facts["torch.cuda"],
        "torch.cuda.amp": torch_facts["torch.cuda.amp"],
        "torch.cuda.nvtx": torch_facts["torch.cuda.nvtx"],
        "import_notes": import_notes(wheel, exported),
    }
    for name, access in data["attribute_access"].items():
        data[name] = sorted(set(access["get"]) | set(access["set"]))
    return data


def download(version: str, cache_dir: Path) -> Path:
    """pip download the torch-npu wheel (no deps) into cache_dir, outside the repository."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"torch-npu=={version}",
                    "-d", str(cache_dir)], check=True)
    wheels = sorted(cache_dir.glob(f"torch_npu-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"no torch_npu-{version} wheel in {cache_dir}")
    return wheels[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("wheel", nargs="?", type=Path, help="a torch_npu-*.whl file")
    source.add_argument("--version", help="pip download torch-npu==VERSION first")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download directory (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    wheel_path = args.wheel if args.wheel else download(args.version, args.cache)
    data = derive(wheel_path)
    out = args.out_dir / f"torch_npu-{data['version']}.json"
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(data['torch.npu'])} torch.npu names, "
          f"{len(set(data['torch.npu']) & set(data['torch.cuda']))} shared with torch.cuda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
