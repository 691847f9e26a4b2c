"""Running the per-file pipeline over many files: worker processes, order, the check cache.

Files are independent, so `run` hands them to worker processes (`jobs` > 1) and yields the
results in input order whatever `jobs` is. The libcst pipeline (engine.py) is imported only
when a file actually has to be processed: a warm `check` whose every file is in the cache
never pays for importing libcst.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from portkit import filekinds
from portkit.pipeline.cache import CheckCache, digest
from portkit.pipeline.discovery import DiscoveredFile
from portkit.model import FileResult
from portkit.ruleset import RuleSet

if TYPE_CHECKING:
    from portkit.python.transform import CompiledRules


def display_path(path: Path) -> str:
    """What reports call a file: relative to the working folder when it is below it."""
    text = str(path)
    if not os.path.isabs(text) and not os.path.splitdrive(text)[0] and os.pardir not in path.parts:
        # relpath of a relative path without `..` is its normal form: this skips relpath's
        # two getcwd calls per file, which a warm re-check of a big tree would notice
        relative = os.path.normpath(text)
    else:
        relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


# Worker processes compile the rules once, in their initializer, and keep them for every file
# they are given: this module-level slot exists only inside worker processes.
_worker_rules: CompiledRules | None = None


def _init_worker(ruleset: RuleSet) -> None:
    from portkit.python.transform import CompiledRules

    global _worker_rules
    _worker_rules = CompiledRules(ruleset)


def _work(item: tuple[DiscoveredFile, str, bool, bool]) -> FileResult:
    from portkit.pipeline.process import process_file

    assert _worker_rules is not None
    return process_file(item[0], _worker_rules, item[1], item[2], item[3])


def run(files: Sequence[DiscoveredFile], ruleset: RuleSet, jobs: int = 1, *, check: bool = False,
        cache: CheckCache | None = None, fix_deps: bool = False) -> Iterator[FileResult]:
    """Process every file, yielding results in the order of `files` whatever `jobs` is.

    With a cache (check only), files are hashed here and only the ones whose content the
    cache does not know go to the workers.
    """
    items = [(file, display_path(file.path), check, fix_deps) for file in files]
    if cache is None:
        yield from _process(items, ruleset, jobs)
        return
    digests = [_digest_or_none(file.path) for file in files]
    known = [cache.get(d, display) if d is not None else None for d, (_, display, _, _) in zip(digests, items)]
    computed = _process([item for item, hit in zip(items, known) if hit is None], ruleset, jobs)
    for content_digest, hit in zip(digests, known):
        if hit is not None:
            yield hit
            continue
        result = next(computed)
        if content_digest is not None:
            cache.put(content_digest, result)
        yield result


def _digest_or_none(path: Path) -> str | None:
    try:
        return digest(path.read_bytes())
    except OSError:
        return None


def _process(items: Sequence[tuple[DiscoveredFile, str, bool, bool]], ruleset: RuleSet,
             jobs: int) -> Iterator[FileResult]:
    if not items:
        return
    if jobs <= 1 or len(items) < 2:
        from portkit.pipeline.process import process_file
        from portkit.python.transform import CompiledRules

        rules = CompiledRules(ruleset)
        for file, display, check, fix_deps in items:
            yield process_file(file, rules, display, check, fix_deps)
        return
    from concurrent.futures import ProcessPoolExecutor  # here: a warm re-check never starts workers

    chunk = max(1, min(16, len(items) // (jobs * 4)))
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(ruleset,)) as pool:
        yield from pool.map(_work, items, chunksize=chunk)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def with_call_site_rule(ruleset: RuleSet, files: Sequence[DiscoveredFile]) -> RuleSet:
    """The rule set plus a `cuda-op-call` rule for the Python calls of the custom CUDA
    operators this tree registers (cudaops.with_call_sites). A tree without C/C++/CUDA
    sources costs one look at each file name: no read, and no import of the C++ scanner."""
    paths = [f.path for f in files]
    if not any(p.suffix.lower() in filekinds.CUDA_SOURCE_SUFFIXES for p in paths):
        return ruleset
    from portkit.filekinds.cudaops import with_call_sites

    return with_call_sites(ruleset, paths)
