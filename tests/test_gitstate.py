from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from portkit.pipeline import gitstate
from portkit.pipeline.gitstate import GitStateError, dirty_files, parse_porcelain_z

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    # Keep the user's global config (hooks, signing, excludesFile) out.
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "clean.py").write_text("x = 1\n")
    (root / "modified.py").write_text("x = 1\n")
    (root / "staged.py").write_text("x = 1\n")
    (root / "with space.py").write_text("x = 1\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "deep clean.py").write_text("x = 1\n")
    (root / ".gitignore").write_text("ignored.py\nbuild/\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_clean_committed_file_not_dirty(repo: Path) -> None:
    assert dirty_files([repo / "clean.py", repo / "pkg" / "deep clean.py"]) == []


def test_modified_file_dirty(repo: Path) -> None:
    (repo / "modified.py").write_text("x = 2\n")
    assert dirty_files([repo / "clean.py", repo / "modified.py"]) == [repo / "modified.py"]


def test_staged_file_dirty(repo: Path) -> None:
    (repo / "staged.py").write_text("x = 2\n")
    git(repo, "add", "staged.py")
    assert dirty_files([repo / "staged.py"]) == [repo / "staged.py"]


def test_untracked_file_dirty(repo: Path) -> None:
    (repo / "pkg" / "sub").mkdir()
    new = repo / "pkg" / "sub" / "new.py"
    new.write_text("x = 1\n")  # inside an untracked folder: needs -uall
    assert dirty_files([new, repo / "clean.py"]) == [new]


def test_ignored_file_not_dirty(repo: Path) -> None:
    (repo / "ignored.py").write_text("x = 1\n")
    (repo / "build").mkdir()
    (repo / "build" / "gen.py").write_text("x = 1\n")
    assert dirty_files([repo / "ignored.py", repo / "build" / "gen.py"]) == []


def test_outside_repo_not_dirty(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "loose.py"
    outside.write_text("x = 1\n")
    (repo / "modified.py").write_text("x = 2\n")
    assert dirty_files([outside, repo / "modified.py"]) == [repo / "modified.py"]


def test_file_name_with_spaces(repo: Path) -> None:
    (repo / "with space.py").write_text("x = 2\n")
    (repo / "pkg" / "deep clean.py").write_text("x = 2\n")
    untracked = repo / "pkg" / "new file.py"
    untracked.write_text("x = 1\n")
    files = [repo / "with space.py", repo / "pkg" / "deep clean.py", untracked, repo / "clean.py"]
    assert dirty_files(files) == files[:3]


def test_unicode_and_quote_characters(repo: Path) -> None:
    # Without -z git would quote such names ("\303\251t\303\251.py").
    odd = repo / 'été "q".py'
    odd.write_text("x = 1\n")
    assert dirty_files([odd]) == [odd]


def test_relative_paths_returned_as_given(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "modified.py").write_text("x = 2\n")
    monkeypatch.chdir(repo / "pkg")
    assert dirty_files([Path("../modified.py"), Path("deep clean.py")]) == [Path("../modified.py")]


def test_two_repositories_one_git_status_each(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "a.py").write_text("x = 1\n")
    (repo / "modified.py").write_text("x = 2\n")

    calls: list[list[str]] = []
    real_run = gitstate._run_git

    def counting_run(git_: str, cwd: Path, arguments: list[str]) -> object:
        calls.append(arguments)
        return real_run(git_, cwd, arguments)

    monkeypatch.setattr(gitstate, "_run_git", counting_run)
    files = [repo / "modified.py", other / "a.py", repo / "clean.py", repo / "pkg" / "deep clean.py"]
    assert dirty_files(files) == [repo / "modified.py", other / "a.py"]
    assert sum(1 for call in calls if call[0] == "status") == 2
    assert sum(1 for call in calls if call[0] == "rev-parse") == 2


def test_renamed_file_dirty(repo: Path) -> None:
    git(repo, "mv", "clean.py", "renamed.py")
    assert dirty_files([repo / "renamed.py"]) == [repo / "renamed.py"]


def test_git_not_installed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "modified.py").write_text("x = 2\n")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert dirty_files([repo / "modified.py"]) == []


def test_stray_git_folder_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "fake" / ".git").mkdir(parents=True)
    file = tmp_path / "fake" / "a.py"
    file.write_text("x = 1\n")
    assert dirty_files([file]) == []


def test_git_failure_raises(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_run(git_: str, cwd: Path, arguments: list[str]) -> object:
        return subprocess.CompletedProcess(arguments, 128, b"", b"fatal: detected dubious ownership\n")

    monkeypatch.setattr(gitstate, "_run_git", failing_run)
    with pytest.raises(GitStateError, match="dubious ownership"):
        dirty_files([repo / "clean.py"])


def test_parse_porcelain_z_rename_and_spaces() -> None:
    output = b" M a b.py\0R  new name.py\0old name.py\0?? dir/x.py\0"
    assert parse_porcelain_z(output) == [
        PurePosixPath("a b.py"),
        PurePosixPath("new name.py"),
        PurePosixPath("old name.py"),
        PurePosixPath("dir/x.py"),
    ]


# --- file_states: what a report must not overwrite --------------------------------------------


def test_file_states(repo: Path, tmp_path: Path) -> None:
    (repo / "modified.py").write_text("x = 2\n")
    (repo / "staged.py").write_text("x = 2\n")
    git(repo, "add", "staged.py")
    (repo / "notes.md").write_text("mine\n")
    (repo / "ignored.py").write_text("x = 1\n")
    outside = tmp_path / "outside.md"
    outside.write_text("x\n")
    given = [repo / "clean.py", repo / "modified.py", repo / "staged.py", repo / "notes.md",
             repo / "ignored.py", repo / "pkg" / "deep clean.py", repo / "missing.md", outside]
    assert gitstate.file_states(given) == {
        repo / "clean.py": "tracked", repo / "modified.py": "modified", repo / "staged.py": "modified",
        repo / "notes.md": "untracked", repo / "pkg" / "deep clean.py": "tracked",
    }


def test_file_states_without_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitstate.shutil, "which", lambda name: None)
    assert gitstate.file_states([repo / "clean.py"]) == {}
