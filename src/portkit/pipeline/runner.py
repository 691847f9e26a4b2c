"""Running the per-file pipeline over many files: worker processes, order, the check cache.

Files are independent, so `run` hands them to worker processes (`jobs` > 1) and yields the
results in input order whatever `jobs` is. The libcst pipeline (engine.py) is imported only
when a file actually has to be processed: a warm `check` whose every file is in the cache
never pays for importing libcst.

process.process_file turns whatever goes wrong with a file into that file's failure; a worker
process that dies (a crash in native code, the kernel's OOM killer) is contained here: the
files it left unfinished are processed again one at a time, each in a worker of its own, and
a file that kills its worker again is reported as failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from portkit import filekinds
from portkit.pipeline.cache import CheckCache, digest
from portkit.pipeline.discovery import DiscoveredFile, printable_path
from portkit.pipeline.sourcefile import DEFAULT_MAX_FILE_SIZE, SourceError, read_bytes
from portkit.model import FileResult, FileStatus
from portkit.ruleset import RuleSet

if TYPE_CHECKING:
    from portkit.python.compiled import CompiledRules


def display_path(path: Path) -> str:
    """What reports call a file: relative to the working folder when it is below it, as one
    line of printable text whatever bytes its name has (discovery.printable_path)."""
    text = str(path)
    if not os.path.isabs(text) and not os.path.splitdrive(text)[0] and os.pardir not in path.parts:
        # relpath of a relative path without `..` is its normal form: this skips relpath's
        # two getcwd calls per file, which a warm re-check of a big tree would notice
        relative = os.path.normpath(text)
    else:
        relative = os.path.relpath(path)
    return printable_path(relative if not relative.startswith("..") else str(path))


# Worker processes compile the rules once, in their initializer, and keep them for every file
# they are given: this module-level slot exists only inside worker processes.
_worker_rules: CompiledRules | None = None


def _init_worker(ruleset: RuleSet) -> None:
    from portkit.python.compiled import CompiledRules

    global _worker_rules
    _worker_rules = CompiledRules(ruleset)


# (file, display path, check, fix_deps, max_file_size): what a worker needs for one file
Item = tuple[DiscoveredFile, str, bool, bool, "int | None"]


def _work(item: Item) -> FileResult:
    from portkit.pipeline.process import process_file

    assert _worker_rules is not None
    return process_file(item[0], _worker_rules, item[1], item[2], item[3], item[4])


def run(files: Sequence[DiscoveredFile], ruleset: RuleSet, jobs: int = 1, *, check: bool = False,
        cache: CheckCache | None = None, fix_deps: bool = False,
        max_file_size: int | None = DEFAULT_MAX_FILE_SIZE) -> Iterator[FileResult]:
    """Process every file, yielding results in the order of `files` whatever `jobs` is.

    With a cache (check only), files are hashed here and only the ones whose content the
    cache does not know go to the workers. Files over `max_file_size` bytes fail unread.
    """
    items: list[Item] = [(file, display_path(file.path), check, fix_deps, max_file_size) for file in files]
    if cache is None:
        yield from _process(items, ruleset, jobs)
        return
    digests = [_digest_or_none(file.path, max_file_size) for file in files]
    known = [cache.get(d, item[1]) if d is not None else None for d, item in zip(digests, items)]
    computed = _process([item for item, hit in zip(items, known) if hit is None], ruleset, jobs)
    for content_digest, hit in zip(digests, known):
        if hit is not None:
            yield hit
            continue
        result = next(computed)
        if content_digest is not None and not _transient(result):
            cache.put(content_digest, result)
        yield result


def _transient(result: FileResult) -> bool:
    """A failure that may not happen again with the same content: not worth caching."""
    return result.status is FileStatus.FAILED and (result.error or "").startswith(_TRANSIENT)


_TRANSIENT = ("internal error", "out of memory", "the worker process")


def _digest_or_none(path: Path, max_file_size: int | None = None) -> str | None:
    try:
        return digest(read_bytes(path, max_file_size))
    except SourceError:
        return None


def _process(items: Sequence[Item], ruleset: RuleSet, jobs: int) -> Iterator[FileResult]:
    if not items:
        return
    if jobs <= 1 or len(items) < 2:
        from portkit.pipeline.process import process_file
        from portkit.python.compiled import CompiledRules

        rules = CompiledRules(ruleset)
        for item in items:
            yield process_file(item[0], rules, *item[1:])
        return
    from concurrent.futures import ProcessPoolExecutor  # here: a warm re-check never starts workers
    from concurrent.futures.process import BrokenProcessPool

    chunk = max(1, min(16, len(items) // (jobs * 4)))
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(ruleset,)) as pool:
            for result in pool.map(_work, items, chunksize=chunk):
                yield result
                done += 1
    except BrokenProcessPool:
        yield from _one_by_one(items[done:], ruleset)


def _one_by_one(items: Sequence[Item], ruleset: RuleSet) -> Iterator[FileResult]:
    """After a worker died: each remaining file in a worker of its own, so the one that kills
    its worker is known, reported as failed, and the others are still processed."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = None
    try:
        for item in items:
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=1, initializer=_init_worker, initargs=(ruleset,))
            try:
                yield pool.submit(_work, item).result()
            except BrokenProcessPool:
                pool.shutdown(wait=True)
                pool = None
                yield FileResult(item[1], FileStatus.FAILED,
                                 error="the worker process died on this file (a crash in native code, or out of "
                                       "memory); please report")
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def with_call_site_rule(ruleset: RuleSet, files: Sequence[DiscoveredFile]) -> RuleSet:
    """The rule set plus a `cuda-op-call` rule for the Python calls of the custom CUDA
    operators this tree registers (cudaops.with_call_sites), and with `cuda-extension-import`
    made for the tree's CUDA extension modules (extimports.expand). The Python files both
    read are read once (a byte search of each); a tree without C/C++/CUDA sources costs no
    more for the call sites than one look at each file name."""
    from portkit.filekinds.extimports import IMPORT_RULE, expand, extension_sources

    paths = [f.path for f in files]
    cuda_sources = any(p.suffix.lower() in filekinds.CUDA_SOURCE_SUFFIXES for p in paths)
    if IMPORT_RULE not in ruleset.ids and not cuda_sources:
        return ruleset
    mentions = extension_sources([(f.path, f.relative) for f in files])
    # modules are named by their path below the root in messages
    ruleset = expand(ruleset, [(relative, text) for _, relative, text in mentions], [f.relative for f in files])
    if not cuda_sources:
        return ruleset
    from portkit.filekinds.cudaops import with_call_sites

    return with_call_sites(ruleset, paths, [(path, text) for path, _, text in mentions if "cpp_extension" in text])
