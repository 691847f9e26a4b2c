"""The check cache: same answers warm as cold, and a fresh start whenever anything it
depends on changes (file content, rules, portkit version). What a cache a repository ships
cannot do (lie, crash a run, write outside the repository) is in test_untrusted_inputs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import invoke_cli, write
from portkit.pipeline import cache as cache_module
from portkit.pipeline.cache import FOLDER, CheckCache

CUDA = "import torch\nx = torch.zeros(1).cuda()\nok = torch.cuda.is_available()\n"
USER_RULE = '''
[[rule]]
id = "my-sync"
kind = "rename-api"
summary = "s"
why = "w"
safety = "safe"
[rule.renames]
"mylib.sync" = "mylib.npu_sync"
'''


@pytest.fixture(autouse=True)
def own_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache secret of these tests lives in their own user cache folder, not in ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "a.py", CUDA)
    write(tmp_path / "b.py", "import numpy\n")
    return tmp_path


def check(project: Path, *args: str):
    return invoke_cli("check", "-j", "1", *args, ".", cwd=project)


def entries(project: Path) -> dict:
    (file,) = (project / FOLDER).glob("check-*.json")
    return json.loads(file.read_text())["entries"]


def test_warm_run_gives_the_same_answer_and_uses_the_cache(project: Path, monkeypatch) -> None:
    cold = check(project)
    assert cold.exit_code == 1 and (project / FOLDER / ".gitignore").read_text().endswith("*\n")
    assert len(entries(project)) == 2
    calls = []
    import portkit.pipeline.process as process

    real = process.process_file
    monkeypatch.setattr(process, "process_file", lambda *a, **k: calls.append(a) or real(*a, **k))
    warm = check(project)
    assert warm.output == cold.output and warm.exit_code == 1
    assert calls == []  # nothing was parsed again


def test_an_edited_file_is_checked_again(project: Path) -> None:
    check(project)
    write(project / "a.py", "import torch\n")
    assert check(project).exit_code == 0
    write(project / "a.py", CUDA)
    assert check(project).exit_code == 1


def test_a_rule_change_starts_a_fresh_cache(project: Path) -> None:
    write(project / "rules" / "mine.toml", USER_RULE)
    write(project / "c.py", "import mylib\nmylib.sync()\n")
    first = check(project, "--rules", "rules")
    assert "my-sync" in first.output
    write(project / "rules" / "mine.toml", USER_RULE.replace('"mylib.sync"', '"mylib.other"'))
    second = check(project, "--rules", "rules")
    assert "my-sync" not in second.output
    assert len(list((project / FOLDER).glob("check-*.json"))) == 1  # the stale cache is gone


def test_a_new_portkit_version_starts_a_fresh_cache(project: Path, monkeypatch) -> None:
    check(project)
    before = {p.name for p in (project / FOLDER).glob("check-*.json")}
    monkeypatch.setattr(cache_module, "__version__", "99.0")
    check(project)
    after = {p.name for p in (project / FOLDER).glob("check-*.json")}
    assert before and after and before != after


def test_no_cache_reads_and_writes_nothing(project: Path) -> None:
    assert check(project, "--no-cache").exit_code == 1
    assert not (project / FOLDER).exists()


def test_a_damaged_cache_is_ignored(project: Path) -> None:
    cold = check(project)
    (file,) = (project / FOLDER).glob("check-*.json")
    file.write_text("{not json")
    assert check(project).output == cold.output


def test_cache_round_trips_results(tmp_path: Path) -> None:
    from portkit.model import Change, FileResult, FileStatus, Finding, Safety, Span

    result = FileResult("x.py", FileStatus.CHANGED,
                        (Change("r", "m", Safety.SAFE, Span(1, 2, 3, 4), "old", "new"),),
                        (Finding("f", "g", Safety.MANUAL, Span(5, 6, 7, 8), "line"),))
    cache = CheckCache(tmp_path, "k")
    cache.put("d", result)
    cache.save()
    again = CheckCache.open(tmp_path, "k").get("d", "x.py")
    assert again == result


def test_the_rules_key_is_the_same_in_every_process(tmp_path: Path) -> None:
    """Set order differs between processes (hash randomisation): the key must not."""
    import os
    import subprocess
    import sys

    script = ("from portkit.pipeline.cache import rules_key; from portkit.ruleset import load_rules; "
              "r = load_rules(); print(rules_key(r.rules, sorted(r.ids)))")
    keys = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(keys) == 1


@pytest.mark.parametrize("given", ["a.py", "./sub//b.py", "sub/./b.py", ".", "sub/../a.py", "../x/a.py",
                                   "..hidden/a.py", "ABSOLUTE/a.py", "/elsewhere/a.py"])
def test_display_paths_are_what_relpath_gives(given: str, tmp_path: Path, monkeypatch) -> None:
    """The warm path's shortcut for relative paths names every file as os.path.relpath does."""
    import os

    from portkit.pipeline.runner import display_path

    work = tmp_path / "x"
    work.mkdir()
    monkeypatch.chdir(work)
    path = Path(given.replace("ABSOLUTE", str(work)))
    relative = os.path.relpath(path)
    assert display_path(path) == (relative if not relative.startswith("..") else str(path))


def test_a_warm_re_check_imports_no_libcst(project: Path) -> None:
    """Every file a cache hit: nothing of the libcst pipeline is loaded, nor what only migrate
    and its reports need, nor pathspec in a tree without .gitignore (a subprocess, so the test
    process's own imports do not count)."""
    import subprocess
    import sys

    command = [sys.executable, "-c", "import sys; from portkit.cli import main\n"
               "try:\n    main(['check', '-j', '1', '.'])\nexcept SystemExit:\n    pass\n"
               "heavy = ('libcst', 'portkit.python.transform', 'portkit.pipeline.migrate', 'portkit.reports.review', 'pathspec')\n"
               "print(sorted(m for m in sys.modules if m in heavy))"]
    subprocess.run(command, cwd=project, capture_output=True, text=True, check=True)  # fills the cache
    warm = subprocess.run(command, cwd=project, capture_output=True, text=True, check=True)
    assert warm.stdout.strip().splitlines()[-1] == "[]"
