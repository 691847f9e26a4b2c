"""What the `dependency` rules make of a scan: CUDA builds of torch and CUDA index URLs, the
torch-npu pin that matches the torch pin, and CUDA-only packages with their guidance. Each
item carries the edits that would settle (part of) it, for `fix_dependencies`."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier
from packaging.version import InvalidVersion, Version

from portkit.filekinds.dependencies.common import (
    CONDA_TORCH, TORCH, TORCH_COMPANIONS, TORCH_NPU, Dep, Edit, Found, Url,
)
from portkit.ruleset import Dependency, Rule, RuleSet

if TYPE_CHECKING:
    from portkit.python.transform import CompiledRules

# torch versions that torch-npu is released for on PyPI (`pip index versions torch-npu` for
# CPython 3.8-3.11 when this table was written). torch-npu X and its .postN releases require
# torch==X exactly. For a torch newer than the last entry the pin is advice only, never written.
TORCH_NPU_RELEASES: tuple[str, ...] = (
    "2.1.0", "2.2.0", "2.3.1", "2.4.0", "2.5.1", "2.6.0", "2.7.1", "2.8.0", "2.9.0", "2.9.1",
    "2.10.0", "2.11.0", "2.12.0", "2.13.0", "2.14.0",
)


def dependency_rules(rules: CompiledRules | RuleSet) -> list[tuple[Rule, Dependency]]:
    ruleset = rules if isinstance(rules, RuleSet) else rules.ruleset
    return [(rule, rule.spec) for rule in ruleset.rules if isinstance(rule.spec, Dependency)]


class Wanted:
    """Whether a distribution can matter to the active rules (torch and torch-npu always do)."""

    def __init__(self, active: Sequence[tuple[Rule, Dependency]]) -> None:
        self.exact = {TORCH, TORCH_NPU, *TORCH_COMPANIONS}
        self.patterns: list[str] = []
        for _, spec in active:
            for name in (*spec.packages, *spec.replacements, *spec.minimum_versions):
                if "*" in name:
                    self.patterns.append(name)
                else:
                    self.exact.add(name)
        self.known: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        if name not in self.known:
            self.known[name] = name in self.exact or any(fnmatch.fnmatchcase(name, p) for p in self.patterns)
        return self.known[name]


def _guidance(spec: Dependency, name: str) -> str | None:
    """Exact names first, then patterns such as `nvidia-*`, in the rule's order."""
    if name in spec.packages:
        return spec.packages[name]
    for pattern, guidance in spec.packages.items():
        if "*" in pattern and fnmatch.fnmatchcase(name, pattern):
            return guidance
    return None


def _released(version: str) -> bool | None:
    """Whether torch-npu is released for torch `version`; None when it is newer than we know."""
    if version in TORCH_NPU_RELEASES:
        return True
    try:
        if Version(version) > Version(TORCH_NPU_RELEASES[-1]):
            return None
    except InvalidVersion:
        return False
    return False


def _base(version: str) -> str:
    """torch-npu 2.6.0.post3 is a release for torch 2.6.0."""
    try:
        return Version(version).base_version
    except InvalidVersion:
        return version


def _nearest_releases(version: str) -> str:
    try:
        wanted = Version(version)
    except InvalidVersion:
        return ", ".join(TORCH_NPU_RELEASES[-3:])
    lower = [v for v in TORCH_NPU_RELEASES if Version(v) < wanted][-1:]
    higher = [v for v in TORCH_NPU_RELEASES if Version(v) > wanted][:1]
    return " or ".join(lower + higher) or TORCH_NPU_RELEASES[0]


@dataclass
class Item:
    """A finding, with the edits that would settle (part of) it."""

    rule: Rule
    start: int
    end: int
    message: str  # the manual item, when nothing is fixed
    edits: list[Edit] = field(default_factory=list)
    fix_message: str = ""  # what the edits do
    remaining: str | None = None  # what is still manual after the edits


def analyse(found: Found, rules: CompiledRules | RuleSet) -> list[Item]:
    active = dependency_rules(rules)
    items: list[Item] = []
    npu_pins = {d.pinned for d in found.deps if d.name == TORCH_NPU}
    has_npu = any(d.name == TORCH_NPU for d in found.deps)
    for rule, spec in active:
        for dep in found.deps:
            if spec.torch_pin and (dep.name == TORCH or (dep.conda and dep.name == CONDA_TORCH)):
                torch = _torch_item(rule, dep, has_npu, npu_pins)
                if torch is not None:
                    items.append(torch)
            elif spec.torch_pin and dep.name in TORCH_COMPANIONS and (dep.cuda_local or dep.cuda_url):
                items.append(_companion_item(rule, dep))
            guidance = _guidance(spec, dep.name)
            if guidance is not None:
                items.append(_package_item(rule, spec, dep, guidance))
            if dep.name in spec.minimum_versions and _only_older(dep, spec.minimum_versions[dep.name][0]):
                minimum, why = spec.minimum_versions[dep.name]
                items.append(Item(rule, dep.start, dep.end, f"{dep.written}: allows only releases before {minimum}, "
                                                            f"the first that runs on Ascend ({why})"))
        if spec.torch_pin:
            for url in found.urls:
                items.append(_url_item(rule, url))
    return items


def _torch_item(rule: Rule, dep: Dep, has_npu: bool, npu_pins: set[str | None]) -> Item | None:
    problems: list[str] = []
    edits: list[Edit] = []
    done: list[str] = []
    left: list[str] = []
    if dep.conda:
        build = " (a CUDA build)" if dep.conda_cuda_build else ""
        version = dep.pinned or "<the same version>"
        text = (f"conda {dep.written}{build}: torch-npu is published on PyPI only: install torch=={version} "
                f"and torch-npu=={version} from the pip: section instead")
        if dep.pinned and _released(dep.pinned) is False:
            text += f" (torch-npu has no release for torch {dep.pinned}: use {_nearest_releases(dep.pinned)})"
        return Item(rule, dep.start, dep.end, text)
    if dep.cuda_local:
        problem = f"+{dep.cuda_local} is a CUDA build: drop it (on x86_64 install the CPU build from " \
                  f"https://download.pytorch.org/whl/cpu so pip does not pull the nvidia-* wheels)"
        problems.append(problem)
        if dep.local_range is not None:
            edits.append(Edit(*dep.local_range, ""))
            done.append(f"dropped +{dep.cuda_local}")
        else:
            left.append(problem)
    if dep.cuda_url:
        problem = "installed from a CUDA wheel URL: install torch from PyPI (or the CPU index) instead"
        problems.append(problem)
        left.append(problem)
    if has_npu:
        mismatched = [p for p in sorted(filter(None, npu_pins))
                      if dep.pinned is not None and _base(p) != _base(dep.pinned)]
        if mismatched:
            problem = (f"torch-npu=={mismatched[0]} does not match torch=={dep.pinned}: torch-npu is built for "
                       f"exactly one torch version")
            problems.append(problem)
            left.append(problem)
    elif dep.pinned is None:
        problem = ("add torch-npu pinned to the exact torch version you install (torch-npu X is built for "
                   "torch==X only; pin torch to a version torch-npu is released for)")
        problems.append(problem)
        left.append(problem)
    else:
        released = _released(dep.pinned)
        if released is False:
            problem = (f"torch-npu has no release for torch {dep.pinned}: move torch to "
                       f"{_nearest_releases(dep.pinned)} and add torch-npu==<that version>")
            problems.append(problem)
            left.append(problem)
        else:
            check = (f", once torch-npu {dep.pinned} is released (it is newer than the releases portkit knows)"
                     if released is None else "")
            problem = (f"add torch-npu=={dep.pinned} next to it{check} (torch-npu is built for exactly this torch "
                       f"version; a later .postN release of it is fine too)")
            problems.append(problem)
            if dep.sibling is not None and released:
                edits.extend(dep.sibling(dep.pinned))
                done.append(f"added torch-npu=={dep.pinned}")
            else:
                left.append(problem)
    if not problems:
        return None
    message = f"{dep.written}: " + "; ".join(problems)
    fix_message = f"{dep.written}: " + ", ".join(done) if done else ""
    remaining = f"{dep.written}: " + "; ".join(left) if left else None
    return Item(rule, dep.start, dep.end, message, edits, fix_message, remaining)


def _companion_item(rule: Rule, dep: Dep) -> Item:
    if dep.cuda_url:
        return Item(rule, dep.start, dep.end, f"{dep.written}: a CUDA wheel URL: install it from PyPI instead")
    message = f"{dep.written}: +{dep.cuda_local} is a CUDA build: drop it"
    if dep.local_range is None:
        return Item(rule, dep.start, dep.end, message)
    return Item(rule, dep.start, dep.end, message, [Edit(*dep.local_range, "")],
                f"{dep.written}: dropped +{dep.cuda_local}")


def _package_item(rule: Rule, spec: Dependency, dep: Dep, guidance: str) -> Item:
    message = f"{dep.written}: {guidance}"
    replacement = spec.replacements.get(dep.name)
    if replacement is None or dep.rename is None:
        return Item(rule, dep.start, dep.end, message)
    return Item(rule, dep.start, dep.end, message, dep.rename(replacement), f"{dep.written} → {replacement}")


def _url_item(rule: Rule, url: Url) -> Item:
    if "download.pytorch.org" in url.url:
        message = (f"{url.url} serves CUDA builds of PyTorch: remove it (torch-npu runs on the PyPI build; on x86_64 "
                   f"use https://download.pytorch.org/whl/cpu)")
    else:
        message = f"{url.url} serves CUDA builds: remove it and install builds for Ascend (or build from source)"
    if url.delete is None:
        return Item(rule, url.start, url.end, message)
    return Item(rule, url.start, url.end, message, url.delete(), f"removed the CUDA package index {url.url}")


def _only_older(dep: Dep, minimum: str) -> bool:
    """Whether the declaration admits no release at or after `minimum` (a pin, or an upper bound
    below it). A declaration that cannot be read is not reported."""
    try:
        specifiers = list(Requirement(dep.written).specifier) if not dep.conda else []
    except InvalidRequirement:
        specifiers = []
    if not specifiers and dep.pinned is not None:
        specifiers = [Specifier(f"=={dep.pinned}")]
    try:
        return any(_below(specifier, Version(minimum)) for specifier in specifiers)
    except InvalidVersion:
        return False


def _below(specifier: Specifier, minimum: Version) -> bool:
    """Whether one specifier excludes `minimum` and everything after it."""
    operator, text = specifier.operator, specifier.version
    if operator in ("==", "===") and text.endswith(".*"):
        return Version(text[:-2]) < minimum and not specifier.contains(minimum, prereleases=True)
    if operator in ("==", "==="):
        return Version(text) < minimum
    if operator == "<":
        return Version(text) <= minimum
    if operator == "<=":
        return Version(text) < minimum
    if operator == "~=":  # ~=4.30.0 means >=4.30.0, ==4.30.*: the release before the last part moves on
        release = Version(text).release[:-1]
        return Version(".".join(map(str, (*release[:-1], release[-1] + 1)))) <= minimum
    return False
