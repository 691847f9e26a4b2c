"""Never lose a byte (issue 12): `--output` is all or nothing, a report never overwrites what is
not portkit's, an edit saved during a run survives it, and temporary files of a killed run
are cleaned up and never taken for sources."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import GIT_ENV, git, invoke_cli, snapshot, write
from portkit.pipeline import runner, sinks
from portkit.pipeline.discovery import discover

CUDA = "import torch\nx = torch.zeros(1).cuda()\n"
PORTED = "import torch\nimport torch_npu\nx = torch.zeros(1).npu()\n"


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for i in range(12):
        write(root / f"pkg{i % 3}" / f"m{i}.py", CUDA)
        write(root / "data" / f"d{i}.bin", bytes(range(256)) * 8)
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    write(root / "train.py", CUDA)
    write(root / "README.md", "# my project\n")
    write(root / "ds_config.json", '{"train_batch_size": 8}\n')
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".portkit-tmp")]


# --- --output: all or nothing -----------------------------------------------------------------


def full_disk_after(count: int, monkeypatch: pytest.MonkeyPatch, target: str = "shutil.copy2") -> None:
    """The `count`+1-th call of `target` fails as a full disk does."""
    module, name = target.rsplit(".", 1)
    real = getattr(shutil if module == "shutil" else sinks, name)
    calls = []

    def failing(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) > count:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[-1] if module == "shutil" else args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(shutil if module == "shutil" else sinks, name, failing)


@pytest.mark.parametrize("where", ["shutil.copy2", "sinks._overwrite"])
def test_a_full_disk_leaves_no_output_and_says_why_in_one_line(tree: Path, tmp_path: Path, where: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(tree)
    full_disk_after(5, monkeypatch, where)
    result = invoke_cli("migrate", "src", "--output", "out", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert line.startswith("portkit: error: out: cannot write the ported copy: No space left on device")
    assert line.endswith("nothing was written") and result.stdout == ""
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    assert snapshot(tree) == before
    monkeypatch.undo()
    again = invoke_cli("migrate", "src", "--output", "out", "-j", "1", cwd=tmp_path)  # a rerun is not refused
    assert again.exit_code == 0, again.output
    assert (tmp_path / "out" / "pkg0" / "m0.py").read_text() == PORTED
    assert len(snapshot(tmp_path / "out")) == len(before)


def test_a_copy_fills_an_empty_output_folder_and_failure_keeps_it_empty(tree: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out").mkdir()
    full_disk_after(0, monkeypatch)
    assert invoke_cli("migrate", "src", "--output", "out", cwd=tmp_path).exit_code == 1
    assert list((tmp_path / "out").iterdir()) == [] and leftovers(tmp_path) == []
    monkeypatch.undo()
    assert invoke_cli("migrate", "src", "--output", "out", cwd=tmp_path).exit_code == 0
    assert (tmp_path / "out" / "pkg1" / "m1.py").read_text() == PORTED


def test_a_single_file_copy_is_all_or_nothing_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "train.py", CUDA)
    full_disk_after(0, monkeypatch)
    result = invoke_cli("migrate", "train.py", "--output", "out", cwd=tmp_path)
    assert result.exit_code == 1 and "No space left on device" in one_line(result.stderr)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_the_leftover_of_a_killed_copy_is_removed(tree: Path, tmp_path: Path) -> None:
    stale = tmp_path / ".out.0123abcd.portkit-tmp"
    write(stale / "pkg0" / "m0.py", "half")
    recent = tmp_path / ".out.89abcdef.portkit-tmp"  # a concurrent run's, still being written
    recent.mkdir()
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert invoke_cli("migrate", "src", "--output", "out", cwd=tmp_path).exit_code == 0
    assert not stale.exists() and recent.exists()


def test_the_copy_leaves_out_stray_temporary_files(tree: Path, tmp_path: Path) -> None:
    write(tree / "pkg0" / ".m0.py.0123abcd.portkit-tmp", "half a file")
    assert invoke_cli("migrate", "src", "--output", "out", cwd=tmp_path).exit_code == 0
    assert leftovers(tmp_path / "out" / "pkg0") == []
    assert (tree / "pkg0" / ".m0.py.0123abcd.portkit-tmp").exists()  # the source is never written


# --- reports never clobber -------------------------------------------------------------------


def test_a_report_never_overwrites_a_tracked_file(repo: Path) -> None:
    result = invoke_cli("migrate", ".", "--report", "README.md", cwd=repo)
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "README.md: is tracked by git" in line and "--force-report" in line
    assert (repo / "train.py").read_text() == CUDA  # checked before anything is rewritten
    assert (repo / "README.md").read_text() == "# my project\n"
    forced = invoke_cli("migrate", ".", "--report", "README.md", "--force-report", cwd=repo)
    assert forced.exit_code == 0, forced.output
    assert (repo / "README.md").read_text().startswith("## portkit:")


def test_a_report_never_overwrites_uncommitted_edits(repo: Path) -> None:
    write(repo / "notes.md", "my notes, not committed yet\n")
    (repo / "README.md").write_text("# my project\nan edit\n")
    for target, why in (("notes.md", "is an untracked file"), ("README.md", "has uncommitted changes")):
        result = invoke_cli("migrate", "--dry-run", ".", "--report", target, cwd=repo)
        assert result.exit_code == 2 and f"{target}: {why}" in one_line(result.stderr)
    assert (repo / "notes.md").read_text() == "my notes, not committed yet\n"


def test_a_report_never_overwrites_a_file_the_run_ports(tmp_path: Path) -> None:
    write(tmp_path / "ds_config.json", '{"env": {"CUDA_VISIBLE_DEVICES": "0"}}\n')  # a launcher config
    write(tmp_path / "train.py", CUDA)
    before = snapshot(tmp_path)
    result = invoke_cli("migrate", ".", "--report", "ds_config.json", cwd=tmp_path)
    assert result.exit_code == 2 and "ds_config.json: is a file this run ports" in one_line(result.stderr)
    assert snapshot(tmp_path) == before


def test_a_report_may_replace_its_own_earlier_version(repo: Path) -> None:
    """An untracked report portkit wrote is not the user's work: a rerun replaces it."""
    for target in ("run.json", "review.html", "pr.md", "csv/"):
        first = invoke_cli("migrate", "--dry-run", ".", "--report", target, cwd=repo)
        assert first.exit_code == 0, first.output
        second = invoke_cli("migrate", "--dry-run", ".", "--report", target, cwd=repo)
        assert second.exit_code == 0, second.output
    git(repo, "add", "pr.md")
    git(repo, "commit", "-q", "-m", "the PR text")
    assert invoke_cli("migrate", "--dry-run", ".", "--report", "pr.md", cwd=repo).exit_code == 0
    (repo / "pr.md").write_text((repo / "pr.md").read_text() + "my own words\n")
    refused = invoke_cli("migrate", "--dry-run", ".", "--report", "pr.md", cwd=repo)
    assert refused.exit_code == 2 and "has uncommitted changes" in refused.stderr


# /proc takes no new files even from root (CI runs as root, where a chmod 555 folder is writable)
@pytest.mark.parametrize("target", ["missing/run.json", "a-file/run.json", "/proc/portkit/run.json"])
def test_an_unwritable_report_stops_the_run_before_any_change(tmp_path: Path, target: str) -> None:
    write(tmp_path / "train.py", CUDA)
    write(tmp_path / "a-file", "not a folder\n")
    result = invoke_cli("migrate", ".", "--report", target, cwd=tmp_path)
    assert result.exit_code == 2 and target in one_line(result.stderr)
    assert (tmp_path / "train.py").read_text() == CUDA


def test_a_report_that_fails_late_still_gets_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files are rewritten by then: the summary must still say so (exit 1, not 2)."""
    from portkit.cli import reporting
    from portkit.cli.common import PortkitUsageError

    def full_disk(path: Path, text: str) -> None:
        raise PortkitUsageError(f"{path}: cannot write: No space left on device")

    write(tmp_path / "train.py", CUDA)
    monkeypatch.setattr(reporting, "write_file", full_disk)
    result = invoke_cli("migrate", ".", "--report", "run.json", cwd=tmp_path)
    assert result.exit_code == 1
    assert "1 file scanned, 1 changed" in result.stdout
    assert one_line(result.stderr) == "portkit: error: run.json: cannot write: No space left on device"
    assert (tmp_path / "train.py").read_text() == PORTED


# --- edits during the run, and leftovers of a killed one ---------------------------------------


def edit_during_the_run(monkeypatch: pytest.MonkeyPatch, path: Path, text: str) -> None:
    """Save `text` into `path` once every file is ported and before anything is written."""
    real = runner.run

    def run_then_edit(*args: object, **kwargs: object):
        yield from real(*args, **kwargs)
        path.write_text(text)

    monkeypatch.setattr(runner, "run", run_then_edit)


@pytest.mark.parametrize("same_size", [False, True])
def test_an_edit_saved_during_the_run_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         same_size: bool) -> None:
    write(tmp_path / "train.py", CUDA)
    write(tmp_path / "other.py", CUDA)
    edit = CUDA.replace("zeros", "empty") if same_size else CUDA + "# saved meanwhile\n"
    edit_during_the_run(monkeypatch, tmp_path / "train.py", edit)
    result = invoke_cli("migrate", "-j", "1", ".", cwd=tmp_path)
    assert result.exit_code == 1
    assert (tmp_path / "train.py").read_text() == edit  # the user's edit survives
    assert (tmp_path / "other.py").read_text() == PORTED
    failures = [line for line in result.stdout.splitlines() if "train.py" in line]
    assert failures and "changed on disk during the run" in failures[0]


def test_allow_dirty_does_not_lose_an_edit_saved_during_the_run(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / "train.py", CUDA + "# an uncommitted edit\n")
    edit_during_the_run(monkeypatch, repo / "train.py", CUDA + "# and another, saved during the run\n")
    result = invoke_cli("migrate", "-j", "1", "--allow-dirty", "--report", "run.json", ".", cwd=repo)
    assert result.exit_code == 1
    assert (repo / "train.py").read_text().endswith("saved during the run\n")
    report = json.loads((repo / "run.json").read_text())
    (failed,) = [f for f in report["files"] if f["path"] == "train.py"]
    assert failed["status"] == "failed" and "changed on disk" in failed["error"]


def test_stray_temporary_files_are_never_sources_and_in_place_runs_remove_them(tmp_path: Path) -> None:
    write(tmp_path / "train.py", CUDA)
    stale = write(tmp_path / ".train.py.0123abcd.portkit-tmp", CUDA)
    fresh = write(tmp_path / ".other.py.89abcdef.portkit-tmp", CUDA)  # a concurrent run's
    old = time.time() - 3600
    os.utime(stale, (old, old))
    found = discover([tmp_path, stale])
    assert [f.path.name for f in found.files] == ["train.py"]
    assert set(found.strays) == {stale, fresh}
    for read_only in (("check", "--no-cache"), ("migrate", "--dry-run"), ("migrate", "--diff")):
        result = invoke_cli(*read_only, ".", cwd=tmp_path)
        assert ".portkit-tmp" not in result.output and stale.exists()
    assert invoke_cli("migrate", ".", cwd=tmp_path).exit_code == 0
    assert not stale.exists() and fresh.exists()
    assert (tmp_path / "train.py").read_text() == PORTED


def test_a_report_may_go_inside_the_output_copy(tree: Path, tmp_path: Path) -> None:
    result = invoke_cli("migrate", "src", "--output", "out", "--report", "out/run.json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "run.json").read_text())["files"]
    # a folder the copy does not make: the copy is there, the summary too, and the one error
    result = invoke_cli("migrate", "src", "--output", "out2", "--report", "out2/reports/run.json", cwd=tmp_path)
    assert result.exit_code == 1 and "changed in the copy" in result.stdout
    assert one_line(result.stderr).startswith("portkit: error: out2/reports/run.json: cannot write")
    assert (tmp_path / "out2" / "pkg0" / "m0.py").read_text() == PORTED
