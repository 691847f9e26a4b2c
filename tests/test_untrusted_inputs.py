"""Inputs portkit must not trust (issue 12): the check cache a repository ships, a configuration
it cannot parse, file names no output format was made for. None of them may crash a run, make
`check` lie, or let portkit write outside the repository."""

from __future__ import annotations

import csv
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import git, invoke_cli, run_portkit, snapshot, write
from portkit.pipeline import runner
from portkit.pipeline.cache import CACHEDIR_TAG, FOLDER, CheckCache, digest

CUDA = "import torch\nx = torch.zeros(1).cuda()\nok = torch.cuda.is_available()\n"
CLEAN = "import numpy\n"


@pytest.fixture(autouse=True)
def own_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test has its own user cache folder (where the cache secret lives)."""
    home = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root / "portkit.toml", "")
    write(root / "a.py", CUDA)
    write(root / "b.py", CLEAN)
    return root


def check(project: Path, *args: str):
    return invoke_cli("check", "-j", "1", *args, ".", cwd=project)


def cache_file(project: Path) -> Path:
    (file,) = (project / FOLDER).glob("check-*.json")
    return file


# --- the check cache ---------------------------------------------------------------------------


def plant(project: Path, secret: bytes) -> None:
    """What a repository could ship: the cache file of this very tree, with a.py's entry
    replaced by one that says the CUDA file is clean, filed under the name a cache made
    with `secret` would give it."""
    file = cache_file(project)
    document = json.loads(file.read_text())
    clean = {"status": "unchanged", "error": None, "changes": [], "findings": []}
    key = document["key"]
    name = CheckCache(project / FOLDER, key, secret=secret)._entry_name(digest((project / "a.py").read_bytes()), "a.py")
    document["entries"] = {name: clean}
    file.write_text(json.dumps(document))


def test_a_planted_entry_cannot_claim_a_file_clean(project: Path, tmp_path: Path, monkeypatch) -> None:
    cold = check(project)
    assert cold.exit_code == 1 and "a.py" in cold.output
    # the attacker's cache, made on their machine: their own secret
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "attacker"))
    attacker = CheckCache(project / FOLDER, "x").secret
    assert attacker is not None
    plant(project, attacker)
    assert check(project).exit_code == 0  # the planted entry is well formed: it fools its maker
    plant(project, attacker)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "victim"))
    planted = check(project)
    assert planted.exit_code == 1 and planted.output == cold.output


def test_an_entry_is_bound_to_the_file_name_and_content(project: Path) -> None:
    """Same bytes, another kind of file: the .env has a finding, the .py file does not."""
    write(project / ".env", "CUDA_VISIBLE_DEVICES=0\n")
    write(project / "env.py", "CUDA_VISIBLE_DEVICES=0\n")
    cold = check(project)
    warm = check(project)
    assert warm.output == cold.output and ".env:1:1: env-var" in cold.output
    assert "env.py" not in cold.output


def test_a_symlinked_cache_folder_is_not_used(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "check-0123456789abcdef0123.json", '{"precious": true}\n')
    write(outside / "keep.txt", "mine\n")
    before = snapshot(outside)
    (project / FOLDER).symlink_to(outside, target_is_directory=True)
    for _ in range(2):
        result = check(project)
        assert result.exit_code == 1 and "a.py" in result.output
    assert snapshot(outside) == before  # nothing written there, nothing deleted


def test_symlinks_inside_the_cache_folder_are_replaced_not_followed(project: Path, tmp_path: Path) -> None:
    cold = check(project)
    outside = tmp_path / "outside"
    write(outside / "target.json", '{"format": 2}\n')
    write(outside / "ignore", "precious\n")
    before = snapshot(outside)
    file = cache_file(project)
    file.unlink()
    file.symlink_to(outside / "target.json")
    (project / FOLDER / ".gitignore").unlink()
    (project / FOLDER / ".gitignore").symlink_to(outside / "ignore")
    assert check(project).output == cold.output
    assert snapshot(outside) == before
    assert not file.is_symlink() and json.loads(file.read_text())["entries"]
    assert (project / FOLDER / ".gitignore").read_text().endswith("*\n")


def test_the_folder_is_marked_as_a_cache(project: Path) -> None:
    check(project)
    assert (project / FOLDER / "CACHEDIR.TAG").read_text() == CACHEDIR_TAG
    assert CACHEDIR_TAG.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (project / FOLDER / ".gitignore").read_text().splitlines()[-1] == "*"


@pytest.mark.parametrize("content", [
    "null", "[]", '"x"', "1e999", '{"format": 2, "key": null}', "{not json", "\udcff",
    "[" * 100_000 + "]" * 100_000,  # deeper than the JSON decoder can go
])
def test_a_corrupt_cache_file_is_ignored_and_rebuilt(project: Path, content: str) -> None:
    cold = check(project)
    file = cache_file(project)
    file.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert check(project).output == cold.output
    assert len(json.loads(file.read_text())["entries"]) == 2
    assert check(project).output == cold.output


@pytest.mark.parametrize("field, value", [
    ("span", ["2", 1, 2, 5]), ("span", [1, 2]), ("span", [-1, 1, 1, 1]), ("span", [True, 1, 1, 1]),
    ("rule", 7), ("safety", "very"), ("message", None), ("old", ["x"]),
])
def test_a_damaged_entry_is_computed_again(project: Path, field: str, value: object) -> None:
    """Entries the run itself filed (right names), each broken in one field."""
    cold = check(project)
    file = cache_file(project)
    document = json.loads(file.read_text())
    for entry in document["entries"].values():
        for change in entry["changes"]:
            change[field] = value
    file.write_text(json.dumps(document))
    assert check(project).output == cold.output
    repaired = json.loads(file.read_text())["entries"]
    assert all(type(n) is int for e in repaired.values() for c in e["changes"] for n in c["span"])


@pytest.mark.parametrize("document", [
    {"status": "changed"}, {"status": "gone", "error": None, "changes": [], "findings": []}, [], "x",
    {"status": "changed", "error": None, "changes": {}, "findings": []},
    {"status": "changed", "error": None, "changes": [1], "findings": []},
])
def test_a_malformed_entry_is_computed_again(project: Path, document: object) -> None:
    cold = check(project)
    file = cache_file(project)
    data = json.loads(file.read_text())
    data["entries"] = {name: document for name in data["entries"]}
    file.write_text(json.dumps(data))
    assert check(project).output == cold.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_place_of_the_cache_file_does_not_hang(project: Path) -> None:
    cold = check(project)
    file = cache_file(project)
    file.unlink()
    os.mkfifo(file)
    done = run_portkit("check", "-j", "1", ".", cwd=project)  # a hang fails on the timeout
    assert done.returncode == 1 and done.stdout.decode() == cold.output




@pytest.mark.parametrize("options", [
    ("--target", "accelerator"),
    ("--select", "tensor-cuda"),
    ("--ignore", "cuda-api"),
    ("--torch-npu", "2.1.0.post17"),
])
def test_the_cache_key_covers_every_setting_that_changes_findings(project: Path, options: tuple[str, ...]) -> None:
    write(project / "c.py", "import torch\ns = torch.cuda.host_memory_stats()\n")
    check(project)  # a cache made with the default settings
    fresh = check(project, "--no-cache", *options)
    assert fresh.output != check(project, "--no-cache").output  # the option matters here
    assert check(project, *options).output == fresh.output
    assert check(project, *options).output == fresh.output  # and warm


def test_the_cache_key_follows_the_configuration(project: Path) -> None:
    check(project)
    write(project / "portkit.toml", 'select = ["tensor-cuda"]\n')
    assert check(project).output == check(project, "--no-cache").output


def test_without_a_usable_secret_nothing_is_cached(project: Path, tmp_path: Path, monkeypatch) -> None:
    blocked = tmp_path / "blocked"
    write(blocked, "a file where the folder would go\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    first = check(project)
    assert first.exit_code == 1 and check(project).output == first.output
    assert not list((project / FOLDER).glob("check-*.json")) if (project / FOLDER).exists() else True


def test_the_secret_lives_outside_the_repository(project: Path, own_secret: Path) -> None:
    check(project)
    secret = own_secret / "portkit" / "cache-secret"
    assert len(secret.read_text().strip()) == 64
    assert os.stat(secret).st_mode & 0o077 == 0
    assert not any("secret" in p.name for p in project.rglob("*"))


# --- configuration ----------------------------------------------------------------------------


def test_a_broken_pyproject_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    """The syntax error used to drop [tool.portkit]: the excluded file was rewritten."""
    root = tmp_path / "repo"
    write(root / "pyproject.toml", '[project]\nname = "x"\n\n[tool.portkit]\nexclude = ["gen/"\n')
    write(root / "gen" / "model.py", CUDA)
    write(root / "train.py", CUDA)
    before = snapshot(root)
    result = invoke_cli("migrate", "--allow-dirty", ".", cwd=root)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert "pyproject.toml: line 6" in result.stderr and "not valid TOML" in result.stderr
    assert snapshot(root) == before
    assert invoke_cli("check", ".", cwd=root).exit_code == 2


@pytest.mark.parametrize("text, expected", [
    ('[tool.portkit]\nselect = ["amp"]\ntarget = "gpu"\n', "pyproject.toml: [tool.portkit]: line 3: unknown target 'gpu'"),
    ('[tool.portkit]\n\ntorch-npu = "1.0"\n', "line 3: unknown torch-npu '1.0'"),
    ('[tool.portkit]\nexclude = "gen/"\n', "line 2: 'exclude' must be a list of strings"),
    ("[tool]\nportkit = 3\n", "pyproject.toml: line 2: [tool.portkit] must be a table"),
    ('tool = 1\n[x]\nportkit = "x"\n', None),  # not a portkit configuration at all
    (b'[tool.portkit]\nselect = ["\xff"]\n', "pyproject.toml: line 2: not valid TOML: not UTF-8"),
])
def test_invalid_values_name_the_file_and_line(tmp_path: Path, text: str | bytes, expected: str | None) -> None:
    root = tmp_path / "repo"
    write(root / "pyproject.toml", text)
    write(root / "t.py", CLEAN)
    result = invoke_cli("check", ".", cwd=root)
    if expected is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert expected in result.stderr


def test_a_broken_pyproject_that_does_not_mention_portkit_is_not_ours(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root / "pyproject.toml", "[project\nname = 1\n")
    write(root / "t.py", CLEAN)
    result = invoke_cli("check", "t.py", cwd=root)  # (as a dependency file, `check .` reports it)
    assert result.exit_code == 0, result.output


def test_a_broken_portkit_toml_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root / "portkit.toml", "exclude = [\n  'a',\n  b\n]\n")
    write(root / "t.py", CUDA)
    result = invoke_cli("migrate", "--dry-run", ".", cwd=root)
    assert result.exit_code == 2 and "portkit.toml: line 3, column 3: not valid TOML" in result.stderr


# --- file names no format was made for --------------------------------------------------------

ODD = os.fsdecode(b"odd\xff name\nwith\ttab.py")
SHOWN = "odd\\xff name\\nwith\\ttab.py"


def _sarif_uri_of(display: str) -> str:
    from portkit.reports import check_formats

    return check_formats._artifact(display)["uri"]


RAW_URI = "src/odd%FF%20name%0Awith%09tab.py"


def test_a_sarif_uri_names_the_file_itself() -> None:
    """Code scanning maps the URI to the repository's file: its bytes, percent-encoded."""
    assert _sarif_uri_of(f"src/{SHOWN}") == RAW_URI
    assert _sarif_uri_of("src/plain name.py") == "src/plain%20name.py"


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    try:
        write(root / "src" / ODD, CUDA + "import flash_attn\n")  # a manual item: the summary names it
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system does not take such names")
    write(root / "src" / "plain.py", CUDA)
    return root


def test_every_migrate_report_survives_an_odd_file_name(odd_tree: Path) -> None:
    done = run_portkit("migrate", "--dry-run", "src", "--report", "r.json", "--report", "r.html",
                       "--report", "r.md", "--report", "csv/", cwd=odd_tree)
    assert done.returncode == 0, done.stderr
    assert SHOWN.encode() in done.stdout
    report = json.loads((odd_tree / "r.json").read_text(encoding="utf-8"))
    assert f"src/{SHOWN}" in [f["path"] for f in report["files"]]
    assert SHOWN in (odd_tree / "r.md").read_text(encoding="utf-8")
    assert "odd\\\\xff" in (odd_tree / "r.html").read_text(encoding="utf-8")  # in the page's JSON
    with open(odd_tree / "csv" / "change_list.csv", encoding="utf-8", newline="") as stream:
        assert f"src/{SHOWN}" in {row[0] for row in csv.reader(stream)}


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "junit"])
def test_every_check_format_survives_an_odd_file_name(odd_tree: Path, fmt: str) -> None:
    done = run_portkit("check", "--no-cache", "-o", fmt, "src", cwd=odd_tree)
    assert done.returncode == 1, done.stderr
    out = done.stdout.decode("utf-8")
    assert "\udcff" not in out
    lines = [line for line in out.splitlines() if "odd" in line]
    if fmt == "json":
        assert f"src/{SHOWN}" in {d["path"] for d in json.loads(out)["findings"]}
    elif fmt == "sarif":
        json.loads(out)
    elif fmt == "junit":
        ET.fromstring(out)
    else:
        assert lines and all(line.count("odd") == 1 for line in lines), out  # one line per finding


def test_an_odd_file_name_is_migrated_in_place_and_in_a_copy(odd_tree: Path) -> None:
    done = run_portkit("migrate", "src", "--output", "out", cwd=odd_tree)
    assert done.returncode == 0, done.stderr
    assert (odd_tree / "out" / ODD).read_bytes() != (odd_tree / "src" / ODD).read_bytes()
    done = run_portkit("migrate", "--allow-dirty", "src", cwd=odd_tree)
    assert done.returncode == 0, done.stderr
    assert (odd_tree / "src" / ODD).read_bytes() == (odd_tree / "out" / ODD).read_bytes()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_patch_of_an_odd_file_name_applies(odd_tree: Path, tmp_path: Path) -> None:
    original = (odd_tree / "src" / ODD).read_bytes()
    done = run_portkit("migrate", "--diff", "src", cwd=odd_tree)
    assert done.returncode == 0, done.stderr
    assert b'--- "a/src/odd\\377 name\\nwith\\ttab.py"' in done.stdout
    copy = tmp_path / "copy"
    shutil.copytree(odd_tree, copy)
    git(copy, "init", "-q")
    (tmp_path / "fix.patch").write_bytes(done.stdout)
    git(copy, "apply", str(tmp_path / "fix.patch"))
    run_portkit("migrate", "--allow-dirty", "src", cwd=odd_tree)
    assert (copy / "src" / ODD).read_bytes() == (odd_tree / "src" / ODD).read_bytes() != original
