"""The rename contracts in src/portkit/ruleset/data/npu_contracts-<version>.json (issue 14).

A rename is `safe` only when the NPU twin takes the same calls and returns the same kind of value.
scripts/audit_npu_contracts.py compares every rename of the npu rules against the installed torch
and the torch-npu wheels; these tests re-derive that data from the wheels (fetched by
scripts/fetch_npu_wheels.py, part of the README's test command; tests fetch nothing), check that
docs/contracts.md is its rendering, and that no `safe` rename maps a name whose verdict says the
ported code can break unless the rules answer every difference the audit lists for that release
(the rename rule's `contracts`, or an edit-arguments rule: `_uncovered`) or EXCEPTIONS says why.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "portkit" / "ruleset" / "data"
WHEELS = Path.home() / ".cache" / "portkit" / "wheels"
BREAKING = frozenset({"differs-return", "differs-signature", "unsupported"})

# Safe renames whose verdict (in some shipped release) is breaking although the rules do not cover
# the difference (see `_uncovered`), with the verdicts allowed and why the rule stays `safe`. A
# verdict outside the allowed set fails, and so does a stale entry. Every difference the audit
# found is covered today (issue 14 item 2): by the rename rule's `contracts` (the call stays as it
# is and is reported, or its arguments are respelled exactly) or by an edit-arguments rule.
EXCEPTIONS: dict[str, tuple[frozenset[str], str]] = {}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_npu_contracts", REPO / "scripts" / "audit_npu_contracts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("audit_npu_contracts", module)
    spec.loader.exec_module(module)
    return module


audit = _load_script()


def _version_key(version: str) -> list[int]:
    return [int(x) for x in "".join(c if c.isdigit() else " " for c in version).split()]


SHIPPED = {p.stem.removeprefix("npu_contracts-"): p for p in DATA.glob("npu_contracts-*.json")}
VERSIONS = sorted(SHIPPED, key=_version_key)


def _shipped(version: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SHIPPED[version].read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def pairs() -> list[Any]:
    found: list[Any] = audit.rename_pairs()
    return found


# ---- the shipped files -------------------------------------------------------------------------------

def test_one_file_per_shipped_torch_npu_release() -> None:
    names = {p.stem.removeprefix("torch_npu-") for p in DATA.glob("torch_npu-*.json")}
    assert set(VERSIONS) == names


@pytest.mark.parametrize("version", VERSIONS)
def test_file_is_canonical_json(version: str) -> None:
    text = SHIPPED[version].read_text(encoding="utf-8")
    assert text == audit.dumps(json.loads(text))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rename_is_audited(version: str, pairs: list[Any]) -> None:
    data = _shipped(version)
    assert {(old, e["new"], e["rule"]) for old, e in data["contracts"].items()} == \
        {(p.old, p.new, p.rule) for p in pairs}, "rules changed: run `python scripts/audit_npu_contracts.py`"
    assert data["version"] == version
    assert all(e["verdict"] in audit.VERDICTS for e in data["contracts"].values())
    assert sum(data["counts"].values()) == len(data["contracts"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_finding_has_evidence(version: str) -> None:
    for name, entry in _shipped(version)["contracts"].items():
        if entry["verdict"] not in ("same", "compatible"):
            assert entry["evidence"], name
        if entry["verdict"] in BREAKING:
            assert any(":" in x for x in entry["evidence"] + [entry.get("npu", "")]), name  # file:line


def test_the_regression_of_issue_14_is_seen() -> None:
    """`major, minor = torch.cuda.get_device_capability()` breaks once renamed."""
    newest = _shipped(VERSIONS[-1])["contracts"]["torch.cuda.get_device_capability"]
    assert newest["verdict"] == "differs-return"
    assert "returns None at torch_npu/npu/__init__.py:" in " ".join(newest["evidence"])
    assert "tuple[int, int]" in newest["torch"]
    oldest = _shipped(VERSIONS[0])["contracts"]["torch.cuda.get_device_capability"]
    assert oldest["verdict"] == "unsupported"


def test_plain_runtime_calls_are_the_same() -> None:
    contracts = _shipped(VERSIONS[-1])["contracts"]
    for name in ("torch.cuda.is_available", "torch.cuda.synchronize", "torch.cuda.set_device",
                 "torch.cuda.device_count", "torch.cuda.mem_get_info", "torch.cuda.manual_seed_all",
                 "torch.cuda.empty_cache", "torch.cuda.Stream", "torch.cuda.amp.autocast"):
        assert contracts[name]["verdict"] == "same", name
    assert contracts["torch.cuda.FloatTensor"]["verdict"] == "unknown"  # C++ on both sides


# ---- safe renames ---------------------------------------------------------------------------------------

def _breaking_safe(pairs: list[Any]) -> dict[str, set[str]]:
    """Safe renames whose twin differs in some release in a way the rules do not cover."""
    safe = {p.old for p in pairs if p.safety == "safe"}
    found: dict[str, set[str]] = {}
    for version in VERSIONS:
        for name, entry in _shipped(version)["contracts"].items():
            if name in safe and entry["verdict"] in BREAKING and _uncovered(name, entry, version):
                found.setdefault(name, set()).add(entry["verdict"])
    return found


# ---- what covers a difference: the rules as compiled for that release ---------------------------------------

@functools.cache
def _compiled(version: str) -> Any:
    from portkit.python.compiled import CompiledRules
    from portkit.ruleset import load_rules

    return CompiledRules(dataclasses.replace(load_rules(target="npu"), npu_version=version))


def _edits(name: str, version: str) -> dict[int, str]:
    """Positional -> keyword edits of edit-arguments rules on calls of `name` (`.cuda` for Tensor.cuda)."""
    rules = _compiled(version)
    keys = [name, "." + name.rpartition(".")[2]] if name.startswith("torch.Tensor.") else [name]
    return {i: k for key in keys for _, spec in rules.arg_edits.get(key, ())
            for i, k in spec.positional_to_keyword.items()}


def _uncovered(name: str, entry: dict[str, Any], version: str) -> list[str]:
    """The evidence lines of a breaking entry that neither a contract of the rename (for that
    release) nor an edit-arguments rule answers."""
    contracts = _compiled(version).contracts.get(name, ())
    if any(c.report_instead for c in contracts):
        return []
    missing = {k: v for c in contracts for k, v in c.unless_arguments.items()}
    to_positional = {k: v for c in contracts for k, v in c.keyword_to_positional.items()}
    to_keyword = {**{k: v for c in contracts for k, v in c.positional_to_keyword.items()}, **_edits(name, version)}
    uses = {u for c in contracts for u in c.unless_result_used}
    attributes = {a for c in contracts for a in c.unless_attributes}
    uncovered = []
    for line in entry["evidence"]:
        if line.startswith("npu: ") or line.startswith("default of "):
            continue  # how the twin is built, or a default value: no call behaves differently
        if m := re.match(r"no parameter `(\w+)` \(torch position (\d+)\)", line):
            ok = missing.get(m[1]) == int(m[2]) - 1
        elif m := re.match(r"no parameter `(\w+)` on NPU", line):
            ok = m[1] in missing
        elif m := re.match(r"torch's `(\w+)` \(position (\d+)\) is called `\w+` on NPU", line):
            ok = to_positional.get(m[1]) == int(m[2]) - 1
        elif m := re.match(r"position (\d+) is `(\w+)` on torch", line):
            ok = to_keyword.get(int(m[1]) - 1) == m[2]
        elif m := re.match(r"no positional slot for torch's `(\w+)` \(position (\d+)\)", line):
            ok = to_keyword.get(int(m[2]) - 1) == m[1]
        elif line.startswith("returns None at "):
            ok = {"unpacked", "indexed", "compared"} <= uses
        elif line.startswith("returns what the C++ extension returns"):
            ok = bool(attributes)
        else:
            ok = False  # a stub ("always warns") only report_instead answers
        if not ok:
            uncovered.append(line)
    return uncovered


def test_no_safe_rename_breaks_without_a_reason(pairs: list[Any]) -> None:
    problems = []
    for name, verdicts in sorted(_breaking_safe(pairs).items()):
        allowed = EXCEPTIONS.get(name, (frozenset(), ""))[0]
        if verdicts - allowed:
            versions = [v for v in VERSIONS if _shipped(v)["contracts"][name]["verdict"] in verdicts - allowed]
            problems.append(f"{name}: {sorted(verdicts - allowed)} in {versions}")
    assert not problems, ("safe renames whose NPU twin differs (see docs/contracts.md); make the rule "
                          "`review`/conditional or add a reasoned EXCEPTIONS entry:\n" + "\n".join(problems))


def test_exceptions_are_reasoned_and_not_stale(pairs: list[Any]) -> None:
    breaking = _breaking_safe(pairs)
    for name, (allowed, reason) in EXCEPTIONS.items():
        assert len(reason) > 20, name
        assert allowed <= BREAKING, name
        assert name in breaking, f"{name} is no longer a breaking safe rename: drop it from EXCEPTIONS"
        assert breaking[name] <= allowed and breaking[name], name


def test_every_difference_of_a_safe_rename_is_covered(pairs: list[Any]) -> None:
    """Issue 14 item 2: the rules answer every difference the audit found, per release."""
    safe = {p.old for p in pairs if p.safety == "safe"}
    left = {(name, version): _uncovered(name, entry, version) for version in VERSIONS
            for name, entry in _shipped(version)["contracts"].items()
            if name in safe and entry["verdict"] in BREAKING}
    assert len(left) >= 15
    assert not {k: v for k, v in left.items() if v and k[0] not in EXCEPTIONS}


def test_the_regressions_of_issue_14_item_2_are_covered() -> None:
    newest, oldest = _compiled(VERSIONS[-1]).contracts, _compiled(VERSIONS[0]).contracts
    (capability,) = newest["torch.cuda.get_device_capability"]
    assert {"unpacked", "indexed", "compared", "formatted"} <= capability.unless_result_used
    assert {"major", "minor", "multi_processor_count"} <= \
        next(iter(newest["torch.cuda.get_device_properties"])).unless_attributes
    assert any(c.report_instead for c in oldest["torch.cuda.get_device_capability"])  # a stub before 2.13
    assert "torch.cuda.is_bf16_supported" in oldest and "torch.cuda.is_bf16_supported" not in newest


@pytest.mark.parametrize("line", [
    "no parameter `external` (torch position 4) on NPU",
    "torch's `device` (position 1) is called `device_name` on NPU: device=... fails",
    "an evidence line no rule answers",
])
def test_an_uncovered_difference_is_seen(line: str) -> None:
    assert _uncovered("torch.cuda.synchronize", {"evidence": [line]}, VERSIONS[-1]) == [line]


def test_every_audited_rule_records_the_audit(pairs: list[Any]) -> None:
    from portkit.ruleset import load_rules

    rules = {r.id: r for r in load_rules(target="npu").rules}
    owned = {"cuda-api", "cuda-twin", "nvtx-range", "amp-api", "tf32-flags", "tensor-cuda", "is-cuda"}
    audited = {p.rule for p in pairs} & owned
    assert audited == owned
    for rule_id in audited:
        assert "contracts audited: docs/contracts.md" in rules[rule_id].source, rule_id


# ---- re-derivation from the wheels ----------------------------------------------------------------------

def _wheel(version: str) -> Path:
    cached = sorted(WHEELS.glob(f"torch_npu-{version}-*.whl"))
    assert cached, (f"no torch_npu {version} wheel in {WHEELS}: run `python scripts/fetch_npu_wheels.py` "
                    "(part of the README's test command)")
    return cached[-1]


@pytest.fixture(scope="module")
def torch_side() -> Any:
    return audit.TorchSide()


@pytest.mark.parametrize("version", VERSIONS)
def test_rederive_matches_shipped_file(version: str, torch_side: Any, pairs: list[Any]) -> None:
    shipped = _shipped(version)
    # the test extra pins the torch the data was derived with; another one is a broken setup
    assert torch_side.version == shipped["torch"], \
        f"derived with torch {shipped['torch']}, installed {torch_side.version}: pip install -e '.[test]'"
    derived = json.loads(audit.dumps(audit.audit(_wheel(version), torch_side, pairs)))
    assert derived == shipped, "run `python scripts/audit_npu_contracts.py` and review the diff"


def test_doc_is_the_rendering_of_the_data(pairs: list[Any]) -> None:
    releases = [_shipped(v) for v in VERSIONS]
    expected = audit.render_doc(releases, {p.rule: p.safety for p in pairs})
    assert (REPO / "docs" / "contracts.md").read_text(encoding="utf-8") == expected, \
        "run `python scripts/audit_npu_contracts.py`"


def test_doc_proposes_something_for_every_difference() -> None:
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    assert "(no proposal yet)" not in text
    for name in EXCEPTIONS:
        assert f"`{name}`" in text, name


# ---- the comparison itself, on small examples (no wheel needed) -------------------------------------------

def _facts(source: str, in_class: bool = False) -> Any:
    fn = ast.parse(source).body[0]
    assert isinstance(fn, ast.FunctionDef)
    return audit.function_facts(fn, "x.py", in_class)


@pytest.mark.parametrize(("torch_src", "npu_src", "expected"), [
    ("def f(device=None): pass", "def f(device=None): pass", "same"),
    ("def f(device=None): pass", "def f(device=None, stream=None): pass", "compatible"),
    ("def f(fwd=None, *, cast_inputs=None): pass", "def f(fwd=None, **kwargs): pass", "compatible"),
    ("def f(device=None): pass", "def f(device_name=None): pass", "differs"),
    ("def f(a, b=1, c=2): pass", "def f(a, b=1, x=0, c=2): pass", "differs"),
    ("def f(a, b=1): pass", "def f(a): pass", "differs"),
    ("def f(a): pass", "def f(a, b): pass", "differs"),
    ("def f(x, y=0): pass", "def f(x, **kw): pass", "differs"),
])
def test_compare_params(torch_src: str, npu_src: str, expected: str) -> None:
    status, _ = audit.compare_params(_facts(torch_src).params, _facts(npu_src).params)
    assert status == expected


def test_none_where_torch_never_returns_none() -> None:
    torch_facts = _facts("def f(device=None) -> tuple[int, int]:\n    return torch._C.cap()")
    npu_facts = _facts("def f(device=None):\n    if not os.getenv('X'):\n        return None\n    return (1, 0)")
    result = audit.compare(torch_facts, npu_facts)
    assert result.verdict == "differs-return"
    assert "x.py:3" in result.evidence[0]


def test_falling_off_the_end_is_a_none_path() -> None:
    npu_facts = _facts("def f():\n    if ok:\n        return 1")
    assert npu_facts.falls_through == "x.py:3"
    torch_facts = _facts("def f() -> int:\n    return 1")
    assert audit.compare(torch_facts, npu_facts).verdict == "differs-return"


def test_tuple_arity() -> None:
    torch_facts = _facts("def f() -> tuple[int, int]:\n    return g()")
    npu_facts = _facts("def f():\n    return (1, 2, 3)")
    assert "3-tuple" in audit.compare(torch_facts, npu_facts).evidence[0]


@pytest.mark.parametrize("body", [
    "    raise NotImplementedError('no')",
    "    warnings.warn('f is not supported on NPU')\n    return None",
    "    warnings.warn('NPU does not use blas handle.')\n    return None",
    "    warnings.warn('nothing to do here')\n    return 0",
])
def test_stubs_are_unsupported(body: str) -> None:
    npu_facts = _facts(f"def f():\n    '''doc'''\n{body}")
    assert npu_facts.unsupported
    assert audit.compare(_facts("def f():\n    return g()"), npu_facts).verdict == "unsupported"


def test_a_conditional_warning_is_not_a_stub() -> None:
    assert not _facts("def f(x):\n    if x:\n        warnings.warn('not supported')\n    return g(x)").unsupported
