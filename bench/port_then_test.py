#!/usr/bin/env python3
"""Port-then-test: port real projects with portkit and run their own CPU tests before and after
(a regression report, not a test: CI never runs it; it exits 0 unless the harness itself failed).

    python bench/port_then_test.py                                  # ignite, accelerate, lightning; npu + accelerator
    python bench/port_then_test.py --projects ignite --targets npu --json ptt.json

For every project it fetches a pinned release once (`pip download --no-deps --no-binary :all:`
into <workdir>/downloads; Lightning's sdist ships no tests, so its tests come from the git tag of
the same release), makes a venv for its test dependencies once (--system-site-packages, with
`torch==<installed>` as a constraint, so the installed CPU torch is the one used), then for each
bounded test selection ("suite") runs pytest four times:

    baseline     the library as released
    control      the same, with portkit's CPU stand-in for torch_npu importable (must equal baseline)
    npu          the library ported with `portkit migrate --output`, stand-in importable
    accelerator  the library ported with `portkit migrate --target accelerator --output`

The tests themselves are never ported. Each run sees only its own copy of the library (first on
PYTHONPATH; a pytest plugin writes the imported module's __file__ and where `torch_npu` resolves
into the run log, and the harness checks both). A regression is a test that passed in baseline
and fails (or errors) after the port; bench/README.md tells how to read them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RUNS = ("baseline", "control", "npu", "accelerator")
TARGET_RUNS = ("npu", "accelerator")
STUB_RUNS = ("control", "npu")  # runs with the stand-in torch_npu importable
DEFAULT_WORKDIR = Path("~/.cache/portkit/port-then-test").expanduser()
# what every test run sees besides the caller's environment: CPU only, offline, no torch_npu autoload
RUN_ENV = {
    "CUDA_VISIBLE_DEVICES": "", "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1", "WANDB_MODE": "disabled", "NO_COLOR": "1",
}


@dataclass(frozen=True)
class Suite:
    name: str
    selection: tuple[str, ...]  # pytest paths / node ids, relative to the test tree
    deselect: tuple[str, ...] = ()  # node ids that hang or need the network in every run


@dataclass(frozen=True)
class Project:
    name: str
    dist: str  # PyPI name
    version: str
    src_root: str  # folder of the unpacked sdist that holds the packages ("" or "src")
    packages: tuple[str, ...]  # top-level packages that get ported
    deps: tuple[str, ...]  # runtime and test dependencies (torch excluded: the installed one is used)
    suites: tuple[Suite, ...]
    tests_git: tuple[str, str] | None = None  # (repository URL, tag) when the sdist ships no tests
    tree_files: tuple[str, ...] = ("tests", "pyproject.toml", "setup.cfg", "conftest.py")
    pytest_args: tuple[str, ...] = ()


PROJECTS: dict[str, Project] = {
    "ignite": Project(
        name="ignite", dist="pytorch-ignite", version="0.5.5", src_root="", packages=("ignite",),
        deps=("packaging", "pytest-timeout", "pytest-xdist", "pytest-order", "dill", "filelock", "scikit-learn"),
        suites=(Suite("ignite", (
            "tests/ignite/engine", "tests/ignite/test_utils.py", "tests/ignite/distributed",
            "tests/ignite/handlers/test_checkpoint.py", "tests/ignite/handlers/test_early_stopping.py",
            "tests/ignite/handlers/test_timing.py", "tests/ignite/metrics/test_accuracy.py",
            "tests/ignite/metrics/test_loss.py", "tests/ignite/metrics/test_metric.py",
        )),),
    ),
    "accelerate": Project(
        name="accelerate", dist="accelerate", version="1.16.0", src_root="src", packages=("accelerate",),
        deps=("numpy", "packaging", "psutil", "pyyaml", "huggingface_hub>=0.21.0", "safetensors>=0.4.3",
              "pytest-timeout", "pytest-order", "parameterized"),
        suites=(Suite("accelerate", (
            "tests/test_utils.py", "tests/test_state_checkpointing.py", "tests/test_data_loader.py",
            "tests/test_kwargs_handlers.py", "tests/test_modeling_utils.py", "tests/test_grad_sync.py",
            "tests/test_memory_utils.py", "tests/test_optimizer.py", "tests/test_scheduler.py",
            "tests/test_hooks.py", "tests/test_offload.py", "tests/test_accelerator.py", "tests/test_cpu.py",
            "tests/test_dataclasses.py", "tests/test_metrics.py", "tests/test_multidevice.py",
        )),),
    ),
    "lightning": Project(
        name="lightning", dist="lightning", version="2.6.5", src_root="src", packages=("lightning",),
        deps=("lightning-utilities>=0.10.0", "torchmetrics>=0.7.0", "fsspec", "pyyaml", "tqdm", "packaging",
              "typing-extensions", "pytest-timeout", "pytest-rerunfailures", "cloudpickle", "scikit-learn",
              "psutil", "tensorboardX", "pandas"),
        tests_git=("https://github.com/Lightning-AI/pytorch-lightning.git", "2.6.5"),
        suites=(
            Suite("fabric", (
                "tests/tests_fabric/accelerators", "tests/tests_fabric/test_connector.py",
                "tests/tests_fabric/plugins/precision/test_amp.py",
                "tests/tests_fabric/plugins/precision/test_amp_integration.py",
                "tests/tests_fabric/plugins/precision/test_all.py",
                "tests/tests_fabric/plugins/precision/test_half.py",
                "tests/tests_fabric/plugins/precision/test_double.py",
                "tests/tests_fabric/strategies/test_single_device.py", "tests/tests_fabric/strategies/test_ddp.py",
                "tests/tests_fabric/strategies/test_dp.py", "tests/tests_fabric/strategies/test_strategy.py",
                "tests/tests_fabric/utilities/test_device_parser.py", "tests/tests_fabric/utilities/test_distributed.py",
                "tests/tests_fabric/utilities/test_seed.py", "tests/tests_fabric/utilities/test_apply_func.py",
                "tests/tests_fabric/utilities/test_device_dtype_mixin.py",
                "tests/tests_fabric/utilities/test_throughput.py",
            )),
            Suite("trainer", (
                "tests/tests_pytorch/accelerators", "tests/tests_pytorch/trainer/connectors",
                "tests/tests_pytorch/plugins/precision/test_amp.py", "tests/tests_pytorch/plugins/precision/test_all.py",
                "tests/tests_pytorch/plugins/precision/test_half.py", "tests/tests_pytorch/models/test_amp.py",
                "tests/tests_pytorch/models/test_gpu.py", "tests/tests_pytorch/strategies/test_ddp.py",
                "tests/tests_pytorch/strategies/test_single_device.py", "tests/tests_pytorch/utilities/test_memory.py",
                "tests/tests_pytorch/utilities/test_seed.py", "tests/tests_pytorch/callbacks/test_device_stats_monitor.py",
                "tests/tests_pytorch/callbacks/test_throughput_monitor.py",
            )),
        ),
        tree_files=("tests", "pyproject.toml"),
    ),
}


class HarnessError(RuntimeError):
    """The harness itself failed (download, venv, port, or a run that did not see its own copy)."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd: Sequence[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None,
       what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{what}: took more than {timeout:.0f} s") from None
    if done.returncode:
        raise HarnessError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


# ---------------------------------------------------------------- fetching and unpacking


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def fetch_sdist(p: Project, workdir: Path) -> Path:
    """The unpacked sdist <workdir>/src/<dist>-<version>/ (downloaded and unpacked once)."""
    target = workdir / "src" / f"{_norm(p.dist)}-{p.version}"
    if (target / ".complete").exists():
        return target
    downloads = workdir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = None
    for f in sorted(downloads.iterdir()):
        m = re.match(r"(.+)-([^-]+?)\.(tar\.gz|zip)$", f.name)
        if m and _norm(m[1]) == _norm(p.dist) and m[2] == p.version:
            archive = f
    if archive is None:
        log(f"[{p.name}] pip download {p.dist}=={p.version} (sdist)")
        sh([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
            "-d", str(downloads), f"{p.dist}=={p.version}"], timeout=900, what=f"pip download {p.dist}")
        return fetch_sdist(p, workdir)
    if target.exists():
        shutil.rmtree(target)
    tmp = target.with_name(target.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archive) as t:
        if hasattr(tarfile, "data_filter"):
            t.extractall(tmp, filter="data")
        else:
            t.extractall(tmp)
    (top,) = list(tmp.iterdir())  # an sdist has one top folder
    top.rename(target)
    tmp.rmdir()
    (target / ".complete").write_text(archive.name)
    return target


def fetch_git_tests(p: Project, workdir: Path, git_source: str | None) -> Path:
    """<workdir>/git/<name>-<tag>/ with the tests of tag (for sdists that ship none): from a
    local clone or mirror (--git NAME=DIR, `git archive`) or a shallow clone of the repository."""
    assert p.tests_git is not None
    url, tag = p.tests_git
    target = workdir / "git" / f"{p.name}-{tag}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    paths = [f for f in p.tree_files]
    if git_source and Path(git_source).exists():
        gitdir = Path(git_source)
        gitdir = gitdir / ".git" if (gitdir / ".git").exists() else gitdir
        log(f"[{p.name}] git archive {tag} from {gitdir}")
        archive = subprocess.run(["git", f"--git-dir={gitdir}", "archive", "--format=tar", tag, *paths],
                                 capture_output=True, timeout=600)
        if archive.returncode:
            raise HarnessError(f"git archive {tag} in {gitdir} failed: {archive.stderr.decode()[-2000:]}")
        subprocess.run(["tar", "x", "-C", str(target)], input=archive.stdout, check=True, timeout=600)
    else:
        log(f"[{p.name}] git clone --depth 1 --branch {tag} {git_source or url}")
        clone = target.with_name(target.name + ".clone")
        shutil.rmtree(clone, ignore_errors=True)
        sh(["git", "clone", "-q", "--depth", "1", "--branch", tag, git_source or url, str(clone)],
           timeout=1800, what=f"git clone {git_source or url}")
        for f in paths:
            if (clone / f).is_dir():
                shutil.copytree(clone / f, target / f)
            elif (clone / f).exists():
                shutil.copy2(clone / f, target / f)
        shutil.rmtree(clone, ignore_errors=True)
    (target / ".complete").write_text(tag)
    return target


# ---------------------------------------------------------------- venvs


def ensure_venv(p: Project, workdir: Path) -> Path:
    """<workdir>/venvs/<name>: --system-site-packages (the installed torch), the project's
    dependencies installed once with the installed torch pinned as a constraint."""
    import torch  # the torch every run must use

    venv = workdir / "venvs" / p.name
    python = venv / "bin" / "python"
    torch_pin = f"torch=={torch.__version__.split('+')[0]}"
    stamp_text = json.dumps([sys.version, torch_pin, list(p.deps)])
    stamp = venv / ".portkit-deps"
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python
    log(f"[{p.name}] venv {venv} (pip install {' '.join(p.deps)})")
    shutil.rmtree(venv, ignore_errors=True)
    sh([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], timeout=600, what="python -m venv")
    constraints = venv / "constraints.txt"
    constraints.write_text(torch_pin + "\n")
    sh([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(constraints), *p.deps],
       timeout=1800, what=f"pip install ({p.name} test dependencies)")
    probe = sh([str(python), "-c", "import torch; print(torch.__version__, torch.__file__)"], timeout=300,
               what="torch in the venv")
    if probe.stdout.split()[0] != torch.__version__:
        raise HarnessError(f"the venv of {p.name} has torch {probe.stdout.strip()}, not {torch.__version__}")
    stamp.write_text(stamp_text)
    return python


# ---------------------------------------------------------------- trees


def stub_dir() -> Path:
    """The folder whose torch_npu package is portkit's CPU stand-in (what `portkit trace` uses)."""
    spec = importlib.util.find_spec("portkit.pipeline.trace")
    if spec is None or spec.origin is None:
        raise HarnessError("portkit is not importable: pip install -e .")
    stub = Path(spec.origin).with_name("npu_stub")
    if not (stub / "torch_npu" / "__init__.py").exists():
        raise HarnessError(f"no stand-in at {stub}")
    return stub


def make_test_tree(p: Project, sdist: Path, tests_root: Path, workdir: Path) -> Path:
    """<workdir>/trees/<name>/tests: the tests and pytest configuration, without the library (so
    pytest's rootdir insertion can never put the unported package ahead of the run's copy)."""
    tree = workdir / "trees" / p.name / "tests"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    for f in p.tree_files:
        source = tests_root / f
        if source.is_dir():
            shutil.copytree(source, tree / f)
        elif source.exists():
            shutil.copy2(source, tree / f)
    for pkg in p.packages:
        if (tree / pkg).exists():
            raise HarnessError(f"the test tree of {p.name} holds the package {pkg}")
    return tree


def _dist_info(p: Project, sdist: Path, lib: Path) -> None:
    """A minimal <dist>-<version>.dist-info beside the packages, so importlib.metadata sees the
    library as installed (version checks, entry points) in every run alike."""
    info = lib / f"{_norm(p.dist)}-{p.version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    pkg_info = sdist / "PKG-INFO"
    (info / "METADATA").write_text(pkg_info.read_text(encoding="utf-8", errors="replace") if pkg_info.exists()
                                   else f"Metadata-Version: 2.1\nName: {p.dist}\nVersion: {p.version}\n")
    for egg in (sdist / p.src_root).glob("*.egg-info"):
        for name in ("entry_points.txt", "top_level.txt"):
            if (egg / name).exists():
                shutil.copy2(egg / name, info / name)
    (info / "INSTALLER").write_text("port_then_test\n")
    (info / "RECORD").write_text("")


def make_lib(p: Project, sdist: Path, run: str, workdir: Path, jobs: int, timeout: float) -> tuple[Path, dict]:
    """<workdir>/trees/<name>/lib-<run>/: the packages as released (baseline, control) or ported
    (npu, accelerator) with `portkit migrate --output`, rebuilt on every invocation. In the runs
    with the stand-in (control, npu) a symlink lib-<run>/torch_npu -> portkit's stand-in sits
    beside them: tests that start subprocesses with PYTHONPATH set to the library's folder (ignite's
    launcher tests do) see it too."""
    lib = workdir / "trees" / p.name / f"lib-{run}"
    info: dict = {"lib": str(lib)}
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    for pkg in p.packages:
        source = sdist / p.src_root / pkg
        if run not in TARGET_RUNS:
            shutil.copytree(source, lib / pkg)
            continue
        report = workdir / "trees" / p.name / f"migrate-{run}-{pkg}.json"
        cmd = [sys.executable, "-m", "portkit", "migrate", str(source), "--output", str(lib / pkg), "--no-config",
               "--report", str(report), "-j", str(jobs)]
        if run == "accelerator":
            cmd += ["--target", "accelerator"]
        log(f"[{p.name}] portkit migrate {pkg} --target {run}")
        started = time.monotonic()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"portkit migrate {pkg} ({run}) took more than {timeout:.0f} s") from None
        info["migrate_seconds"] = round(time.monotonic() - started, 1)
        info["migrate_exit"] = done.returncode
        (lib.parent / f"migrate-{run}-{pkg}.log").write_text(done.stdout + done.stderr)
        if done.returncode not in (0, 1) or not (lib / pkg).is_dir():
            raise HarnessError(f"portkit migrate {pkg} ({run}) exited {done.returncode}:\n{done.stderr[-3000:]}")
        info.update(_migrate_summary(report))
    if run in STUB_RUNS:
        (lib / "torch_npu").symlink_to(stub_dir() / "torch_npu", target_is_directory=True)
    _dist_info(p, sdist, lib)
    return lib, info


def _migrate_summary(report: Path) -> dict:
    """Files changed / failed from migrate's JSON report, when it has them."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return {}
    summary = data.get("summary", {})
    keys = ("files_scanned", "files_changed", "files_failed", "changes", "manual_items")
    return {k: summary[k] for k in keys if k in summary}


# ---------------------------------------------------------------- running pytest

PROBE_PLUGIN = '''\
"""Loaded by port_then_test.py into every pytest run (-p ptt_probe): writes which copy of the
library was imported and where `import torch_npu` resolves to, at the start and the end."""
import importlib, importlib.util, json, os, sys

def _where():
    out = {}
    for name in os.environ["PTT_PACKAGES"].split(","):
        out[name] = getattr(importlib.import_module(name), "__file__", None)
    spec = importlib.util.find_spec("torch_npu")
    out["torch_npu (resolves to)"] = spec.origin if spec else None
    mod = sys.modules.get("torch_npu")
    out["torch_npu (imported)"] = getattr(mod, "__file__", None) if mod else None
    return out

def pytest_sessionstart(session):
    where = _where()
    print("\\nport_then_test probe (start): " + json.dumps(where), flush=True)
    with open(os.environ["PTT_PROBE"], "w") as f:
        json.dump({"start": where}, f)

def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["PTT_PROBE"]) as f:
        data = json.load(f)
    data["end"] = _where()
    print("\\nport_then_test probe (end): " + json.dumps(data["end"]), flush=True)
    with open(os.environ["PTT_PROBE"], "w") as f:
        json.dump(data, f)
'''


@dataclass
class RunResult:
    project: str
    suite: str
    run: str
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> passed/failed/error/skipped
    first_lines: dict[str, str] = field(default_factory=dict)  # test id -> first line of the failure
    where: dict[str, str] = field(default_factory=dict)  # test id -> last "file:line: ..." of the report
    seconds: float = 0.0
    exit_code: int | None = None
    note: str = ""  # "timeout", "no junit", ...
    probe: dict = field(default_factory=dict)
    log: str = ""
    alone: dict[str, str] = field(default_factory=dict)  # regression -> its outcome when run by itself

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)


_LOCATION = re.compile(r"^(\S+?\.py):(\d+): (\S.*)$")


def node_id(classname: str, name: str, file: str | None) -> str:
    """pytest's node id (path::Class::name) from a junit xunit1 testcase."""
    if file and file.endswith(".py"):
        module = file[:-3].replace("/", ".")
        if classname == module or classname.startswith(module + "."):
            classes = classname[len(module):].strip(".")
            return "::".join([file, *classes.split(".")] if classes else [file]) + f"::{name}"
    return f"{classname}::{name}" if classname else name


def parse_junit(path: Path, result: RunResult) -> None:
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        tid = node_id(case.get("classname", ""), case.get("name", ""), case.get("file"))
        outcome, first, where = "passed", "", ""
        for child in case:
            tag = child.tag
            if tag in ("failure", "error", "skipped"):
                if tag == "error" and outcome == "failed":
                    continue  # a failed test whose teardown also errored stays "failed"
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = child.get("message") or ""
                text = child.text or ""
                first = next((ln.strip() for ln in (message or text).splitlines() if ln.strip()), "")
                locs = [m for m in map(_LOCATION.match, text.splitlines()) if m]
                where = f"{locs[-1].group(1)}:{locs[-1].group(2)}: {locs[-1].group(3)}" if locs else ""
                if tag != "skipped":
                    # the exception line itself ("E   RuntimeError: ...") is more telling than pytest's message
                    e_lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ") and ln[1:].strip()]
                    if e_lines and not first:
                        first = e_lines[0]
        if tid in result.outcomes and result.outcomes[tid] != "passed" and outcome == "passed":
            continue  # a duplicate id (rerun plugins): keep the bad outcome
        result.outcomes[tid] = outcome
        if outcome in ("failed", "error"):
            result.first_lines[tid] = first[:300]
            result.where[tid] = where[:300]


def run_pytest(p: Project, suite: Suite, run: str, python: Path, tree: Path, lib: Path, workdir: Path,
               per_test: float, per_run: float, only: Sequence[str] = ()) -> RunResult:
    """One pytest run of the suite (or, with `only`, of just these node ids: label <run>-alone)."""
    label = f"{run}-alone" if only else run
    out = workdir / "runs" / p.name / suite.name
    out.mkdir(parents=True, exist_ok=True)
    junit, probe, logfile = out / f"{label}.xml", out / f"{label}.probe.json", out / f"{label}.log"
    for f in (junit, probe):
        f.unlink(missing_ok=True)
    plugin_dir = workdir / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "ptt_probe.py").write_text(PROBE_PLUGIN)
    path = [str(lib), str(plugin_dir)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(RUN_ENV)
    env.update({"PYTHONPATH": os.pathsep.join(path), "PTT_PROBE": str(probe), "PTT_PACKAGES": ",".join(p.packages),
                "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}"})
    cmd = [str(python), "-m", "pytest", *(only or suite.selection), "-p", "no:cacheprovider", "-p", "ptt_probe", "-q",
           "--color=no", "-rfE", "--continue-on-collection-errors", f"--junitxml={junit}", "-o", "junit_family=xunit1", f"--timeout={per_test:.0f}",
           *p.pytest_args, *(f"--deselect={d}" for d in suite.deselect)]
    result = RunResult(p.name, suite.name, label, log=str(logfile))
    started = time.monotonic()
    with open(logfile, "w") as fh:
        fh.write(f"$ cd {tree}\n$ PYTHONPATH={env['PYTHONPATH']} {' '.join(cmd)}\n\n")
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            result.exit_code = proc.wait(timeout=per_run)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the run's own process group (pytest and the workers it spawned)
            proc.wait()
            result.note = f"timeout after {per_run:.0f} s"
    result.seconds = round(time.monotonic() - started, 1)
    if junit.exists():
        try:
            parse_junit(junit, result)
        except ET.ParseError as e:
            result.note = (result.note + "; " if result.note else "") + f"bad junit xml: {e}"
    else:
        result.note = (result.note + "; " if result.note else "") + "no junit xml (see the log)"
    if probe.exists():
        result.probe = json.loads(probe.read_text())
    check_probe(p, run, lib, result)
    return result


def check_probe(p: Project, run: str, lib: Path, result: RunResult) -> None:
    """Every run must have imported its own copy, and torch_npu must resolve to the stand-in
    exactly where it is meant to be importable."""
    start = result.probe.get("start")
    if not start:
        if result.outcomes:
            raise HarnessError(f"{p.name}/{result.suite}/{run}: the probe plugin wrote nothing ({result.log})")
        return  # pytest died before the session started: reported as a failed run, not a harness error
    for pkg in p.packages:
        got = start.get(pkg) or ""
        if not Path(got).resolve().is_relative_to(lib.resolve()):
            raise HarnessError(f"{p.name}/{result.suite}/{run}: imported {pkg} from {got}, not from {lib}")
    npu = start.get("torch_npu (resolves to)")
    stub = stub_dir()
    if run in STUB_RUNS:
        if not npu or not Path(npu).resolve().is_relative_to(stub.resolve()):
            raise HarnessError(f"{p.name}/{result.suite}/{run}: torch_npu resolves to {npu}, not the stand-in {stub}")
    elif npu:
        raise HarnessError(f"{p.name}/{result.suite}/{run}: torch_npu is importable ({npu}); it must not be")


# ---------------------------------------------------------------- report


def regressions(base: RunResult, after: RunResult) -> list[str]:
    """Tests that passed in baseline and failed or errored after (or vanished: collection error)."""
    out = []
    for tid, outcome in base.outcomes.items():
        if outcome == "passed" and after.outcomes.get(tid, "missing") in ("failed", "error", "missing"):
            out.append(tid)
    # collection errors of modules whose tests passed in baseline appear as new error ids
    for tid, outcome in after.outcomes.items():
        if outcome == "error" and tid not in base.outcomes:
            out.append(tid)
    return sorted(out)


def group_regressions(r: RunResult, regs: list[str]) -> list[tuple[tuple[str, str], list[str]]]:
    """Regressions grouped by where they failed (the last file:line of the report) and how."""
    groups: dict[tuple[str, str], list[str]] = {}
    for t in regs:
        where = r.where.get(t, "")
        line = r.first_lines.get(t, "") or r.outcomes.get(t, "missing")
        line = re.sub(r"/tmp/\S+|0x[0-9a-f]+", "…", line)
        groups.setdefault((where, line if not where else re.sub(r"\[.*?\]|'[^']*'", "…", line)), []).append(t)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def fixed(base: RunResult, after: RunResult) -> list[str]:
    return sorted(t for t, o in base.outcomes.items() if o in ("failed", "error") and after.outcomes.get(t) == "passed")


def report(results: dict[tuple[str, str, str], RunResult], ports: dict, out=sys.stdout) -> dict:
    suites = sorted({(p, s) for p, s, _ in results}, key=lambda k: (list(PROJECTS).index(k[0]), k[1]))
    summary: dict = {"suites": []}
    print("\n## Port-then-test\n", file=out)
    print("| project / suite | run | passed | failed | errors | skipped | total | regressions | fixed | seconds | note |",
          file=out)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|", file=out)
    for proj, suite in suites:
        base = results.get((proj, suite, "baseline"))
        for run in RUNS:
            r = results.get((proj, suite, run))
            if r is None:
                continue
            regs = regressions(base, r) if base and run != "baseline" else []
            fx = fixed(base, r) if base and run != "baseline" else []
            print(f"| {proj} / {suite} | {run} | {r.count('passed')} | {r.count('failed')} | {r.count('error')} "
                  f"| {r.count('skipped')} | {len(r.outcomes)} | {len(regs) if run != 'baseline' else ''} "
                  f"| {len(fx) if run != 'baseline' else ''} | {r.seconds:.0f} | {r.note} |", file=out)
    for proj, suite in suites:
        base = results.get((proj, suite, "baseline"))
        entry: dict = {"project": proj, "suite": suite, "runs": {}}
        for run in RUNS:
            r = results.get((proj, suite, run))
            if r is None:
                continue
            regs = regressions(base, r) if base and run != "baseline" else []
            entry["runs"][run] = {
                "passed": r.count("passed"), "failed": r.count("failed"), "errors": r.count("error"),
                "skipped": r.count("skipped"), "total": len(r.outcomes), "seconds": r.seconds,
                "exit_code": r.exit_code, "note": r.note, "log": r.log, "probe": r.probe,
                "port": ports.get((proj, run), {}),
                "regressions": [{"test": t, "after": r.outcomes.get(t, "missing"), "first_line": r.first_lines.get(t, ""),
                                 "where": r.where.get(t, ""), "alone": r.alone.get(t)} for t in regs],
                "fixed": fixed(base, r) if base and run != "baseline" else [],
                "alone": r.alone,
                "outcomes": r.outcomes,
            }
            if run == "baseline" or not regs:
                continue
            title = "control differs from baseline (the stand-in alone changed these)" if run == "control" \
                else f"regressions, target {run}"
            print(f"\n### {proj} / {suite}: {title} ({len(regs)})\n", file=out)
            for (where, line), tests in group_regressions(r, regs):
                alone = [t for t in tests if r.alone.get(t) == "passed"]
                print(f"- {len(tests)} test{'s' if len(tests) > 1 else ''}: {line}"
                      + (f"  \n  at `{where}`" if where else ""), file=out)
                shown = tests if len(tests) <= 4 else tests[:3]
                for t in shown:
                    print(f"  - `{t}`" + ("  (passes when run alone: order-dependent)" if t in alone else ""), file=out)
                if len(tests) > len(shown):
                    more_alone = len([t for t in tests[len(shown):] if t in alone])
                    print(f"  - … and {len(tests) - len(shown)} more" +
                          (f" ({more_alone} of them pass when run alone)" if more_alone else ""), file=out)
        summary["suites"].append(entry)
    return summary


# ---------------------------------------------------------------- main


def run_project(jobs: list, workdir: Path, args: argparse.Namespace) -> dict[tuple[str, str, str], RunResult]:
    """All runs of one project, one after another; then every regression once more by itself (one
    that passes alone depends on what ran before it, or is flaky)."""
    results: dict[tuple[str, str, str], RunResult] = {}
    for p, suite, run, python, tree, lib in jobs:
        log(f"[{p.name}] {suite.name} / {run}: running")
        r = run_pytest(p, suite, run, python, tree, lib, workdir, args.timeout_per_test, args.timeout_per_run)
        results[(p.name, suite.name, run)] = r
        log(f"[{p.name}] {suite.name} / {run}: {r.count('passed')} passed, {r.count('failed')} failed, "
            f"{r.count('error')} errors, {r.count('skipped')} skipped in {r.seconds:.0f} s {r.note} ({r.log})")
    if args.no_alone:
        return results
    for p, suite, run, python, tree, lib in jobs:
        base = results.get((p.name, suite.name, "baseline"))
        r = results[(p.name, suite.name, run)]
        if run == "baseline" or base is None:
            continue
        regs = [t for t in regressions(base, r) if ".py::" in t][:args.max_alone]
        if not regs:
            continue
        alone = run_pytest(p, suite, run, python, tree, lib, workdir, args.timeout_per_test, args.timeout_per_run, regs)
        r.alone = {t: alone.outcomes.get(t, "missing") for t in regs}
        log(f"[{p.name}] {suite.name} / {run}: regressions run alone: "
            f"{sum(1 for o in r.alone.values() if o == 'passed')} of {len(regs)} pass")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", default=",".join(PROJECTS), help=f"comma-separated, of: {', '.join(PROJECTS)}")
    ap.add_argument("--suites", default="", help="only these suites (comma-separated, e.g. fabric,trainer)")
    ap.add_argument("--targets", default=",".join(TARGET_RUNS), help="comma-separated, of: npu, accelerator")
    ap.add_argument("--no-control", action="store_true", help="skip the control run (stand-in on the unported code)")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"cache and scratch (default {DEFAULT_WORKDIR})")
    ap.add_argument("--timeout-per-run", type=float, default=1200, help="seconds one pytest run may take (1200)")
    ap.add_argument("--timeout-per-test", type=float, default=120, help="pytest-timeout per test (120)")
    ap.add_argument("--jobs", type=int, default=1, help="pytest runs at once (1)")
    ap.add_argument("--migrate-jobs", type=int, default=os.cpu_count() or 1, help="portkit migrate -j (all cores)")
    ap.add_argument("--git", action="append", default=[], metavar="NAME=DIR_OR_URL",
                    help="where to take the tests of a project whose sdist has none (a clone, a bare mirror, or a URL)")
    ap.add_argument("--no-alone", action="store_true", help="do not re-run each regression by itself")
    ap.add_argument("--max-alone", type=int, default=200, help="re-run at most this many regressions per run alone (200)")
    ap.add_argument("--json", type=Path, help="write every result (outcome of every test of every run) here")
    args = ap.parse_args(argv)

    names = [n.strip() for n in args.projects.split(",") if n.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for n in names:
        if n not in PROJECTS:
            ap.error(f"unknown project {n!r} (known: {', '.join(PROJECTS)})")
    for t in targets:
        if t not in TARGET_RUNS:
            ap.error(f"unknown target {t!r} (npu, accelerator)")
    wanted_suites = {s for s in args.suites.split(",") if s}
    runs = ["baseline"] + ([] if args.no_control else ["control"]) + targets
    git_sources = dict(g.split("=", 1) for g in args.git)
    workdir = args.workdir.expanduser().resolve()
    repo = Path(__file__).resolve().parents[1]
    if workdir.is_relative_to(repo):
        ap.error("--workdir must be outside the repository")
    workdir.mkdir(parents=True, exist_ok=True)
    stub_dir()

    results: dict[tuple[str, str, str], RunResult] = {}
    ports: dict[tuple[str, str], dict] = {}
    started = time.monotonic()
    try:
        jobs_list = []
        for name in names:
            p = PROJECTS[name]
            sdist = fetch_sdist(p, workdir)
            tests_root = fetch_git_tests(p, workdir, git_sources.get(name)) if p.tests_git else sdist
            python = ensure_venv(p, workdir)
            tree = make_test_tree(p, sdist, tests_root, workdir)
            libs = {}
            for run in runs:
                libs[run], ports[(name, run)] = make_lib(p, sdist, run, workdir, args.migrate_jobs, 1800)
            for suite in p.suites:
                if wanted_suites and suite.name not in wanted_suites:
                    continue
                for run in runs:
                    jobs_list.append((p, suite, run, python, tree, libs[run]))
        by_project: dict[str, list] = {}
        for job in jobs_list:
            by_project.setdefault(job[0].name, []).append(job)
        # runs of one project go one after another (ignite's distributed tests use fixed ports);
        # --jobs runs different projects side by side
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(run_project, jobs, workdir, args) for jobs in by_project.values()]
            for fut in concurrent.futures.as_completed(futures):
                results.update(fut.result())
    except HarnessError as e:
        log(f"port_then_test: harness failure: {e}")
        return 1
    summary = report(results, ports)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["workdir"] = str(workdir)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
