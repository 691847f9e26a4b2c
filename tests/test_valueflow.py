"""Strings judged by where their value goes (python/valueflow.py, issue 14 items 1 and 6).

The shapes are the ones real projects write: DeepSpeed's launcher, PyTorch's ImageNet example,
Megatron's NIXL backend, Lightning's accelerator names, profiler sort keys. Each change says what
it rests on (`evidence`): "" for a position a rule names, "value-flow", or "name-heuristic".
"""

from __future__ import annotations

import ast
import io
import sys
import textwrap
import tokenize
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import PositionProvider

from portkit.model import MigrationError
from portkit.ruleset import RuleError
from portkit.python.engine import migrate_source
from portkit.python.sparse import sparse_source
from portkit.python.transform import CompiledRules, transform
from portkit.ruleset import load_rules

REPO = Path(__file__).resolve().parent.parent
NPU = CompiledRules(load_rules())
ACCELERATOR = CompiledRules(load_rules(target="accelerator"))


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def events(code: str, rules: CompiledRules = NPU) -> list[tuple[int, str, str]]:
    """(line, message, evidence) of every change of a replace-string rule, from the whole tree."""
    text = dedent(code)
    module = cst.parse_module(text)
    outcome = transform(module, rules, ast.parse(text), text)
    positions = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return sorted((positions[e.node].start.line, e.message, e.evidence) for e in outcome.events
                  if e.rule.kind == "replace-string" and e.is_change)


def ported(code: str, rules: CompiledRules = NPU, *, sparse: bool = False) -> str:
    text = dedent(code)
    migration = migrate_source(text, rules, sparse=sparse)
    return migration.new_text if migration.new_text is not None else text


# --- a value converts where it is written because of where it goes ---------------------------


def test_a_device_built_in_one_statement_converts_because_it_reaches_map_location():
    assert events("""
        import torch
        def resume(path, args):
            loc = 'cuda:{}'.format(args.gpu)
            print("loading", path)
            checkpoint = torch.load(path, map_location=loc)
            return checkpoint
    """) == [(3, '"cuda:{}" → "npu:{}"', "value-flow")]


def test_deepspeeds_launcher_environment_takes_the_ascend_names():
    code = """
        import os
        import subprocess
        def main(args, local_gpu_ids):
            current_env = os.environ.copy()
            for k in current_env.keys():
                print(k)
            dist_rank = args.node_rank
            current_env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, local_gpu_ids))
            current_env["MASTER_ADDR"] = args.master_addr
            env = dict(os.environ)
            if env.get("NCCL_DEBUG"):
                pass
            process = subprocess.Popen(args.cmd, env=current_env)
    """
    assert events(code) == [
        (8, '"CUDA_VISIBLE_DEVICES" → "ASCEND_RT_VISIBLE_DEVICES"', "value-flow"),
        (11, '"NCCL_DEBUG" → "HCCL_DEBUG"', "value-flow"),
    ]


def test_an_environment_kept_on_self_is_followed_across_methods():
    assert ported("""
        import copy
        import os
        class Launcher:
            def __init__(self):
                self.env = copy.deepcopy(os.environ)
            def pin(self, ids):
                self.env["CUDA_VISIBLE_DEVICES"] = ids
                note = {"CUDA_VISIBLE_DEVICES": "a note, not an environment"}
    """) == dedent("""
        import copy
        import os
        class Launcher:
            def __init__(self):
                self.env = copy.deepcopy(os.environ)
            def pin(self, ids):
                self.env["ASCEND_RT_VISIBLE_DEVICES"] = ids
                note = {"CUDA_VISIBLE_DEVICES": "a note, not an environment"}
    """)


def test_a_mapping_handed_to_a_child_process_is_an_environment():
    assert ported("""
        import os
        import subprocess
        def run(cmd, rank):
            env = {"CUDA_VISIBLE_DEVICES": str(rank), "PATH": os.environ["PATH"]}
            other = {"CUDA_VISIBLE_DEVICES": "documentation"}
            os.spawnve(os.P_WAIT, cmd[0], cmd, env)
    """) == dedent("""
        import os
        import subprocess
        def run(cmd, rank):
            env = {"ASCEND_RT_VISIBLE_DEVICES": str(rank), "PATH": os.environ["PATH"]}
            other = {"CUDA_VISIBLE_DEVICES": "documentation"}
            os.spawnve(os.P_WAIT, cmd[0], cmd, env)
    """)


def test_devices_through_returns_self_attributes_class_attributes_tuples_and_globals():
    assert ported("""
        import torch
        FALLBACK = "cuda"
        def pick():
            return "cuda" if torch.cuda.is_available() else "cpu"
        class Runner:
            KIND = "cuda"
            def __init__(self):
                self.target = "cuda:0"
                self.main, self.rank = "cuda", 0
            def run(self, x):
                x.to(self.target).to(self.KIND).to(self.main).to(FALLBACK)
                return x.to(pick())
    """) == dedent("""
        import torch
        import torch_npu
        FALLBACK = "npu"
        def pick():
            return "npu" if torch.npu.is_available() else "cpu"
        class Runner:
            KIND = "npu"
            def __init__(self):
                self.target = "npu:0"
                self.main, self.rank = "npu", 0
            def run(self, x):
                x.to(self.target).to(self.KIND).to(self.main).to(FALLBACK)
                return x.to(pick())
    """)


# --- comparisons convert only against a device --------------------------------------------


def test_comparisons_with_a_device_convert_with_their_evidence():
    assert events("""
        import torch
        def f(t, device, spec: torch.device):
            same = t.device.type == "cuda"
            here = str(t.device) == "cuda"
            named = device == "cuda"
            typed = spec.type == "cuda"
            return torch.device("cuda")
    """) == [
        (3, '"cuda" → "npu"', "value-flow"),
        (4, '"cuda" → "npu"', "value-flow"),
        (5, '"cuda" → "npu"', "name-heuristic"),
        (6, '"cuda" → "npu"', "value-flow"),
        (7, '"cuda" → "npu"', ""),
    ]


def test_a_parameter_is_a_device_because_of_how_it_is_used():
    assert ported("""
        def place(x, where):
            if where == "cuda":
                x = x.pin_memory()
            return x.to(where)
    """) == dedent("""
        def place(x, where):
            if where == "npu":
                x = x.pin_memory()
            return x.to(where)
    """)


@pytest.mark.parametrize("code", [
    # Megatron's NIXL backend: UCX transport names parsed from a config string
    '''
    def _transports(config):
        tokens = {t.strip() for t in config.split(",")}
        return "cuda" in tokens or "cuda_copy" in tokens
    ''',
    # NIXL memory types
    '''
    def register(self, tensors, mem_type="cuda"):
        if "cuda" in mem_type:
            pass
    ''',
    # Lightning: a user's accelerator *name*; its choices and auto-selection still say "cuda"
    '''
    def select(accelerator):
        if accelerator == "cuda" or accelerator in ("cuda", "gpu"):
            return "cuda"
        parser.add_argument("--accelerator", default="cuda", choices=["cpu", "cuda", "gpu"])
    ''',
    # a set of tensor method names
    '''
    _MOVES = {"cuda", "cpu", "to"}
    def patched(name):
        return name in ("cuda", "cpu", "to", "half") or name in _MOVES
    ''',
    # a device-named variable that only ever becomes part of a text is a label
    '''
    def key(is_cuda, prof):
        device_type = "cuda" if is_cuda else "cpu"
        print(prof.key_averages().table(sort_by=f"self_{device_type}_time_total"))
    ''',
])
def test_strings_compared_with_or_becoming_other_things_stay(code):
    assert ported(code) == dedent(code)
    assert ported(code, ACCELERATOR) == dedent(code)


def test_the_profiler_key_stays_and_its_f_string_compiles_on_the_oldest_python():
    code = """
        import torch
        def report(prof, is_cuda):
            sort_key = f"{'cuda' if is_cuda else 'cpu'}_time_total"
            print(prof.key_averages().table(sort_by=sort_key))
            return f"{torch.device('cuda')}:{is_cuda}"
    """
    for rules in (NPU, ACCELERATOR):
        text = ported(code, rules)
        assert "f\"{'cuda' if is_cuda else 'cpu'}_time_total\"" in text
        assert_compiles_on_the_oldest_python(text, "profiler key")


# --- the sparse parse, rules without `flow`, the schema -----------------------------------


def test_a_sparse_parse_follows_values_through_the_statements_it_leaves_out():
    """transform(..., flow_tree=) is how the engine hands over the whole file's tree."""
    text = dedent("""
        import os
        import torch
        def main(args):
            print("starting")
            current_env = os.environ.copy()
            loc = "cuda:{}".format(args.gpu)
            state = torch.load(args.path, map_location=loc)
            current_env["CUDA_VISIBLE_DEVICES"] = "0"
            return state
    """)
    full = ast.parse(text)
    reduced = sparse_source(text, full, NPU.triggers.regex, NPU.may_need_work)
    assert reduced is not None and "map_location" not in reduced.text and "copy()" not in reduced.text
    module = cst.parse_module(reduced.text)
    blind = transform(module, NPU, reduced.tree, reduced.text)
    sighted = transform(module, NPU, reduced.tree, reduced.text, flow_tree=full)
    assert len([e for e in blind.events if e.is_change]) == 0
    assert sorted((e.message, e.evidence) for e in sighted.events if e.rule.kind == "replace-string") == [
        ('"CUDA_VISIBLE_DEVICES" → "ASCEND_RT_VISIBLE_DEVICES"', "value-flow"), ('"cuda:{}" → "npu:{}"', "value-flow")]


def test_rules_without_flow_keep_the_older_contexts(tmp_path):
    (tmp_path / "mine.toml").write_text(dedent('''
        [[rule]]
        id = "my-device"
        kind = "replace-string"
        summary = "cuda becomes npu"
        why = "mine"
        safety = "safe"
        values = { "cuda" = "npu" }
        [rule.contexts]
        compare = true
        conditional = ["cpu"]
        [[rule.examples]]
        before = "x = 1"
    '''), encoding="utf-8")
    rules = CompiledRules(load_rules([tmp_path], builtin=False))
    assert ported('ok = "cuda" in tokens\nk = f"{\'cuda\' if c else \'cpu\'}_x"\n', rules) == \
        'ok = "npu" in tokens\nk = f"{\'npu\' if c else \'cpu\'}_x"\n'


def test_an_unknown_flow_is_refused(tmp_path):
    (tmp_path / "bad.toml").write_text(dedent('''
        [[rule]]
        id = "bad-flow"
        kind = "replace-string"
        summary = "s"
        why = "w"
        safety = "safe"
        values = { "cuda" = "npu" }
        [rule.contexts]
        flow = "gpu"
        [[rule.examples]]
        before = "x = 1"
    '''), encoding="utf-8")
    with pytest.raises(RuleError, match="'flow' must be one of device, environ, backend"):
        load_rules([tmp_path], builtin=False)


# --- item 6: every --target accelerator output compiles on the oldest supported Python ------


def assert_compiles_on_the_oldest_python(text: str, name: str) -> None:
    """requires-python is >=3.11: compile() is that grammar when 3.11 runs the tests; on a newer
    Python, an f-string that reuses the quote of an f-string around it is found by tokens."""
    compile(text, name, "exec", dont_inherit=True)
    if sys.version_info >= (3, 12):
        open_quotes: list[str] = []
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.FSTRING_START:  # type: ignore[attr-defined]
                quote = token.string.lstrip("rRbBfF")
                assert not any(q == quote or quote.startswith(q) for q in open_quotes if len(q) == 1), name
                open_quotes.append(quote)
            elif token.type == tokenize.FSTRING_END:  # type: ignore[attr-defined]
                open_quotes.pop()
            elif token.type == tokenize.STRING and open_quotes:
                quote = token.string.lstrip("rRbBuU")[0]
                assert quote not in [q for q in open_quotes if len(q) == 1], name


def _accelerator_inputs() -> list[tuple[str, str]]:
    files = [*REPO.glob("examples/*/original/*.py"), *REPO.glob("tests/data/**/*.py")]
    found = [(str(p.relative_to(REPO)), p.read_text(encoding="utf-8")) for p in sorted(files)]
    for rule in load_rules(target=None).rules:
        for number, example in enumerate(rule.examples, start=1):
            if example.path.endswith(".py"):
                found.append((f"{rule.id}-{number}", dedent(example.before)))
    return found


def test_every_accelerator_output_compiles_on_the_oldest_supported_python():
    compiled = 0
    for name, text in _accelerator_inputs():
        try:
            migration = migrate_source(text, ACCELERATOR)
        except MigrationError as error:
            assert "invalid code" not in str(error), f"{name}: {error}"
            continue
        if migration.new_text is not None:
            assert_compiles_on_the_oldest_python(migration.new_text, name)
            compiled += 1
    for path in sorted(REPO.glob("examples/*/accelerator/*.py")):
        assert_compiles_on_the_oldest_python(path.read_text(encoding="utf-8"), str(path))
        compiled += 1
    assert compiled > 40
