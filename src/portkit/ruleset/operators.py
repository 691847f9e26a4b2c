"""Which ATen operators a torch_npu release runs on the NPU, read from the tables in portkit.ruleset.data.

scripts/derive_op_tables.py writes them from the real wheels (docs/operators.md):

- ``aten_ops-torch-<version>.json``: every operator of torch's native_functions.yaml with its
  dispatch keys, the kernel torch's dispatcher gives an NPU (PrivateUse1) tensor when torch_npu
  registers none (a composite one, or none at all), and the operators that kernel was seen to
  call (traced on CPU tensors) or why it was not traced;
- ``npu_ops-<torch_npu version>.json``: the operators torch_npu's yaml registers, per section,
  and what torch_npu does with one it does not register (a CPU fallback with a warning).

``OperatorTable.load("2.13.0").coverage("linalg_eigh")`` follows those calls down to the
operators that need a kernel of their own and says which of them the NPU lacks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

_PACKAGE = "portkit.ruleset.data"
_ATEN_FILE = re.compile(r"^aten_ops-torch-(?P<version>\d[\w.+-]*)\.json$")
_NPU_FILE = re.compile(r"^npu_ops-(?P<version>\d[\w.+-]*)\.json$")
# the yaml sections whose aten operators get an NPU kernel (docs/operators.md)
NPU_KERNEL_SECTIONS = ("supported", "autograd", "quant")
COMPOSITE_KEYS = ("CompositeImplicitAutograd", "CompositeExplicitAutogradNonFunctional", "CompositeExplicitAutograd")
# kernels a device other than the CPU can also use: if a traced composite kernel called an
# operator with a CPU kernel and none of these, it took a CPU-only branch
_NON_CPU_KEYS = frozenset({"CUDA", "MPS", "XPU", "MTIA", *COMPOSITE_KEYS})

Status = Literal["implemented", "decomposes", "missing", "unknown"]
_SEVERITY: dict[str, int] = {"implemented": 0, "decomposes": 1, "unknown": 2, "missing": 3}
_GENERATED = "CompositeExplicitAutogradNonFunctional"  # also what torchgen generates for structured operators


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _normalise(op: str) -> str:
    """'aten::add.Tensor' / 'aten.add.Tensor' / 'add.default' -> 'add.Tensor' / 'add'."""
    name = op.strip()
    for prefix in ("torch.ops.aten.", "aten::", "aten."):
        name = name.removeprefix(prefix)
    return name.removesuffix(".default")


@dataclass(frozen=True)
class AtenOp:
    """One ATen operator (one overload) as torch's native_functions.yaml declares it."""

    name: str  # 'add.Tensor'; the default overload is the bare name ('linalg_eigh')
    dispatch: frozenset[str]  # dispatch keys with a kernel (a structured_delegate's backends included)
    delegate: str | None = None  # structured_delegate: the out= operator whose kernel this one uses
    # the kernel torch gives an NPU (PrivateUse1) tensor when torch_npu registers none, by alias key
    # ('CompositeImplicitAutograd', ...); None: there is none, torch_npu's fallback runs
    privateuse1: str | None = None
    calls: tuple[str, ...] | None = None  # the operators that kernel was seen to call
    traced: str | None = None  # the CPU inputs of that trace ('float32 3x3 2x3x4x4')
    not_traced: str | None = None  # why a privateuse1 kernel has no trace

    @property
    def base(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def overload(self) -> str:
        return self.name.partition(".")[2]

    @property
    def composite_implicit(self) -> bool:
        """CompositeImplicitAutograd: no kernel of its own, always decomposes."""
        return "CompositeImplicitAutograd" in self.dispatch

    @property
    def composite(self) -> bool:
        """Whether a backend without a kernel of its own (the NPU) still gets one: a composite kernel,
        declared or generated for a structured operator (it calls the out= operator)."""
        return self.privateuse1 is not None

    @property
    def has_cpu_kernel(self) -> bool:
        """What torch_npu's CPU fallback needs: a CPU or composite kernel."""
        return "CPU" in self.dispatch or self.composite or any(key in self.dispatch for key in COMPOSITE_KEYS)

    @property
    def cpu_only(self) -> bool:
        """Only the CPU has a kernel (no CUDA, other accelerator or composite one)."""
        return "CPU" in self.dispatch and not self.dispatch & _NON_CPU_KEYS and not self.composite


@dataclass(frozen=True)
class Unregistered:
    """What torch_npu does with an aten operator it registers no kernel for."""

    behaviour: str  # 'cpu_fallback' (the evidence was found in the wheel) or 'unknown'
    warning: str | None  # the warning torch_npu prints, '<op>' standing for the operator
    disable_env: str | None  # the variable that turns the fallback into an error, if this release has one
    evidence: tuple[str, ...]  # where in the wheel (library offsets, header lines)


@dataclass(frozen=True)
class Coverage:
    """Whether an operator runs on the NPU of one torch_npu release, and why."""

    op: str
    status: Status  # implemented / decomposes (into NPU operators) / missing / unknown
    missing: tuple[str, ...] = ()  # operators on the way without an NPU kernel
    cpu_fallback: tuple[str, ...] = ()  # of those, the ones torch_npu runs on the CPU (they have a CPU kernel)
    no_cpu_kernel: tuple[str, ...] = ()  # of those, the ones that fail: the CPU has no kernel for them either
    unknown: tuple[str, ...] = ()  # operators on the way whose behaviour the tables cannot tell
    reason: str = ""
    notes: tuple[str, ...] = ()  # torch_npu messages about operators on the way (explicit CPU kernels)


@dataclass(frozen=True)
class _Walk:
    status: Status
    missing: frozenset[str] = frozenset()
    unknown: frozenset[str] = frozenset()
    reasons: tuple[str, ...] = ()
    seen: frozenset[str] = frozenset()  # every operator on the way
    cut: bool = False  # a cycle was cut short: the result depends on the path that led here


@dataclass(frozen=True, eq=False)
class OperatorTable:
    """The ATen table of one torch and the NPU table of one torch_npu release."""

    torch_version: str
    npu_version: str
    ops: Mapping[str, AtenOp] = field(repr=False)
    sections: Mapping[str, frozenset[str]] = field(repr=False)  # yaml section -> operator names
    unregistered: Unregistered = field(repr=False)
    cpu_messages: Mapping[str, tuple[str, ...]] = field(repr=False)  # op -> torch_npu messages naming it
    _walks: dict[str, _Walk] = field(default_factory=dict, repr=False, compare=False)
    _coverages: dict[str, Coverage] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, torch_npu_version: str | None = None) -> OperatorTable:
        """The tables for one torch_npu release (default: the newest shipped); cached per process."""
        return _load(torch_npu_version if torch_npu_version is not None else (available_versions() or [""])[-1])

    # ---- lookups ------------------------------------------------------------------------------

    def aten(self, op: str) -> AtenOp | None:
        """The operator 'linalg_eigh' / 'add.Tensor' / 'aten::add.Tensor', if ATen has it."""
        return self.ops.get(_normalise(op))

    def overloads(self, base: str) -> tuple[str, ...]:
        """Every operator named base or base.<overload>, sorted."""
        name = _normalise(base).split(".", 1)[0]
        return tuple(sorted(op for op in self.ops if op == name or op.startswith(name + ".")))

    def decomposition(self, op: str) -> tuple[str, ...] | None:
        """The operators op's kernel for an NPU tensor without an NPU registration (its composite kernel)
        was seen to call; None if it has no such kernel or was not traced."""
        found = self.aten(op)
        return found.calls if found is not None else None

    def npu_implements(self, op: str) -> bool:
        """Whether torch_npu registers an NPU kernel for the aten operator op."""
        name = _normalise(op)
        return any(name in self.sections.get(section, ()) for section in NPU_KERNEL_SECTIONS)

    def npu_sections(self, op: str) -> tuple[str, ...]:
        """The yaml sections that list op ('supported', 'symint', 'custom', ...)."""
        name = _normalise(op)
        return tuple(section for section, names in sorted(self.sections.items()) if name in names)

    # ---- coverage -----------------------------------------------------------------------------

    def coverage(self, op: str) -> Coverage:
        """Whether op runs on the NPU: directly, through its decomposition, or not (and what is missing).

        A name without overload that is no operator itself ('add') stands for its overloads
        other than out= ones; the result is the worst of them."""
        found = self._coverages.get(op)
        if found is None:
            found = self._coverages[op] = self._coverage_uncached(op)
        return found

    def _coverage_uncached(self, op: str) -> Coverage:
        name = _normalise(op)
        if name in self.ops or self.npu_implements(name):
            return self._coverage(name, self._walk(name, frozenset()))
        members = [o for o in self.overloads(name) if not o.split(".", 1)[1].endswith("out")]
        if not members:
            return Coverage(op=name, status="unknown",
                            reason=f"not an operator of the torch {self.torch_version} ATen table")
        walks = [self._walk(member, frozenset()) for member in members]
        worst = max(walks, key=lambda w: _SEVERITY[w.status])
        merged = _Walk(status=worst.status, missing=frozenset().union(*(w.missing for w in walks)),
                       unknown=frozenset().union(*(w.unknown for w in walks)),
                       reasons=(f"the worst of its overloads {', '.join(members)}", *worst.reasons),
                       seen=frozenset().union(*(w.seen for w in walks)))
        return self._coverage(name, merged)

    def _coverage(self, name: str, walk: _Walk) -> Coverage:
        missing = tuple(sorted(walk.missing))
        known = {m: self.ops.get(m) for m in missing}
        notes = tuple(dict.fromkeys(msg for o in sorted(walk.seen) for msg in self.cpu_messages.get(o, ())))
        return Coverage(
            op=name, status=walk.status, missing=missing,
            cpu_fallback=tuple(m for m, a in known.items() if a is not None and a.has_cpu_kernel),
            no_cpu_kernel=tuple(m for m, a in known.items() if a is not None and not a.has_cpu_kernel),
            unknown=tuple(sorted(walk.unknown)), reason="; ".join(dict.fromkeys(walk.reasons)), notes=notes)

    def _walk(self, name: str, path: frozenset[str]) -> _Walk:
        if name in self._walks:
            return self._walks[name]
        walk = self._walk_uncached(name, path | {name})
        if not walk.cut:
            self._walks[name] = walk
        return walk

    def _walk_uncached(self, name: str, path: frozenset[str]) -> _Walk:
        seen = frozenset({name})
        if self.npu_implements(name):
            return _Walk("implemented", reasons=(f"torch_npu {self.npu_version} registers {name}",), seen=seen)
        found = self.ops.get(name)
        if found is None:
            return _Walk("unknown", unknown=seen, seen=seen,
                         reasons=(f"{name} is not in the torch {self.torch_version} ATen table",))
        if not found.composite:
            return _Walk("missing", missing=seen, seen=seen, reasons=(f"no NPU kernel for {name}",))
        calls, inferred = found.calls, tuple[str, ...]()
        if calls is None and found.delegate and found.privateuse1 == _GENERATED:
            # torchgen's kernel for a structured operator allocates the output and calls the out= operator
            calls = (found.delegate,)
            inferred = (f"{name} was not traced; its generated kernel calls {found.delegate}",)
        if calls is None:
            return _Walk("unknown", unknown=seen, seen=seen,
                         reasons=(f"{name} has a {found.privateuse1} kernel but was not traced: {found.not_traced}",))
        branch = [c for c in calls if (callee := self.ops.get(c)) is not None and callee.cpu_only
                  and not self.npu_implements(c)]
        if branch and found.privateuse1 == "CompositeImplicitAutograd":  # generated kernels do not branch
            return _Walk("unknown", unknown=seen, seen=seen,
                         reasons=(f"{name} was traced on the CPU and called the CPU-only {', '.join(branch)}: "
                                  "its kernel branches on the device, the NPU takes another branch",))
        parts = [self._walk(callee, path) for callee in calls if callee not in path]
        missing = frozenset().union(*(p.missing for p in parts))
        unknown = frozenset().union(*(p.unknown for p in parts))
        status: Status = "missing" if missing else "unknown" if unknown else "decomposes"
        reasons = inferred + tuple(r for p in parts if p.status in ("missing", "unknown") for r in p.reasons)
        cut = len(parts) < len(calls) or any(p.cut for p in parts)
        return _Walk(status, missing, unknown, reasons or (f"{name} decomposes into operators the NPU has",),
                     seen.union(*(p.seen for p in parts)), cut)


def _files(pattern: re.Pattern[str]) -> dict[str, Any]:
    return {m["version"]: entry for entry in resources.files(_PACKAGE).iterdir() if (m := pattern.match(entry.name))}


def available_versions() -> list[str]:
    """torch_npu versions with a shipped operator table, oldest first."""
    return sorted(_files(_NPU_FILE), key=_version_key)


def _aten_op(name: str, entry: dict[str, Any]) -> AtenOp:
    calls = entry.get("calls")
    return AtenOp(name=name, dispatch=frozenset(entry["dispatch"].split()), delegate=entry.get("delegate"),
                  privateuse1=entry.get("privateuse1"), calls=tuple(calls) if calls is not None else None,
                  traced=entry.get("traced"), not_traced=entry.get("not_traced"))


@cache
def _aten_table() -> tuple[str, Mapping[str, AtenOp]]:
    files = _files(_ATEN_FILE)
    if not files:
        raise ValueError(f"no ATen operator table in {_PACKAGE}")
    data = json.loads(files[max(files, key=_version_key)].read_text(encoding="utf-8"))
    return data["torch"]["version"], MappingProxyType({name: _aten_op(name, e) for name, e in data["ops"].items()})


def _unregistered(data: dict[str, Any]) -> Unregistered:
    library = data["library"]
    evidence = [f"{library}@{offset}: {key}" for key, offset in sorted(data["strings"].items()) if offset]
    return Unregistered(behaviour=data["behaviour"], warning=data["warning"], disable_env=data["disable_env"],
                        evidence=tuple(evidence + list(data["header"])))


@cache
def _load(version: str) -> OperatorTable:
    files = _files(_NPU_FILE)
    if version not in files:
        raise ValueError(f"no torch_npu operator table for version {version!r}; "
                         f"available: {', '.join(available_versions())}")
    data = json.loads(files[version].read_text(encoding="utf-8"))
    torch_version, ops = _aten_table()
    messages: dict[str, list[str]] = {}
    for entry in data["unregistered"]["cpu_messages"]:
        for op in entry["ops"]:
            messages.setdefault(op, []).append(entry["message"])
    return OperatorTable(
        torch_version=torch_version, npu_version=data["version"], ops=ops,
        sections=MappingProxyType({section: frozenset(names) for section, names in data["sections"].items()}),
        unregistered=_unregistered(data["unregistered"]),
        cpu_messages=MappingProxyType({op: tuple(found) for op, found in messages.items()}))
