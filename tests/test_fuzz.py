"""The fault-injection campaign (tests/fuzzing.py), bounded for CI: fixed seeds, a few hundred
cases, well under a minute. `python bench/fuzz.py` runs the long one.

For every input: no exception but a clean refusal (MigrationError, one line) leaves the
engine, nothing escapes the per-file barrier, the output parses, a second run changes
nothing, and every line that differs between input and output is covered by a reported
change (form feeds, lone CRs and trailing comment blocks included).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "portkit-hypothesis")  # not .hypothesis/ in the checkout

import hypothesmith  # noqa: E402 - after the home folder is set: it caches there on import
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzzing import CUDA, examine, examples, mutant
from portkit.model import FileStatus
from portkit.pipeline.discovery import DiscoveredFile
from portkit.pipeline.process import process_file
from portkit.python.transform import CompiledRules
from portkit.ruleset import load_rules

RULES = {target: CompiledRules(load_rules(target=target)) for target in ("npu", "accelerator")}
EXAMPLES = examples()
BOUNDED = settings(deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])


@settings(BOUNDED, max_examples=120)
@given(example=st.sampled_from(EXAMPLES), seed=st.integers(0, 2**32), edits=st.integers(1, 5),
       target=st.sampled_from(sorted(RULES)))
def test_mutants_of_the_examples_keep_every_promise(example: tuple[str, str], seed: int, edits: int,
                                                    target: str) -> None:
    made = mutant(example[1], random.Random(seed), edits)
    assume(made is not None)
    assert made is not None
    verdict = examine(made[0], RULES[target])
    assert verdict.problems == [], (example[0], made[1], verdict.problems)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles what it generates
@settings(BOUNDED, max_examples=60)
@given(code=hypothesmith.from_grammar(), line=st.sampled_from(CUDA), where=st.sampled_from(["before", "after"]))
def test_generated_programs_keep_every_promise(code: str, line: str, where: str) -> None:
    """Programs from Python's grammar (hypothesmith), with a CUDA call so the rewriter works."""
    text = f"import torch\n{line}\n{code}" if where == "before" else f"import torch\n{code}\n{line}\n"
    verdict = examine(text, RULES["npu"])
    assert verdict.problems == [], verdict.problems


@settings(BOUNDED, max_examples=40)
@given(example=st.sampled_from(EXAMPLES), seed=st.integers(0, 2**32), edits=st.integers(1, 5))
def test_nothing_escapes_the_barrier(example: tuple[str, str], seed: int, edits: int) -> None:
    """Through process_file, as a run does it: a result, never an exception, never an internal error."""
    text = example[1]
    rng = random.Random(seed)
    for _ in range(edits):  # valid or not: a run meets broken files too
        text = rng.choice([lambda t: (mutant(t, rng, 1) or (t, []))[0], lambda t: t[: rng.randrange(len(t) + 1)],
                           lambda t: t.replace(":", "", 1)])(text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mutant.py"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        for check in (False, True):
            result = process_file(DiscoveredFile(path, Path(folder)), RULES["npu"], "mutant.py", check)
            if result.status is FileStatus.FAILED:
                assert result.error and "\n" not in result.error
                assert not result.error.startswith("internal error"), result.error


@pytest.mark.parametrize("name", [name for name, _ in EXAMPLES])
def test_every_example_with_every_kind_of_edit(name: str) -> None:
    """Each mutation on its own, on every example, a few seeds each: none is left to chance."""
    from fuzzing import MUTATORS

    text = dict(EXAMPLES)[name]
    for kind, mutate in sorted(MUTATORS.items()):
        for seed in range(3):
            made = mutate(text, random.Random(seed))
            verdict = examine(made, RULES["npu"])
            assert verdict.problems == [], (kind, seed, verdict.problems)
