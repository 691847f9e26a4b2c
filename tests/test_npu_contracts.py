"""The rename contracts in src/portkit/ruleset/data/npu_contracts-<version>.json (issue 14).

A rename is `safe` only when the NPU twin takes the same calls and returns the same kind of value.
scripts/audit_npu_contracts.py compares every rename of the npu rules against the installed torch
and the torch-npu wheels; these tests re-derive that data from the wheels (fetched by
scripts/fetch_npu_wheels.py, part of the README's test command; tests fetch nothing), check that
docs/contracts.md is its rendering, and that no `safe` rename maps a name whose verdict says the
ported code can break, unless EXCEPTIONS below says why.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "portkit" / "ruleset" / "data"
WHEELS = Path.home() / ".cache" / "portkit" / "wheels"
BREAKING = frozenset({"differs-return", "differs-signature", "unsupported"})

PENDING_RESULT = "pending: kept unchanged when the result is unpacked/indexed/compared (issue 14 item 2)"
KEYWORD = ("pending: only the keyword spelling fails (positional calls behave the same); proposal in "
           "docs/contracts.md: rewrite the keyword to a positional argument or report the call")

# Safe renames whose verdict (in some shipped release) is breaking, with the verdicts allowed and why the
# rule stays `safe` for now. A verdict outside the allowed set fails, and so does a stale entry.
EXCEPTIONS: dict[str, tuple[frozenset[str], str]] = {
    "torch.cuda.get_device_capability": (frozenset({"unsupported", "differs-return"}), PENDING_RESULT),
    "torch.cuda.get_device_properties": (frozenset({"differs-signature"}), PENDING_RESULT + "; the parameter "
                                         "is device_name on NPU (device=... fails)"),
    "torch.cuda.amp.GradScaler": (frozenset({"differs-signature"}), "compensated: position 5 is `dynamic` on "
                                  "NPU, and the grad-scaler-enabled rule turns a fifth positional argument into "
                                  "enabled=..., so rename + that edit is exact"),
    "torch.cuda.current_blas_handle": (frozenset({"unsupported"}), "pending: the NPU function only warns 'NPU "
                                       "does not use blas handle.' and returns None; proposal: report instead"),
    "torch.cuda.get_device_name": (frozenset({"differs-signature"}), KEYWORD + " (device= is device_name=)"),
    "torch.cuda.can_device_access_peer": (frozenset({"differs-signature"}), KEYWORD + " (device_id=, "
                                          "peer_device_id= on NPU)"),
    "torch.cuda.StreamContext": (frozenset({"differs-signature"}), KEYWORD + " (stream= is stream_ctx=)"),
    "torch.cuda.nvtx.mark": (frozenset({"differs-signature"}), KEYWORD + " (msg= is message=)"),
    "torch.cuda.nvtx.range_push": (frozenset({"differs-signature"}), KEYWORD + " (msg= is message=)"),
    "torch.cuda.nvtx.range_start": (frozenset({"differs-signature"}), KEYWORD + " (msg= is message=)"),
    "torch.Tensor.cuda": (frozenset({"differs-signature"}), "pending: only a third positional argument "
                          "(memory_format) fails; memory_format=... reaches Tensor.npu's **kwargs; proposal: "
                          "rename conditionally"),
    "torch.cuda.Event": (frozenset({"differs-signature"}), "pending: no `external` parameter on NPU, rarely "
                         "passed; proposal: report calls that pass it"),
    "torch.cuda.graph": (frozenset({"differs-signature"}), "pending: graph(g), graph(g, pool, stream) and "
                         "keyword pool/stream/capture_error_mode behave the same; a 4th positional argument "
                         "lands in auto_dispatch_capture; proposal: rename conditionally"),
    "torch.cuda.memory_snapshot": (frozenset({"differs-signature"}), "pending: memory_snapshot() is the same; "
                                   "include_traces (and, before 2.13, mempool_id) do not exist on NPU; proposal: "
                                   "report calls that pass them"),
    "torch.cuda.MemPool": (frozenset({"differs-signature"}), "pending: only torch_npu < 2.13 lack use_on_oom / "
                           "no_split; proposal: report calls that pass them for those releases"),
    "torch.cuda.is_bf16_supported": (frozenset({"differs-signature"}), "pending: only torch_npu < 2.13 take no "
                                     "including_emulation; proposal: report calls that pass it for those "
                                     "releases"),
}


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
    safe = {p.old for p in pairs if p.safety == "safe"}
    found: dict[str, set[str]] = {}
    for version in VERSIONS:
        for name, entry in _shipped(version)["contracts"].items():
            if name in safe and entry["verdict"] in BREAKING:
                found.setdefault(name, set()).add(entry["verdict"])
    return found


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


def test_the_pending_entries_of_issue_14_item_2() -> None:
    for name in ("torch.cuda.get_device_capability", "torch.cuda.get_device_properties"):
        assert EXCEPTIONS[name][1].startswith(PENDING_RESULT)


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
