#!/usr/bin/env python3
"""The long fault-injection campaign of issue 12 (not a test: CI runs a bounded one, tests/test_fuzz.py).

    python bench/fuzz.py --minutes 5                                  # mutants of the examples + generated programs
    python bench/fuzz.py --minutes 10 --corpus ~/.cache/portkit/corpora/deepspeed-0.7.7
    python bench/fuzz.py --cases 2000 --seed 7 --json fuzz.json

Every case is a mutant (tests/fuzzing.py: CUDA calls, form feeds, lone CRs, deep nesting,
comments, continuations… inserted into an example file or a corpus file) or a program from
Python's grammar (hypothesmith) with a CUDA call, run through the engine in a worker process.
It counts what must never happen: crashes (an exception other than a clean refusal: the
per-file barrier would turn it into an "internal error"), native crashes (the worker died),
output that does not parse, output a second run changes again, lines that changed although
no reported change covers them, and portkit refusing its own rewrite ("please report": the
verification caught a bug before anything was written). Each such case is saved (--save) with the command
that replays it; the exit code is 1 if there was any.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fuzzing  # noqa: E402 - tests/fuzzing.py: the mutators and the invariants

_state: dict[str, object] = {}
MAX_CORPUS_FILE = 150_000  # characters: bigger files make slow cases and teach little more


def _init(corpora: list[str], largest: int) -> None:
    from portkit.python.transform import CompiledRules
    from portkit.ruleset import load_rules

    warnings.simplefilter("ignore")
    sources = list(fuzzing.examples())
    corpus = []
    for folder in corpora:
        for path in sorted(Path(folder).rglob("*.py")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if len(text) <= MAX_CORPUS_FILE and fuzzing._parses(text):
                corpus.append((str(path), text))
    _state.update(rules={t: CompiledRules(load_rules(target=t)) for t in ("npu", "accelerator")},
                  sources=sources, corpus=corpus, largest=largest)


def make_case(seed: int) -> tuple[str, str, str] | None:
    """(origin, mutations, text) of case `seed`, or None if the mutant is not valid Python."""
    rng = random.Random(seed)
    roll = rng.random()
    if roll < 0.1:
        import tempfile

        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "portkit-hypothesis")  # not in the checkout
        import hypothesmith

        code = hypothesmith.from_grammar().example()  # not replayable by seed: the text is saved
        line = rng.choice(fuzzing.CUDA)
        return "hypothesmith", "grammar", f"import torch\n{line}\n{code}\n{line}\n"
    pool = _state["corpus"] if roll < 0.35 and _state["corpus"] else _state["sources"]
    origin, text = rng.choice(pool)  # type: ignore[arg-type]
    largest = int(_state["largest"])  # type: ignore[arg-type]
    fuzzing.MUTATORS["deep"] = lambda t, r: fuzzing.deep_nesting(t, r, largest)
    made = fuzzing.mutant(text, rng, rng.randint(1, 6))
    return None if made is None else (origin, "+".join(made[1]), made[0])


def run_case(seed: int) -> dict[str, object]:
    case = make_case(seed)
    if case is None:
        return {"seed": seed, "dropped": True}
    origin, mutations, text = case
    target = random.Random(seed).choice(["npu", "npu", "accelerator"])
    started = time.perf_counter()
    verdict = fuzzing.examine(text, _state["rules"][target])  # type: ignore[index]
    return {"seed": seed, "origin": origin, "mutations": mutations, "target": target,
            "refused": verdict.refused, "changed": verdict.changed, "problems": verdict.problems,
            "seconds": time.perf_counter() - started, "text": text if verdict.problems else None}


class Campaign:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.counts: collections.Counter[str] = collections.Counter()
        self.refusals: collections.Counter[str] = collections.Counter()
        self.problems: list[dict[str, object]] = []
        self.slowest = (0.0, 0)
        self.save = Path(args.save)

    def pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, initializer=_init,
                                   initargs=(self.args.corpus, self.args.largest_depth))

    def run(self) -> None:
        deadline = time.monotonic() + self.args.minutes * 60 if self.args.minutes else None
        seeds = iter(range(self.args.seed, self.args.seed + (self.args.cases or 10**12)))
        pool = self.pool(self.args.jobs)
        pending: dict[Future[dict[str, object]], int] = {}
        try:
            while True:
                while len(pending) < self.args.jobs * 2 and (deadline is None or time.monotonic() < deadline):
                    seed = next(seeds, None)
                    if seed is None:
                        break
                    pending[pool.submit(run_case, seed)] = seed
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = []
                for future in done:
                    seed = pending.pop(future)
                    try:
                        self.record(future.result())
                    except BrokenProcessPool:
                        broken.append(seed)
                if broken:  # a worker died: its case is among those in flight
                    suspects = sorted({*broken, *pending.values()})
                    pool.shutdown(wait=True, cancel_futures=True)
                    self.isolate(suspects)
                    pending, pool = {}, self.pool(self.args.jobs)
                self.progress()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def isolate(self, seeds: list[int]) -> None:
        """Replay the cases a dead worker may have held, one per worker: which one kills it."""
        for seed in seeds:
            with self.pool(1) as single:
                try:
                    self.record(single.submit(run_case, seed).result())
                except BrokenProcessPool:
                    self.counts["cases"] += 1
                    self.counts["native crash"] += 1
                    if not _state:
                        _init(self.args.corpus, self.args.largest_depth)
                    case = make_case(seed)  # again, here: the worker took it down with it
                    origin, mutations, text = case or (None, None, "")
                    self.problems.append({"seed": seed, "origin": origin, "mutations": mutations,
                                          "problems": ["native crash: the worker died"]})
                    self.save.mkdir(parents=True, exist_ok=True)
                    (self.save / f"case-{seed}.py").write_bytes(text.encode("utf-8", "surrogatepass"))

    def record(self, result: dict[str, object]) -> None:
        if result.get("dropped"):
            self.counts["dropped (not valid Python)"] += 1
            return
        self.counts["cases"] += 1
        self.counts["changed"] += bool(result["changed"])
        if result["refused"]:
            self.counts["refused (clean one-line failure)"] += 1
            self.refusals[str(result["refused"]).split(":")[0][:70]] += 1
        self.slowest = max(self.slowest, (float(result["seconds"]), int(result["seed"])))  # type: ignore[arg-type]
        for problem in result["problems"]:  # type: ignore[attr-defined]
            self.counts[str(problem).split(":")[0]] += 1
        if result["problems"]:
            self.problems.append(result)
            self.save.mkdir(parents=True, exist_ok=True)
            (self.save / f"case-{result['seed']}.py").write_bytes(str(result["text"]).encode("utf-8", "surrogatepass"))

    def progress(self) -> None:
        if self.counts["cases"] % 250 == 0 and self.counts["cases"]:
            bad = sum(len(p["problems"]) for p in self.problems)  # type: ignore[arg-type]
            print(f"  {self.counts['cases']} cases, {bad} problems", file=sys.stderr, flush=True)

    def report(self, seconds: float) -> dict[str, object]:
        keys = ["cases", "dropped (not valid Python)", "changed", "refused (clean one-line failure)", "crash",
                "native crash", "unparsable output", "unstable", "untouched line", "own rewrite refused",
                "second run refused", "multi-line reason"]
        figures = {key: self.counts.get(key, 0) for key in keys}
        print(f"\nportkit fuzz campaign: {seconds:.0f} s, seeds from {self.args.seed}, {self.args.jobs} worker(s)")
        for key in keys:
            print(f"  {key:36} {figures[key]}")
        print(f"  slowest case                         {self.slowest[0]:.1f} s (seed {self.slowest[1]})")
        if self.refusals:
            print("refusals by reason:")
            for reason, count in self.refusals.most_common(8):
                print(f"  {count:6}  {reason}")
        for problem in self.problems[:20]:
            print(f"PROBLEM seed {problem['seed']} ({problem.get('origin')}, {problem.get('mutations')}, "
                  f"target {problem.get('target')}): {problem['problems']}")
            print(f"  replay: portkit migrate --diff {self.save / ('case-' + str(problem['seed']) + '.py')}")
        return {"seconds": seconds, **figures, "refusals": dict(self.refusals), "problems": self.problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=None, help="run for this long (default 5 unless --cases)")
    parser.add_argument("--cases", type=int, default=None, help="run this many seeds")
    parser.add_argument("--seed", type=int, default=0, help="first seed (cases are seeds, in order)")
    parser.add_argument("--corpus", action="append", default=[], help="also mutate the .py files under this folder")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--largest-depth", type=int, default=2000, help="the deepest nesting a mutant gets (2000)")
    parser.add_argument("--save", default="/tmp/portkit-fuzz", help="where cases with problems are written")
    parser.add_argument("--json", type=Path, help="write the figures and every problem as JSON")
    args = parser.parse_args()
    if args.minutes is None and args.cases is None:
        args.minutes = 5
    started = time.monotonic()
    campaign = Campaign(args)
    try:
        campaign.run()
    except KeyboardInterrupt:
        print("interrupted: figures so far", file=sys.stderr)
    figures = campaign.report(time.monotonic() - started)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 1 if campaign.problems else 0


if __name__ == "__main__":
    sys.exit(main())
