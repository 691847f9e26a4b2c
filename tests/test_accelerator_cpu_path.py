"""The accelerator target keeps the CPU path (issue 14, item 9; docs/accelerator.md).

Code ported with `--target accelerator` must behave on a machine without an accelerator exactly
as the original behaved without a GPU: same branches, same autocast state, no new exceptions,
same values. This machine has no accelerator (torch 2.13 CPU), so every claim is checked by
running code here, never by reading it:

- the measured facts (scripts/derive_accelerator_cpu.py) are current, and the rules follow them;
- every accelerator example with a before and an after is EXECUTED both ways, and its functions
  called, with the same stand-ins: the port raises nowhere the original did not, and what both
  return (values, devices, tensors, autocast state inside the stand-in model) is equal;
- a small amp training loop (ignite's `amp_mode="amp"` shape) gives the same losses after the port.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

from conftest import load_script
from portkit.python.engine import migrate_source
from portkit.python.transform import CompiledRules
from portkit.ruleset import RenameApi, Report, load_rules

RULESET = load_rules(target="accelerator")
RULES = CompiledRules(RULESET)
DERIVE = load_script("derive_accelerator_cpu")
DATA = json.loads(DERIVE.output_path("2.13.0").read_text(encoding="utf-8"))
GUARD = "torch.accelerator.is_available()"


# --- the facts, and the rules that rest on them ------------------------------------------------


def test_the_measured_facts_are_current():
    assert torch.__version__.split("+")[0] == DATA["torch"], "re-derive for this torch"
    assert DERIVE.derive() == DATA, "run scripts/derive_accelerator_cpu.py"


def _renames() -> dict[str, tuple[str, Any]]:
    """old name -> (rule id, its contracts) for every accelerator rename-api rule."""
    found: dict[str, tuple[str, Any]] = {}
    for rule in RULESET.rules:
        if isinstance(rule.spec, RenameApi):
            for old in rule.spec.renames:
                found[old] = (rule.id, rule.spec.contracts.get(old, ()))
    return found


@pytest.mark.parametrize("name", sorted(DATA["calls"]))
def test_each_torch_cuda_name_is_converted_as_its_cpu_behaviour_allows(name):
    entry, renames = DATA["calls"][name], _renames()
    verdict = entry["verdict"]
    if verdict in ("absent", "differs"):
        assert name not in renames, f"{name}: {entry['cpu']} where the original {entry['old']}: must not be renamed"
        reporters = [r.id for r in RULESET.rules if isinstance(r.spec, Report) and name in r.spec.names]
        assert reporters, f"{name} is neither converted nor reported"
        return
    assert name in renames, f"{name} ({verdict}) is converted by no accelerator rule"
    guards = [c for c in renames[name][1] if c.guard]
    if verdict == "guard":
        assert guards, f"{name}: the original returns {entry['old']['literal']} here, {entry['new']} does not"
        assert guards[0].guard == GUARD
        assert ast.literal_eval(guards[0].otherwise) == ast.literal_eval(entry["old"]["literal"])
    else:
        assert not guards, f"{name} needs no guard ({verdict})"


def test_is_initialized_is_the_measured_case_of_a_twin_that_answers_otherwise():
    entry = DATA["calls"]["torch.cuda.is_initialized"]
    assert (entry["old"]["literal"], entry["cpu"]["literal"], entry["verdict"]) == ("False", "True", "guard")


def test_autocast_and_gradscaler_fall_back_to_a_device_type_they_are_off_for():
    facts = DATA["autocast"]
    assert facts["autocast('cuda') enabled"] is False and facts["GradScaler('cuda') enabled"] is False
    assert facts["autocast('cpu') enabled"] is True  # why "cpu" would not do
    for rule_id in ("accelerator-autocast-device", "accelerator-scaler-device"):
        fallback = eval(RULESET.get(rule_id).spec.insert_first, {"torch": torch})  # noqa: S307 - our own rule
        assert facts[f"autocast({fallback!r}) enabled"] is False


# --- executing every example before and after --------------------------------------------------


class _Model:
    """A stand-in model and function: records the autocast state each call sees."""

    def __init__(self, seen: list[tuple[bool, torch.dtype]]) -> None:
        self.seen, self.linear = seen, torch.nn.Linear(2, 2)

    def __call__(self, x: Any) -> torch.Tensor:
        self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        torch.manual_seed(0)
        return self.linear(torch.ones(2, 2))

    def parameters(self):  # noqa: ANN201
        return self.linear.parameters()

    def to(self, *args: Any, **kwargs: Any) -> _Model:
        return self


def stand_ins(seen: list[tuple[bool, torch.dtype]]) -> dict[str, Any]:
    """The free names the examples use, the same objects for the original and the port."""
    import gc
    import os

    model = _Model(seen)
    return {
        "local_rank": 0, "rank": 0, "world": 1, "dev": "cpu", "use_amp": True, "use_cuda": False,
        "is_cuda": False, "accelerator": "cpu", "ranks": [0], "cmd": ["true"], "gc": gc, "os": os,
        "args": types.SimpleNamespace(seed=0, device=None, dist_backend="gloo"),
        "model": model, "f": model, "x": torch.ones(2, 2), "y": torch.ones(2, 2), "z": torch.ones(2),
        "Accelerator": object, "is_xpu_available": lambda: False, "is_cuda_available": lambda: False,
    }


# parameters the examples' functions take, by name (a function with others is not called)
ARGUMENTS: dict[str, Callable[[], Any]] = {
    "step": lambda: 1, "devices": lambda: [0, 1], "batch": lambda: (torch.ones(2), torch.ones(2)),
    "states": lambda: {"torch": torch.get_rng_state()}, "garbage_collection": lambda: True,
    "x": lambda: torch.ones(2, 2),
}


def _calls(namespace: dict[str, Any], names: set[str]) -> dict[str, Callable[[], Any]]:
    """Zero-argument thunks for the functions (and static methods) the snippet defines."""
    thunks: dict[str, Callable[[], Any]] = {}
    for name in sorted(names):
        value = namespace[name]
        if inspect.isfunction(value) and value.__code__.co_filename != "example.py":
            continue  # imported, not defined here
        members = [(name, value)] if inspect.isfunction(value) else [
            (f"{name}.{k}", getattr(value, k)) for k, v in vars(value).items() if isinstance(v, staticmethod)
        ] if inspect.isclass(value) else []
        for label, function in members:
            parameters = inspect.signature(function).parameters.values()
            if all(p.default is not p.empty or p.kind is p.VAR_POSITIONAL or p.name in ARGUMENTS for p in parameters):
                kwargs = {p.name: ARGUMENTS[p.name]() for p in parameters
                          if p.name in ARGUMENTS and p.default is p.empty and p.kind is not p.VAR_POSITIONAL}
                thunks[label] = lambda function=function, kwargs=kwargs: function(**kwargs)
    return thunks


def _outcome(thunk: Callable[[], Any]) -> tuple[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "returned", thunk()
        except BaseException as error:  # noqa: BLE001 - argparse exits; every exception is an outcome
            return "raised", type(error).__name__


def run(code: str) -> dict[str, tuple[str, Any]]:
    """Execute a snippet with the stand-ins (argv empty), then call what it defines: outcome per step."""
    seen: list[tuple[bool, torch.dtype]] = []
    namespace = stand_ins(seen)
    before = set(namespace)
    argv, sys.argv = sys.argv, ["example.py"]
    torch.manual_seed(0)  # both runs start from the same generator state
    try:
        results = {"<module>": _outcome(lambda: exec(compile(code, "example.py", "exec"), namespace))}  # noqa: S102
        defined = {k for k in namespace if k not in before and not k.startswith("__")}
        for label, thunk in _calls(namespace, defined).items():
            results[label] = _outcome(thunk)
    finally:
        sys.argv = argv
    values = {k: v for k, v in namespace.items() if k not in before and not k.startswith("__")
              and not (inspect.ismodule(v) or inspect.isfunction(v) or inspect.isclass(v))}
    results.update({f"={k}": ("returned", v) for k, v in values.items()})
    results["<autocast seen by the model>"] = ("returned", seen)
    return results


def same(a: Any, b: Any) -> bool:
    """Equal values: tensors by content, containers item by item, objects by type and state."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if type(a).__eq__ is object.__eq__:  # no value semantics: the same kind of object, in the same state
        # (torch.cuda.amp.GradScaler is a subclass of torch.amp.GradScaler, with the same name)
        enabled = [getattr(v, "is_enabled", lambda: None)() for v in (a, b)]
        return type(a).__name__ == type(b).__name__ and enabled[0] == enabled[1]
    return bool(a == b)


def _accelerator_examples() -> list[Any]:
    cases = []
    for rule in RULESET.rules:
        for number, example in enumerate(rule.examples, start=1):
            if example.after is not None and example.path == "example.py":
                cases.append(pytest.param(rule.id, example, id=f"{rule.id}-{number}"))
    return cases


@pytest.mark.parametrize(("rule_id", "example"), _accelerator_examples())
def test_the_port_of_each_example_behaves_as_the_original_on_the_cpu(rule_id, example):
    before = textwrap.dedent(example.before)
    after = migrate_source(before, RULES).new_text or before  # the whole target, as a user runs it
    original, ported = run(before), run(after)
    assert original["<module>"] != ("raised", "NameError"), "a stand-in is missing: the example proves nothing"
    if original["<module>"][0] == "raised":
        return  # the port may work where the original failed (a CUDA stream, a tensor moved to "cuda")
    for step, (how, value) in original.items():
        got = ported.get(step)
        if how == "raised":
            continue  # the port may work where the original failed (a tensor moved to "cuda")
        assert got is not None and got[0] == "returned", f"{step}: the port raised {got[1] if got else '?'}\n{after}"
        assert same(value, got[1]), f"{step}: {value!r} before, {got[1]!r} after\n{after}"


# --- the numbers: ignite's amp training step ---------------------------------------------------

IGNITE_AMP = '''
import torch
from torch.cuda.amp import autocast, GradScaler

def train(steps=3):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = GradScaler(2**10)
    losses = []
    for step in range(steps):
        x, y = torch.randn(4, 8), torch.randn(4, 1)
        optimizer.zero_grad()
        with autocast(enabled=True):
            loss = torch.nn.functional.mse_loss(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    torch.cuda.empty_cache()
    return losses, scaler.is_enabled(), torch.cuda.memory_allocated(), torch.cuda.get_rng_state_all()
'''


def test_an_amp_training_step_computes_the_same_losses_after_the_port():
    ported = migrate_source(IGNITE_AMP, RULES).new_text
    assert ported is not None and "torch.cuda" not in ported
    results = []
    for code in (IGNITE_AMP, ported):
        namespace: dict[str, Any] = {}
        exec(compile(code, "ignite_amp.py", "exec"), namespace)  # noqa: S102
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(namespace["train"]())
    (losses, enabled, allocated, states), again = results
    assert again == (losses, enabled, allocated, states) and enabled is False and allocated == 0 and states == []


def test_lightning_cuda_accelerator_keeps_building_cuda_devices():
    code = textwrap.dedent('''
        import torch
        class CUDAAccelerator:
            @staticmethod
            def get_parallel_devices(devices):
                return [torch.device("cuda", i) for i in devices]
        def get_devices(devices):
            return [torch.device("cuda", i) for i in devices]
    ''')
    migration = migrate_source(code, RULES)
    ported = run(migration.new_text)
    assert same(ported["CUDAAccelerator.get_parallel_devices"][1], [torch.device("cuda", 0), torch.device("cuda", 1)])
    assert [f.rule_id for f in migration.findings] == ["cuda-backend-scope"]


def test_dispatch_and_guard_shapes_that_are_not_dotted_names() -> None:
    """A test calling a subscript or a call result (`checks[0]()`, `get()()`) is no backend guard:
    the chain is read without failing (megatron-core's utils.py once failed here)."""
    code = textwrap.dedent("""
        import torch
        if checks[0]() or get_checker()():
            torch.cuda.synchronize()
        elif torch.backends.mps.is_available():
            pass
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        elif is_xpu_available():
            pass
    """).lstrip("\n")
    migration = migrate_source(code, RULES)
    assert migration.new_text is not None
    assert "torch.accelerator.synchronize()" in migration.new_text  # not a CUDA branch: ported
    assert "    torch.cuda.empty_cache()" in migration.new_text  # beside an XPU branch: left
    assert [f.rule_id for f in migration.findings] == ["cuda-guard-scope"]


def test_a_cuda_named_def_with_nothing_to_port_is_no_item() -> None:
    """"CUDA" in a docstring and `self.cuda_sync_point` are no work (megatron-core's token
    dispatcher): migrate reported the def, check on the ported file (which triage skips) did not."""
    code = textwrap.dedent('''
        import torch
        class Dispatcher:
            def _maybe_update_cuda_sync_point(self, point):
                """
                Update the CUDA sync point if the new point is reached earlier.
                """
                if self.cuda_sync_point_priority[point] < self.cuda_sync_point_priority[self.cuda_sync_point]:
                    self.cuda_sync_point = point
            def _clear_cuda_cache(self):
                torch.cuda.empty_cache()
            def step(self):
                torch.cuda.synchronize()
    ''').lstrip("\n")
    migration = migrate_source(code, RULES)
    assert [(f.rule_id, f.span.line) for f in migration.findings] == [("cuda-backend-scope", 9)]
    assert migration.new_text is not None and "torch.accelerator.synchronize()" in migration.new_text


@pytest.mark.parametrize("before, after", [
    ("if torch.cuda.is_available():\n    torch.cuda.empty_cache()\n",
     "if torch.accelerator.is_available():\n    torch.accelerator.empty_cache()\n"),
    ("if torch.cuda.is_available() and flush:\n    torch.cuda.empty_cache()\n",
     "if torch.accelerator.is_available() and flush:\n    torch.accelerator.empty_cache()\n"),
    ("def peak():\n    if not torch.cuda.is_available():\n        return 0\n    return torch.cuda.max_memory_allocated()\n",
     "def peak():\n    if not torch.accelerator.is_available():\n        return 0\n    return torch.accelerator.max_memory_allocated()\n"),
    ("s = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []\n",
     "s = torch.get_device_module().get_rng_state_all() if torch.accelerator.is_available() else []\n"),
    # the else branch is not guarded by the test: it gets its own guard
    ("if torch.cuda.is_available():\n    pass\nelse:\n    torch.cuda.empty_cache()\n",
     "if torch.accelerator.is_available():\n    pass\nelse:\n    if torch.accelerator.is_available():\n        torch.accelerator.empty_cache()\n"),
])
def test_a_call_the_original_already_guards_is_not_guarded_twice(before: str, after: str) -> None:
    migration = migrate_source("import torch\n" + before, RULES)
    assert migration.new_text == "import torch\n" + after
    namespace = run("import torch\nflush = True\n" + after)  # and it runs on this CPU machine
    assert [k for k, (outcome, _) in namespace.items() if outcome == "raised"] == []
