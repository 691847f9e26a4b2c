#!/usr/bin/env python3
"""Kill `portkit migrate` at random moments and check that no file is ever torn (issue 12; not a test).

    python bench/crash_safety.py                                   # the deepspeed corpus if cached, else examples/
    python bench/crash_safety.py ~/.cache/portkit/corpora/deepspeed-0.7.7 --runs 40 -j 2

The tree is copied to a temporary folder. One uninterrupted `portkit migrate` (in place) on a
copy gives every file's new content; a second one, watched, tells when the writes begin and end.
Then, --runs times, a fresh copy is migrated in place and the process group (workers too) is
sent SIGKILL at a random moment: half of the moments anywhere in the run, half inside the
write phase (as soon as a random number of the files to change has been written). After each kill every file must hold either its old or its new content, byte for
byte ("torn" counts those that do not), and `.portkit-tmp` files left behind are counted (a
SIGKILL leaves the temporary file of the write it interrupted; nothing else should).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TREE = Path.home() / ".cache" / "portkit" / "corpora" / "deepspeed-0.7.7"
TEMP_SUFFIX = ".portkit-tmp"
_STARTS: dict[int, float] = {}  # pid -> when it was started (perf_counter)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and not p.name.endswith(TEMP_SUFFIX)}


def copy(tree: Path, destination: Path) -> Path:
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(tree, destination, symlinks=True, ignore=shutil.ignore_patterns(".git", ".portkit_cache"))
    return destination


def start(folder: Path, jobs: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "portkit", "migrate", "--allow-dirty", "--no-config", "-j", str(jobs), "."]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # its own process group: the workers die with it
    _STARTS[process.pid] = time.perf_counter()
    return process


def write_phase(tree: Path, work: Path, jobs: int, changed: list[str]) -> tuple[float, float, float]:
    """(first write, last write, end) in seconds from the start of an uninterrupted run, found by
    watching the modification times of the files that change."""
    folder = copy(tree, work / "watched")
    paths = [folder / name for name in changed]
    before = {p: p.stat().st_mtime_ns for p in paths}
    process = start(folder, jobs)
    began = _started(process)
    first = last = None
    while True:
        finished = process.poll() is not None
        now = time.perf_counter() - began
        moved = sum(1 for p in paths if p.stat().st_mtime_ns != before[p])
        if moved and first is None:
            first = now
        if moved == len(paths) and last is None:
            last = now
        if finished:
            break
        time.sleep(0.001)
    end = time.perf_counter() - began
    return (first if first is not None else end), (last if last is not None else end), end


def _started(process: subprocess.Popen[bytes]) -> float:
    return _STARTS[process.pid]


def _writes(process: subprocess.Popen[bytes], paths: list[Path], count: int) -> float:
    """Seconds from the start of `process` until it has written `count` of `paths` (polled)."""
    before = {p: p.stat().st_mtime_ns for p in paths}
    while process.poll() is None:
        if sum(1 for p in paths if p.stat().st_mtime_ns != before[p]) >= count:
            break
        time.sleep(0.0002)
    return time.perf_counter() - _started(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", nargs="?", type=Path,
                        default=DEFAULT_TREE if DEFAULT_TREE.is_dir() else REPO / "examples")
    parser.add_argument("--runs", type=int, default=20, help="interrupted runs (default 20)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="portkit's worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="portkit-crash-") as scratch:
        work = Path(scratch)
        base = copy(args.tree, work / "base")
        old = snapshot(base)
        reference = copy(base, work / "reference")
        if start(reference, args.jobs).wait() not in (0, 1):
            print("the uninterrupted run failed", file=sys.stderr)
            return 2
        new = snapshot(reference)
        changed = sorted(name for name in old if new.get(name) != old[name])
        first, last, end = write_phase(base, work, args.jobs, changed)
        print(f"{args.tree}: {len(old)} files, {len(changed)} changed by migrate; an uninterrupted run takes "
              f"{end:.2f} s and writes from {first:.2f} s to {last:.2f} s")
        totals = {"runs": 0, "killed in the write phase": 0, "finished before the kill": 0,
                  "files torn": 0, "files missing": 0, "stray temp files": 0}
        for run in range(args.runs):
            folder = copy(base, work / "run")
            process = start(folder, args.jobs)
            if run % 2:  # anywhere in the run
                at = rng.uniform(0, end)
                time.sleep(at)
            else:  # in the write phase: once a random number of the files has been written
                at = _writes(process, [folder / n for n in changed], rng.randint(1, max(1, len(changed) - 1)))
            finished = process.poll() is not None
            if not finished:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            after = snapshot(folder)
            torn = [n for n in old if n in after and after[n] not in (old[n], new.get(n, old[n]))]
            missing = [n for n in old if n not in after]
            strays = [p for p in folder.rglob(f"*{TEMP_SUFFIX}")]
            migrated = sum(1 for n in changed if after.get(n) == new[n])
            totals["runs"] += 1
            totals["finished before the kill"] += finished
            totals["killed in the write phase"] += (not finished) and 0 < migrated < len(changed)
            totals["files torn"] += len(torn)
            totals["files missing"] += len(missing)
            totals["stray temp files"] += len(strays)
            print(f"  run {run + 1:3}: kill at {at:.3f} s{' (already finished)' if finished else ''}: "
                  f"{migrated}/{len(changed)} files new, {len(torn)} torn, {len(missing)} missing, "
                  f"{len(strays)} stray temp" + "".join(f"\n      TORN {n}" for n in torn[:5]))
        print("totals: " + ", ".join(f"{key} {value}" for key, value in totals.items()))
        return 1 if totals["files torn"] or totals["files missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
