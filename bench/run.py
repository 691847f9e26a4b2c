#!/usr/bin/env python3
"""Benchmark portkit on real CUDA code bases fetched from PyPI (not a test: CI never runs it).

    python bench/run.py                          # all default corpora (long: transformers is 1.2 M lines)
    python bench/run.py --corpus deepspeed --corpus megatron-core --json bench.json
    python bench/run.py --quick                  # smoke run on a small sample of each corpus

Sources are fetched once with `pip download --no-deps` into a cache outside the repository
(default ~/.cache/portkit/corpora; --cache DIR) and unpacked to <cache>/<name>-<version>/.
For every corpus it measures floors (read, ast.parse, libcst.parse_module), `portkit migrate
--diff` and `portkit check` as subprocesses, a naive libcst codemod (QualifiedNameProvider)
in-process, and the peak memory of `migrate -j 2`; then it prints a Markdown table of the
figures and one of the project's targets with PASS/MISS. bench/README.md explains each row.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tokenize
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, QualifiedNameProvider

import portkit
from portkit.pipeline.discovery import discover
from portkit.ruleset import load_rules
from portkit.python.transform import CompiledRules

REPO = Path(__file__).resolve().parent.parent
PORTKIT = [sys.executable, "-m", "portkit"]
# portkit runs as an installed package does: with bytecode caches. A PYTHONDONTWRITEBYTECODE
# inherited from the shell would recompile every portkit module in every timed run (~0.2 s).
PORTKIT_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Corpus:
    name: str  # the PyPI project
    version: str
    sdist: bool = False  # fetch the source archive instead of a wheel

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


DEFAULT_CORPORA = (
    Corpus("deepspeed", "0.7.7", sdist=True),  # deepspeed publishes no wheels
    Corpus("megatron-core", "0.16.1"),
    Corpus("diffusers", "0.42.1"),
    Corpus("transformers", "5.24.0"),
    Corpus("timm", "1.0.15", sdist=True),  # no CUDA code: check skips most files, analyze reads many
)

# The project's targets: (key, description, target text, predicate on the value)
TARGETS = (
    ("naive_over_migrate", "naive codemod ÷ migrate --diff (-j 1)", "≥ 20×", lambda v: v >= 20),
    ("migrate_over_libcst", "migrate --diff (-j 1) ÷ libcst-parse floor", "≤ 2×", lambda v: v <= 2),
    ("check_ported_over_ast", "check ported (-j 1) ÷ ast.parse floor", "≤ 2×", lambda v: v <= 2),
    ("check_over_migrate", "check unported (-j 1) ÷ migrate --diff (-j 1)", "≤ 1×", lambda v: v <= 1),
    ("analyze_over_check", "analyze (-j 1) ÷ check unported --no-cache (-j 1)", "≤ 1×", lambda v: v <= 1),
    ("warm_s_per_mloc", "warm re-check, s per million lines", "≤ 0.3 s", lambda v: v <= 0.3),
    ("peak_rss_mb", "peak RSS of migrate -j 2 (all processes)", "< 1024 MB", lambda v: v < 1024),
)


# --------------------------------------------------------------------------- fetching

def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _archive_key(filename: str) -> tuple[str, str, bool] | None:
    """(normalized name, version, is_sdist) of a wheel or sdist file name."""
    for suffix in (".whl", ".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if suffix == ".whl":
                name, version = stem.split("-")[:2]
            else:
                name, _, version = stem.rpartition("-")
            return _normalized(name), version, suffix != ".whl"
    return None


def _find_archive(folder: Path, corpus: Corpus) -> Path | None:
    if not folder.is_dir():
        return None
    wanted = (_normalized(corpus.name), corpus.version, corpus.sdist)
    return next((p for p in sorted(folder.iterdir()) if _archive_key(p.name) == wanted), None)


def _pip_download(corpus: Corpus, into: Path, sdist: bool, timeout: float) -> None:
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-d", str(into), *kind, f"{corpus.name}=={corpus.version}"]
    log(f"fetching {corpus.label}: {' '.join(cmd[2:])}")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"pip download {corpus.label} took more than {timeout:.0f} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"pip download {corpus.label} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _unpack(archive: Path, target: Path) -> None:
    """Unpack into a scratch folder next to `target`, then rename: `target` exists only complete."""
    scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(scratch)
        else:
            with tarfile.open(archive) as t:
                if hasattr(tarfile, "data_filter"):
                    t.extractall(scratch, filter="data")
                else:
                    t.extractall(scratch)  # noqa: S202 (a pinned PyPI sdist)
        entries = list(scratch.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() and archive.suffix != ".whl" else scratch
        top.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fetch(corpus: Corpus, cache: Path, timeout: float = 900) -> Path:
    """The unpacked sources of `corpus` under `cache`, downloading them with pip if needed."""
    target = cache / corpus.label
    if target.is_dir():
        return target
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = _find_archive(downloads, corpus)
    if archive is None:
        try:
            _pip_download(corpus, downloads, corpus.sdist, timeout)
        except RuntimeError:
            if corpus.sdist:
                raise
            log(f"no usable wheel for {corpus.label}; trying the sdist")
            corpus = Corpus(corpus.name, corpus.version, sdist=True)
            _pip_download(corpus, downloads, True, timeout)
        archive = _find_archive(downloads, corpus)
        if archive is None:
            raise RuntimeError(f"pip reported success but no archive of {corpus.label} is in {downloads}")
    log(f"unpacking {archive.name} -> {target}")
    _unpack(archive, target)
    return target


# --------------------------------------------------------------------------- inventory

@dataclass
class Tree:
    root: Path
    files: list[Path]  # what portkit itself would look at (its own discovery)
    lines: dict[Path, int]

    @property
    def total_lines(self) -> int:
        return sum(self.lines.values())


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def inventory(root: Path) -> Tree:
    files = [f.path for f in discover([root]).files]
    return Tree(root, files, {f: len(read_text(f).splitlines()) for f in files})


def _triaged(rules: CompiledRules, text: str) -> bool:
    """Both of portkit's triage stages (substrings, then the stdlib tree) let this text through."""
    if not rules.may_need_work(text):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return rules.may_need_work_tree(ast.parse(text), text)
        except (SyntaxError, ValueError, RecursionError):
            return False


def quick_sample(tree: Tree, count: int, into: Path) -> Tree:
    """A copy of about `count` files, relative paths kept: every k-th of the files that portkit's
    triage lets through (so the sample has work to do) and every k-th of the others."""
    rules = CompiledRules(load_rules().for_target("npu"))
    candidates = [f for f in tree.files if _triaged(rules, read_text(f))]
    picked = set(candidates)
    others = [f for f in tree.files if f not in picked]
    chosen = []
    for group, share in ((candidates, (count + 1) // 2), (others, count // 2)):
        stride = max(1, len(group) // max(1, share))
        chosen += group[::stride][:share]
    for path in chosen:
        destination = into / path.relative_to(tree.root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return inventory(into)


# --------------------------------------------------------------------------- timing

def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Timing:
    """Best of N: wall seconds (what the targets are about) and CPU seconds (user + system, of
    this process or of a subprocess and its workers: far less disturbed by a busy machine)."""

    wall: list[float]
    cpu: list[float]

    @property
    def seconds(self) -> float:
        return min(self.wall)

    @property
    def cpu_seconds(self) -> float:
        return min(self.cpu)

    def as_json(self) -> dict[str, object]:
        return {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "runs": self.wall, "cpu_runs": self.cpu}


def best_of(repeat: int, fn: Callable[[], object]) -> Timing:
    timing = Timing([], [])
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        fn()
        timing.wall.append(time.perf_counter() - started)
        timing.cpu.append(time.process_time() - cpu)
    return timing


@dataclass
class ProcessRun:
    seconds: float
    cpu_seconds: float  # user + system of the process and the workers it waited for
    returncode: int
    max_rss_mb: float  # the largest single process (wait4's ru_maxrss: the child and its descendants)
    tree_peak_mb: float | None  # sampled sum over the process and its workers, when asked for


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def _tree_rss(pid: int) -> int:
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for member in _descendants(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{member}/statm", "rb") as statm:
                total += int(statm.read().split()[1]) * page
    return total


def run_process(cmd: Sequence[str], cwd: Path, *, ok: Sequence[int] = (0,), sample_rss: bool = False) -> ProcessRun:
    """Run `cmd` with stdout to /dev/null; wall time, exit code and memory."""
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=devnull, stderr=err, env=PORTKIT_ENV)
        peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                peak[0] = max(peak[0], _tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True) if sample_rss and Path("/proc").is_dir() else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        stop.set()
        if sampler:
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok:
            err.seek(0)
            tail = err.read()[-3000:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(cmd)} (in {cwd}) exited {proc.returncode}:\n{tail}")
    largest = usage.ru_maxrss / 1024
    # the sampler may miss a short peak: the whole tree is never below its largest process
    return ProcessRun(seconds, usage.ru_utime + usage.ru_stime, proc.returncode, largest,
                      max(peak[0] / 2**20, largest) if sampler else None)


def time_process(cmd: Sequence[str], cwd: Path, repeat: int, ok: Sequence[int]) -> Timing:
    timing = Timing([], [])
    for _ in range(repeat):
        run = run_process(cmd, cwd, ok=ok)
        timing.wall.append(run.seconds)
        timing.cpu.append(run.cpu_seconds)
    return timing


# --------------------------------------------------------------------------- floors

def floor_read(files: Sequence[Path]) -> None:
    for path in files:
        read_text(path)


def floor_ast(files: Sequence[Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
                ast.parse(read_text(path))


def floor_libcst(files: Sequence[Path]) -> None:
    for path in files:
        with contextlib.suppress(cst.ParserSyntaxError, RecursionError):
            cst.parse_module(read_text(path))


# --------------------------------------------------------------------------- naive baseline

def _dotted(name: str) -> cst.BaseExpression:
    parts = name.split(".")
    node: cst.BaseExpression = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(node, cst.Name(part))
    return node


def _rebase(source: str, qualified: str, new: str) -> str:
    """Keep the source's own head (an import alias): `th.cuda.x` for `torch.cuda.x` -> `th.npu.x`."""
    src, q = source.split("."), qualified.split(".")
    if len(src) > len(q) or src[1:] != q[len(q) - len(src) + 1:]:
        return new
    head = ".".join(q[: len(q) - len(src) + 1])
    if new == head or new.startswith(head + "."):
        return src[0] + new[len(head):]
    return new


class NaiveRenamer(cst.CSTTransformer):
    """What a straightforward libcst codemod does: scope analysis on every file, then a rename
    of every reference whose qualified name is in the rename set. It does only the renames
    (no strings, arguments, reports), so it does less than portkit."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def __init__(self, renames: dict[str, str], twins: dict[str, str]) -> None:
        super().__init__()
        self.renames, self.twins = renames, twins
        self.changed = 0

    def _new_name(self, node: cst.CSTNode) -> tuple[str, str] | None:
        for qualified in sorted(q.name for q in self.get_metadata(QualifiedNameProvider, node, set())):
            new = self.renames.get(qualified) or self.twins.get(qualified)
            if new is not None:
                return qualified, new
        return None

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        found = self._new_name(original_node)
        source = get_full_name_for_node(original_node)
        if found is None or source is None:
            return updated_node
        self.changed += 1
        replacement = _dotted(_rebase(source, *found))
        return replacement.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        found = self._new_name(original_node)
        if found is None or found[1].rpartition(".")[2] == original_node.value:
            return updated_node
        self.changed += 1
        return updated_node.with_changes(value=found[1].rpartition(".")[2])

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # the names in an import are handled whole in leave_Import

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        names = []
        for alias in updated_node.names:
            dotted = get_full_name_for_node(alias.name)
            if dotted in self.twins:
                self.changed += 1
                alias = alias.with_changes(name=_dotted(self.twins[dotted]))
            names.append(alias)
        return updated_node.with_changes(names=names)

    def leave_ImportFrom(self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom) -> cst.ImportFrom:
        module = get_full_name_for_node(updated_node.module) if updated_node.module is not None else None
        if module in self.twins and not updated_node.relative:
            self.changed += 1
            return updated_node.with_changes(module=_dotted(self.twins[module]))
        return updated_node


def naive_renames() -> tuple[dict[str, str], dict[str, str]]:
    rules = CompiledRules(load_rules().for_target("npu"))
    return ({old: r.new for old, r in rules.renames.items()},
            {old: r.new for old, r in rules.module_twins.items()})


def naive_codemod(files: Sequence[Path], renames: dict[str, str], twins: dict[str, str]) -> int:
    """Run the naive codemod over `files`, one after another; returns how many files it changed."""
    changed = 0
    for path in files:
        text = read_text(path)
        try:
            module = cst.parse_module(text)
        except (cst.ParserSyntaxError, RecursionError):
            continue
        transformer = NaiveRenamer(renames, twins)
        new = MetadataWrapper(module).visit(transformer)
        if transformer.changed and new.code != text:
            changed += 1
    return changed


def time_naive(tree: Tree, repeat: int, limit: float, renames: dict[str, str],
               twins: dict[str, str]) -> dict[str, object]:
    """Time the naive codemod over every file; when a pilot says that would take longer than
    `limit`, time every k-th file (k a power of two, in path order) and scale by line count."""
    files = tree.files
    total = tree.total_lines
    stride = 1
    if len(files) >= 64:
        pilot = files[::32]
        pilot_seconds = best_of(1, lambda: naive_codemod(pilot, renames, twins)).seconds
        estimate = pilot_seconds * total / max(1, sum(tree.lines[f] for f in pilot))
        while estimate / stride > limit and stride < 32:
            stride *= 2
        log(f"naive pilot: {pilot_seconds:.1f} s on {len(pilot)} files, full run ≈ {estimate:.0f} s -> stride {stride}")
    sample = files[::stride]
    sample_lines = sum(tree.lines[f] for f in sample)
    timing = best_of(repeat, lambda: naive_codemod(sample, renames, twins))
    scale = total / max(1, sample_lines)
    return {
        "seconds": timing.seconds * scale,
        "cpu_seconds": timing.cpu_seconds * scale,
        "measured_seconds": timing.seconds,
        "runs": timing.wall,
        "cpu_runs": timing.cpu,
        "extrapolated": stride > 1,
        "sample_files": len(sample),
        "sample_lines": sample_lines,
        "stride": stride,
    }


# --------------------------------------------------------------------------- one corpus

def _has_check_cache() -> bool:
    done = subprocess.run([*PORTKIT, "check", "--help"], capture_output=True, text=True)
    return "--no-cache" in done.stdout


def _changed_files(report: Path, root: Path) -> tuple[list[Path], int]:
    data = json.loads(report.read_text(encoding="utf-8"))
    changed = [root / f["path"] for f in data["files"] if f["status"] == "changed"]
    return changed, data["summary"]["files_failed"]


def bench_corpus(name: str, tree: Tree, args: argparse.Namespace, jobs: int, cache_flag: bool,
                 scratch: Path) -> dict[str, object]:
    root = tree.root
    repeat = args.repeat or (1 if args.quick or tree.total_lines >= 100_000 else 3)
    common = ["--no-config"]
    result: dict[str, object] = {"root": str(root), "files": len(tree.files), "lines": tree.total_lines,
                                 "repeat": repeat, "load_before": os.getloadavg()[0]}

    # the ported tree (and which files need change): once, untimed; it also warms the page cache
    ported = scratch / f"{name}-ported"
    report = scratch / f"{name}-report.json"
    log(f"{name}: {len(tree.files)} files, {tree.total_lines} lines; making the ported copy")
    run_process([*PORTKIT, "migrate", ".", "--output", str(ported), "--report", str(report),
                 "-j", str(jobs), *common], root, ok=(0, 1))
    changed, failed = _changed_files(report, root)
    result.update(needing_change=len(changed), failed=failed,
                  needing_change_lines=sum(tree.lines.get(p, 0) for p in changed))

    times: dict[str, object] = {}
    result["times"] = times

    def record(key: str, timing: Timing) -> None:
        times[key] = timing.as_json()
        log(f"{name}: {key} {timing.seconds:.2f} s (cpu {timing.cpu_seconds:.2f} s)")

    record("startup", time_process([*PORTKIT, "--help"], root, repeat, (0,)))
    record("read", best_of(repeat, lambda: floor_read(tree.files)))
    record("ast_parse", best_of(repeat, lambda: floor_ast(tree.files)))
    record("libcst_parse_changed", best_of(repeat, lambda: floor_libcst(changed)))

    no_cache = ["--no-cache"] if cache_flag else []
    for j in sorted({1, jobs}):
        record(f"migrate_diff_j{j}", time_process(
            [*PORTKIT, "migrate", "--diff", ".", "-j", str(j), *common], root, repeat, (0, 1)))
        record(f"check_unported_j{j}", time_process(
            [*PORTKIT, "check", ".", "-j", str(j), *common, *no_cache], root, repeat, (0, 1, 2)))
        record(f"check_ported_j{j}", time_process(
            [*PORTKIT, "check", ".", "-j", str(j), *common, *no_cache], ported, repeat, (0, 1, 2)))
        record(f"analyze_j{j}", time_process([*PORTKIT, "analyze", ".", "-j", str(j), *common], root, repeat, (0, 1, 2)))
    if cache_flag:
        run_process([*PORTKIT, "check", ".", "-j", str(jobs), *common], ported, ok=(0, 1, 2))  # fills the cache
        record("check_warm", time_process([*PORTKIT, "check", ".", "-j", str(jobs), *common], ported, repeat,
                                          (0, 1, 2)))

    log(f"{name}: naive codemod (limit {args.naive_limit:.0f} s)")
    naive = time_naive(tree, repeat, args.naive_limit, *args.rename_set)
    times["naive"] = naive
    log(f"{name}: naive {naive['seconds']:.1f} s (cpu {naive['cpu_seconds']:.1f} s)"
        f"{' (extrapolated)' if naive['extrapolated'] else ''}")

    memory = run_process([*PORTKIT, "migrate", "--diff", ".", "-j", "2", *common], root, ok=(0, 1), sample_rss=True)
    result["memory_j2"] = {"tree_peak_mb": memory.tree_peak_mb, "max_process_mb": memory.max_rss_mb}
    log(f"{name}: peak RSS -j 2 {memory.tree_peak_mb or memory.max_rss_mb:.0f} MB")
    result["ratios"] = ratios(result)
    result["ratios_cpu"] = ratios(result, "cpu_seconds")
    return result


def ratios(result: dict, clock: str = "seconds") -> dict[str, float | None]:
    """The targets' figures, on wall time (`seconds`) or on CPU time (`cpu_seconds`)."""
    t = {k: v[clock] for k, v in result["times"].items()}

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    memory = result["memory_j2"]
    return {
        "naive_over_migrate": div(t.get("naive"), t.get("migrate_diff_j1")),
        "migrate_over_libcst": div(t.get("migrate_diff_j1"), t.get("libcst_parse_changed"))
        if result["needing_change"] else None,
        "check_ported_over_ast": div(t.get("check_ported_j1"), t.get("ast_parse")),
        "check_over_migrate": div(t.get("check_unported_j1"), t.get("migrate_diff_j1")),
        "analyze_over_check": div(t.get("analyze_j1"), t.get("check_unported_j1")),
        "warm_s_per_mloc": div(t.get("check_warm"), result["lines"] / 1e6),
        "peak_rss_mb": memory["tree_peak_mb"] if memory["tree_peak_mb"] is not None else memory["max_process_mb"],
    }


# --------------------------------------------------------------------------- output

def machine() -> dict[str, object]:
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    location = Path(portkit.__file__).resolve().parent
    commit = ""
    if REPO in location.parents:  # an editable install of this checkout
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip()
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libcst": metadata.version("libcst"),
        "portkit": metadata.version("portkit"),
        "portkit_commit": commit or None,
        "portkit_location": str(location),
    }


def _secs(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _timing_cell(entry: dict | None) -> str:
    if entry is None:
        return "n/a"
    cell = f"{_secs(entry['seconds'])} s (cpu {_secs(entry['cpu_seconds'])})"
    if entry.get("extrapolated"):
        cell = f"~{cell}, extrapolated from 1 file in {entry['stride']} ({_secs(entry['measured_seconds'])} s)"
    return cell


def _rows(results: dict[str, dict], jobs: int) -> Iterator[tuple[str, list[str]]]:
    def time_row(label: str, key: str) -> tuple[str, list[str]]:
        return label, [_timing_cell(r["times"].get(key)) for r in results.values()]

    yield "files (.py)", [f"{r['files']:,}" for r in results.values()]
    yield "lines", [f"{r['lines']:,}" for r in results.values()]
    yield "files needing change", [f"{r['needing_change']:,} ({r['needing_change_lines']:,} lines)"
                                   for r in results.values()]
    yield "files portkit could not migrate", [str(r["failed"]) for r in results.values()]
    yield "repeats (best of)", [str(r["repeat"]) for r in results.values()]
    yield "load average before", [f"{r['load_before']:.1f}" for r in results.values()]
    yield time_row("floor: interpreter + `portkit --help`", "startup")
    yield time_row("floor: read every file", "read")
    yield time_row("floor: read + `ast.parse` every file", "ast_parse")
    yield time_row("floor: read + `libcst.parse_module` files needing change", "libcst_parse_changed")
    yield time_row("`migrate --diff` -j 1", "migrate_diff_j1")
    if jobs != 1:
        yield time_row(f"`migrate --diff` -j {jobs}", f"migrate_diff_j{jobs}")
    yield time_row("`check` unported -j 1", "check_unported_j1")
    if jobs != 1:
        yield time_row(f"`check` unported -j {jobs}", f"check_unported_j{jobs}")
    yield time_row("`check` ported -j 1", "check_ported_j1")
    if jobs != 1:
        yield time_row(f"`check` ported -j {jobs}", f"check_ported_j{jobs}")
    yield time_row(f"`check` ported, warm re-check -j {jobs}", "check_warm")
    yield time_row("naive libcst codemod (QualifiedNameProvider), in-process -j 1", "naive")
    yield "peak RSS `migrate --diff -j 2`: all processes / largest one", [
        f"{r['memory_j2']['tree_peak_mb']:.0f} MB / {r['memory_j2']['max_process_mb']:.0f} MB"
        if r["memory_j2"]["tree_peak_mb"] is not None else f"n/a / {r['memory_j2']['max_process_mb']:.0f} MB"
        for r in results.values()]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(key: str, value: float | None, passes: Callable[[float], bool]) -> str:
    if value is None:
        return "n/a"
    shown = f"{value:.0f} MB" if key == "peak_rss_mb" else f"{value:.2f} s" if key == "warm_s_per_mloc" \
        else f"{value:.2f}×"
    return f"{shown} {'PASS' if passes(value) else 'MISS'}"


def render(results: dict[str, dict], info: dict[str, object], jobs: int, quick: bool) -> str:
    out = [f"## portkit benchmark{' (--quick sample)' if quick else ''}", ""]
    out.append(f"Machine: {info['cores']} cores ({info['cpu'] or 'unknown CPU'}), {info['memory_gb']} GB, "
               f"{info['platform']}; Python {info['python']}, libcst {info['libcst']}, "
               f"portkit {info['portkit']} ({info['portkit_commit'] or info['portkit_location']}). Times: wall seconds, best of the "
               "repeats (CPU seconds, user + system, in brackets).")
    out.append("")
    out.append(_table(["", *results], [[label, *cells] for label, cells in _rows(results, jobs)]))
    out.append("")
    rows = []
    for key, label, target, passes in TARGETS:
        cells = []
        for r in results.values():
            wall, cpu = r["ratios"][key], r["ratios_cpu"][key]
            approx = "~" if key == "naive_over_migrate" and r["times"]["naive"]["extrapolated"] else ""
            cell = approx + _verdict(key, wall, passes)
            if key != "peak_rss_mb" and cpu is not None:
                cell += f" (cpu {approx}{_verdict(key, cpu, passes)})"
            cells.append(cell)
        rows.append([label, target, *cells])
    out.append(_table(["target (wall time; on CPU time in brackets)", "goal", *results], rows))
    return "\n".join(out) + "\n"


def render_saved(paths: Sequence[Path]) -> str:
    """The tables of earlier runs (--json files), merged; the machine and job count of the first."""
    saved = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    results = {name: r for data in saved for name, r in data["corpora"].items()}
    return render(results, saved[0]["machine"], saved[0]["jobs"], any(d["quick"] for d in saved))


# --------------------------------------------------------------------------- main

def choose_corpora(names: Sequence[str]) -> list[Corpus]:
    if not names:
        return list(DEFAULT_CORPORA)
    chosen = []
    for name in names:
        base, _, version = name.partition("==")
        matches = [c for c in DEFAULT_CORPORA if c.name == base] or \
                  [c for c in DEFAULT_CORPORA if c.name.startswith(base)]
        if matches:
            corpus = matches[0]
            chosen.append(Corpus(corpus.name, version or corpus.version, corpus.sdist))
        elif version:
            chosen.append(Corpus(base, version))
        else:
            raise SystemExit(f"bench: unknown corpus '{name}' (known: "
                             f"{', '.join(c.name for c in DEFAULT_CORPORA)}; or give NAME==VERSION)")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", default=[], metavar="NAME[==VERSION]",
                        help="only this corpus (repeatable); default: " + ", ".join(c.label for c in DEFAULT_CORPORA))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "portkit" / "corpora",
                        help="where sources are downloaded and unpacked (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="best of N for every timing (default: 3 below 100k lines, else 1; 1 with --quick)")
    parser.add_argument("--naive-limit", type=float, default=600.0,
                        help="seconds the naive codemod may take on a corpus before it is sampled and "
                             "extrapolated (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a small sample of each corpus")
    parser.add_argument("--quick-files", type=int, default=24, help="files per corpus with --quick")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="the 'all cores' job count (default: all)")
    parser.add_argument("--from-json", type=Path, action="append", default=[], metavar="FILE",
                        help="measure nothing: print the tables of earlier --json files, their corpora side by side")
    args = parser.parse_args(argv)
    if args.from_json:
        print(render_saved(args.from_json))
        return 0

    cache = args.cache.expanduser().resolve()
    if cache == REPO or REPO in cache.parents:
        parser.error("--cache must be outside the repository")
    cache.mkdir(parents=True, exist_ok=True)
    jobs = args.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    info = machine()
    args.rename_set = naive_renames()  # now: rule files edited during a long run cannot change it
    cache_flag = _has_check_cache()
    log(f"machine: {info}; check cache: {'yes' if cache_flag else 'no (warm re-check n/a)'}")

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="portkit-bench-") as tmp:
        scratch = Path(tmp)
        for corpus in choose_corpora(args.corpus):
            tree = inventory(fetch(corpus, cache))
            if args.quick:
                tree = quick_sample(tree, args.quick_files, scratch / "quick" / corpus.label)
            results[corpus.label] = bench_corpus(corpus.label, tree, args, jobs, cache_flag, scratch)

    text = render(results, info, jobs, args.quick)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "jobs": jobs, "quick": args.quick,
                                         "check_cache": cache_flag, "corpora": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
