"""The sharper triage: whole tokens, comments skipped, stage two only where stage one matched.

Every case that triage now drops is asserted to get nothing from the full engine, and every
case it keeps because of a subtlety (an escape, a decorator line, a `#` inside a string, a
match statement, `\\r` line endings...) is asserted to get something from it, so a shortcut
that is too sharp fails here. tests/test_fast_paths.py checks the same contract on every rule
example and example program.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path, PurePath

import libcst as cst
import pytest

from portkit.python.engine import parse_ast
from portkit.filekinds import PYTHON, kind_for
from portkit.filekinds.notebooks import migrate_notebook
from portkit.ruleset import TARGETS, load_rules
from portkit.python.transform import CompiledRules, transform
from portkit.python.triage import Needle, in_comment, line_numbers, minimal_needles, pattern_needles

HERE = Path(__file__).resolve().parent
# each target compiles its own triggers (the shim's `cuda` pattern matches anywhere in a string)
COMPILED = {target: CompiledRules(load_rules(target=target)) for target in sorted(TARGETS)}
RULES = COMPILED["npu"]


def engine_events(text: str, rules: CompiledRules) -> list[tuple[str, str]]:
    """What the engine finds without any triage: the whole module visited, and the pruned
    pass the engine really runs (the union, so neither path can hide an event)."""
    module = cst.parse_module(text)
    found = [(e.rule.id, e.message) for e in transform(module, rules).events]
    found += [(e.rule.id, e.message) for e in transform(module, rules, parse_ast(text), text).events]
    return found


def kept(text: str, rules: CompiledRules) -> bool:
    """Both triage stages, as engine.migrate_source runs them."""
    return rules.may_need_work(text) and rules.may_need_work_tree(parse_ast(text), text)


DROPPED = {
    "identifiers-inside-longer-names": """
        use_cuda_graph = True
        example = resample(timestamp, clamp=True)
        recompile_everything = autograd_free = False
    """,
    "comments-only": """
        import torch
        x = torch.zeros(3)  # later: x.cuda() and torch.cuda.synchronize()
        # model = nn.DataParallel(model); set CUDA_VISIBLE_DEVICES first
    """,
    "docstring-only": '''
        import torch


        def move(x):
            """Calls torch.cuda.synchronize() and returns x.cuda() in the caller."""
            return x
    ''',
    "prose-string": """
        import torch
        message = "this runs on cuda only when cuda is there"
        print(message)
    """,
    "long-function-with-one-docstring-mention": '''
        import torch


        def train(model, data):
            """Train on the device (cuda when available)."""
            total = 0
            for batch in data:
                total += model(batch).sum()
            return total
    ''',
}

KEPT = {
    "hash-inside-a-string-before-code": """
        import torch
        tag = "#"; ok = torch.cuda.is_available()
    """,
    "hash-inside-an-f-string": """
        import torch
        label = f"{name}#{rank}"; torch.cuda.synchronize()
    """,
    "code-after-a-multiline-string-ends": '''
        import torch
        doc = """
        # notes """; ok = torch.cuda.is_available()
    ''',
    "only-on-a-decorator-line": """
        import torch


        @torch.cuda.amp.custom_fwd
        def forward(x):
            return x
    """,
    "inside-a-match-case": """
        import torch
        match mode:
            case "sync":
                torch.cuda.synchronize()
    """,
    "inside-an-except-handler-and-else": """
        import torch
        try:
            pass
        except RuntimeError:
            pass
        else:
            if ready:
                for _ in range(3):
                    torch.cuda.synchronize()
    """,
    "env-var-prefix": """
        import os
        os.environ["NCCL_P2P_DISABLE"] = "1"
    """,
    "backend-string-value": """
        import torch.distributed as dist
        dist.init_process_group(backend="nccl")
    """,
    "device-string-prefix": """
        import torch
        device = torch.device("cuda:0")
    """,
    "load-path-with-cuda-inside-a-word": """
        import torch
        state = torch.load("checkpoints/ckpt_cuda.pt")
    """,
    "import-alias-used-elsewhere": """
        import torch.cuda as tc
        tc.synchronize()
    """,
}


def _source(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.mark.parametrize("target", sorted(COMPILED))
@pytest.mark.parametrize("name", sorted(DROPPED))
def test_dropped_files_get_nothing_from_the_engine(name, target):
    text = _source(DROPPED[name])
    assert engine_events(text, COMPILED[target]) == []
    if target != "shim":  # the shim reports "cuda" anywhere in a torch.load path: prose passes
        assert not kept(text, COMPILED[target])


@pytest.mark.parametrize("name", ["identifiers-inside-longer-names", "comments-only"])
def test_stage_one_alone_drops_look_alikes_and_comments(name):
    assert not RULES.may_need_work(_source(DROPPED[name]))


@pytest.mark.parametrize("name", sorted(KEPT))
def test_kept_files_get_something_from_the_engine(name):
    text = _source(KEPT[name])
    acting = [t for t, rules in COMPILED.items() if engine_events(text, rules)]
    assert acting, "the case no longer exercises the engine"
    for target in acting:
        assert kept(text, COMPILED[target]), target


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_other_line_endings_keep_lines_aligned(newline):
    text = _source(KEPT["inside-an-except-handler-and-else"]).replace("\n", newline)
    assert engine_events(text, RULES)
    assert kept(text, RULES)


def test_the_restricted_walk_finds_only_what_the_full_walk_finds():
    # the docstring mentions cuda (stage one), the code below has no trigger: the full walk and
    # the restricted one agree that nothing is used as code
    text = _source(DROPPED["long-function-with-one-docstring-mention"])
    tree = parse_ast(text)
    assert RULES.may_need_work(text)
    assert not RULES.may_need_work_tree(tree) and not RULES.may_need_work_tree(tree, text)


# --- notebooks are triaged on their raw JSON first --------------------------------------------

SOURCES = {
    "torture": (HERE / "data" / "torture.py").read_text(encoding="utf-8"),
    **{f"example-{p.parent.parent.name}-{p.name}": p.read_text(encoding="utf-8")
       for p in sorted((HERE.parent / "examples").glob("*/*/*.py"))},
    **{f"{rule.id}-{n}": _source(e.before)
       for rule in load_rules(target=None).rules for n, e in enumerate(rule.examples, start=1)
       if kind_for(PurePath(e.path), explicit=True) is PYTHON},
    **{f"kept-{name}": _source(text) for name, text in KEPT.items()},
}


def _tab_indented(text: str) -> str:
    return re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)


@pytest.mark.parametrize("target", sorted(COMPILED))
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_raw_notebook_json_is_never_sharper_than_its_code(name, target):
    """In JSON a code line may start right after an escape (`\\n`, `\\t`) that ends in a letter."""
    rules = COMPILED[target]
    for code in (SOURCES[name], _tab_indented(SOURCES[name]), "x = 1\n" + SOURCES[name]):
        if not rules.may_need_work(code):
            continue
        one_string = json.dumps({"cells": [{"cell_type": "code", "source": code}]})
        assert rules.may_need_work(one_string)
        lines = json.dumps({"cells": [{"cell_type": "code", "source": code.splitlines(keepends=True)}]})
        assert rules.may_need_work(lines)


def test_a_notebook_whose_only_mention_follows_an_escape_is_ported():
    code = "from torch.nn import DataParallel as DP\nm = DP(m)\n"
    text = json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "id": "a", "metadata": {},
                                  "outputs": [], "source": code}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    assert "\\nDataParallel" not in text and RULES.may_need_work(text)
    tabbed = text.replace("import DataParallel", "import\\tDataParallel")
    assert "\\tDataParallel" in tabbed and RULES.may_need_work(tabbed)
    assert migrate_notebook(tabbed, "n.ipynb", RULES, True).findings


# --- the pieces ------------------------------------------------------------------------------


def test_tokens_and_prefixes():
    token, prefix = Needle.token("cuda", code_only=True), Needle.token("cuda:", code_only=True, prefix=True)
    assert token.accepts("x.cuda()", 2) and token.accepts("cuda", 0)
    assert not token.accepts("use_cuda", 4) and not token.accepts("cudatoolkit", 0)
    assert token.accepts('"\\ncuda"', 3)  # after a JSON escape
    assert prefix.accepts('"cuda:0"', 1) and not prefix.accepts('"xcuda:0"', 2)
    assert not Needle.token("", code_only=True).left  # an empty word has no edges to bound


def test_comments():
    assert in_comment("x = 1  # cuda", 9)
    assert not in_comment("x = '#'; cuda", 9)  # a quote: the `#` may be in a string
    assert not in_comment("f'{a}#{b}'; cuda", 12)
    assert not in_comment("x = 1\ncuda  # c", 6)
    assert in_comment("a\r# cuda", 4)


def test_redundant_needles_are_dropped():
    needles = [Needle.token("CUDA_", code_only=True, prefix=True),
               Needle.token("CUDA_VISIBLE_DEVICES", code_only=True),
               Needle.token("cuda", code_only=True), Needle.token("cuda:", code_only=True, prefix=True),
               Needle.token("use_cuda", code_only=True)]
    assert [n.word for n in minimal_needles(needles)] == ["CUDA_", "cuda", "use_cuda"]
    # a word anywhere (comments included) is not made redundant by a code-only one
    anywhere = Needle("cuda", False, False, False)
    assert anywhere in minimal_needles([anywhere, Needle.token("cuda", code_only=True)])


def test_pattern_needles():
    anchored = pattern_needles(re.compile(r"^(NCCL_|CUDA_)"))
    assert [(n.word, n.left, n.right, n.code_only) for n in anchored] == [
        ("NCCL_", True, False, True), ("CUDA_", True, False, True)]
    assert [n.word for n in pattern_needles(re.compile(r"^CUDA_"))] == ["CUDA_"]
    for loose in (r"cuda", r"^NCCL_|CUDA_", r"(?i)^(nccl_)"):
        assert all(not n.left and not n.code_only for n in pattern_needles(re.compile(loose)))


def test_line_numbers_count_every_kind_of_line_end():
    assert line_numbers("a\nb\r\nc\rd", [0, 2, 5, 7]) == [1, 2, 3, 4]
    assert line_numbers("a\nb\nc", [4, 0, 2, 2]) == [1, 2, 3]
