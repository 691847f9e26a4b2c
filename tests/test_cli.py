"""End-to-end tests of the `portkit` command line.

Most tests drive the click app in-process (fast); the ones whose point is the real process
(console script, a patch taken byte for byte from stdout, dropped privileges) use subprocesses.
Every test works on copies under tmp_path and never writes into the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from click.testing import CliRunner

from portkit import __version__
from portkit.cli import main
from conftest import USER_RULE, EXAMPLE_NAMES, EXAMPLES, REPO, Cli, example_tree, git, run_portkit, snapshot, write

GOOD = "import torch\nx = torch.cuda.is_available()\n"
GOOD_PORTED = "import torch\nimport torch_npu\nx = torch.npu.is_available()\n"

# Files portkit must leave byte for byte as they are.
NO_CHANGE = {
    "bom.py": b"\xef\xbb\xbfimport torch\nx = torch.zeros(1)\n",
    "crlf.py": b"import torch\r\nx = torch.zeros(1)\r\n",
    "latin1_cookie.py": b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\n",
    "trailing_ws.py": b"import torch   \nx = 1  \t\ny = 2   ",
    "mentions_cuda.py": (b'"""Trains on CUDA."""\nimport torch\n# cuda: 0 is the default device\n'
                         b'msg = "running on cuda"\nprint("cuda")\npath = "/tmp/cuda/ckpt.pt"\n'
                         b'cfg = {"cuda": 1}\nuse_cuda = False\n'),
}
# Files that need a change, each stressing how bytes are written back.
CRLF_CHANGE = b'import torch\r\nx = torch.cuda.is_available()\r\ndevice = torch.device("cuda")\r\n'
NO_FINAL_NEWLINE_CHANGE = b"import torch\nok = torch.cuda.is_available()"
BOM_CHANGE = b"\xef\xbb\xbfimport torch\nx = torch.cuda.is_available()\n"
LATIN1_CHANGE = b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\nx = torch.cuda.is_available()\n"

SYNTAX_ERROR = b"import torch\ndef f(:\n    torch.cuda.synchronize()\n"

WRONG_USER_RULE = USER_RULE.replace('s = dev.cuda_stream\n"""', 's = dev.cuda_stream(0)\n"""')
MALFORMED_RULE = '[[rule]]\nid = "my-broken"\nkind = "rename-everything"\nsummary = "x"\nwhy = "x"\nsafety = "safe"\n'


# --- helpers ---------------------------------------------------------------------------------


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


def lines_naming(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if name in line]


def in_place(cli: Cli, tree: Path) -> dict[str, bytes]:
    """Migrate a copy of `tree` in place; returns the result (what --diff / --output must match)."""
    copy = tree.with_name(tree.name + "-in-place")
    shutil.copytree(tree, copy, symlinks=True)
    assert cli("migrate", copy, "-j", "1").exit_code == 0
    return snapshot(copy)


def ported_snapshot(tmp_path: Path) -> dict[str, bytes]:
    return snapshot(example_tree(tmp_path / "expected-ported", "ported"))


def read_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def without_elapsed(report: dict[str, Any]) -> dict[str, Any]:
    report["summary"].pop("elapsed_seconds")
    return report


def terminal_numbers(text: str) -> dict[str, Any]:
    """The numbers of the terminal summary, parsed back."""
    head = re.search(r"(\d+) files scanned, (\d+) [a-z ]+, (\d+) unchanged, (\d+) failed", text)
    assert head, text
    numbers: dict[str, Any] = dict(zip(("files_scanned", "files_changed", "files_unchanged", "files_failed"),
                                       map(int, head.groups())))
    for key, title in (("changes", "Changes by rule"), ("manual_items", "Manual items by rule")):
        match = re.search(rf"^{title} \((\d+)\):\n((?:  .*\n)*)", text, re.MULTILINE)
        assert match, text
        numbers[key] = int(match.group(1))
        rows = [line.split() for line in match.group(2).splitlines() if line.strip() != "(none)"]
        numbers[f"{key}_by_rule"] = {name: int(count) for name, count in rows}
    return numbers


def mixed_tree(root: Path) -> Path:
    """~20 files: five copies of the examples, byte-sensitive files and a broken one."""
    for i in range(5):
        example_tree(root / f"copy{i}")
    for name, data in NO_CHANGE.items():
        write(root / "tricky" / name, data)
    write(root / "tricky" / "crlf_change.py", CRLF_CHANGE)
    write(root / "broken" / "syntax.py", SYNTAX_ERROR)
    return root


# --- in place --------------------------------------------------------------------------------


def test_in_place_gives_the_ported_examples_and_a_second_run_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    tree = example_tree(tmp_path / "src")
    ported = ported_snapshot(tmp_path)
    first = cli("migrate", tree)
    assert first.exit_code == 0, first.output
    assert f"{len(EXAMPLE_NAMES)} files scanned, {len(EXAMPLE_NAMES)} changed" in first.stdout
    assert snapshot(tree) == ported

    second = cli("migrate", tree)
    assert second.exit_code == 0, second.output
    assert f"{len(EXAMPLE_NAMES)} files scanned, 0 changed" in second.stdout
    assert "Changes by rule (0)" in second.stdout
    assert snapshot(tree) == ported


def test_console_script_migrates_end_to_end(tmp_path: Path) -> None:
    script = shutil.which("portkit")
    assert script, "the `portkit` console script is not on PATH (pip install -e .)"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("portkit 0.1.0 (ports to torch_npu ")
    shutil.copytree(EXAMPLES / "mnist" / "original", tmp_path / "mnist")
    done = subprocess.run([script, "migrate", "mnist"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mnist" / "train.py").read_bytes() == (EXAMPLES / "mnist" / "ported" / "train.py").read_bytes()
    assert "mnist/train.py:" in done.stdout  # the manual item, listed for a person


def test_python_dash_m_portkit(tmp_path: Path) -> None:
    done = run_portkit("rules", "show", "cuda-api", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"## cuda-api")


# --- --diff ----------------------------------------------------------------------------------

DIFF_TREES = {
    "examples": example_tree,
    "crlf-and-no-final-newline": lambda root: [write(root / "crlf.py", CRLF_CHANGE),
                                               write(root / "last.py", NO_FINAL_NEWLINE_CHANGE)],
    "utf8-bom": lambda root: write(root / "bom.py", BOM_CHANGE),
    "latin1-cookie": lambda root: write(root / "latin1.py", LATIN1_CHANGE),
    "path-with-spaces": lambda root: write(root / "my scripts" / "train model.py", GOOD),
}


@pytest.mark.parametrize("kind", DIFF_TREES)
def test_diff_changes_nothing_and_applies_with_git_and_patch(cli: Cli, tmp_path: Path, kind: str) -> None:
    patch_program = shutil.which("patch")
    if patch_program is None:
        pytest.fail("the `patch` program is not installed (Debian package `patch`): cannot check `patch -p1`")
    src = tmp_path / "src"
    src.mkdir()
    DIFF_TREES[kind](src)
    before = snapshot(src)
    expected = in_place(cli, src)
    assert expected != before

    done = run_portkit("migrate", ".", "--diff", cwd=src)  # a real process: stdout exactly as `> fix.patch`
    assert done.returncode == 0, done.stderr
    assert snapshot(src) == before
    patch = done.stdout
    assert patch.startswith(b"--- a/")
    assert all(line[:1] in (b"-", b"+", b" ", b"@", b"\\") for line in patch.splitlines()), patch
    assert b"portkit migrate" in done.stderr and b"would change" in done.stderr
    (tmp_path / "fix.patch").write_bytes(patch)

    with_git = tmp_path / "git-apply"
    shutil.copytree(src, with_git)
    git(with_git, "init", "-q")
    applied = subprocess.run(["git", "-C", str(with_git), "apply", "--verbose", str(tmp_path / "fix.patch")],
                             capture_output=True, text=True, check=False)
    assert applied.returncode == 0, applied.stderr
    assert snapshot(with_git) == expected

    with_patch = tmp_path / "patch-p1"
    shutil.copytree(src, with_patch)
    patched = subprocess.run([patch_program, "-p1", "--batch", "--fuzz=0", "-i", str(tmp_path / "fix.patch")],
                             cwd=with_patch, capture_output=True, text=True, check=False)
    assert patched.returncode == 0, patched.stdout + patched.stderr
    assert snapshot(with_patch) == expected


# --- --output --------------------------------------------------------------------------------


def test_output_writes_a_complete_ported_copy(cli: Cli, tmp_path: Path) -> None:
    src = example_tree(tmp_path / "src")
    write(src / "README.md", "# my project\nruns on cuda\n")
    write(src / "data" / "weights.bin", bytes(range(256)) * 4)
    write(src / "configs" / ".hidden.yaml", "device: cuda\n")
    write(src / "tools" / "run.py", "#!/usr/bin/env python\n" + GOOD, mode=0o755)
    write(src / "tools" / "plain.py", "x = 1\n")
    before = snapshot(src)
    expected = in_place(cli, src)

    result = cli("migrate", src, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "changed in the copy" in result.stdout
    assert snapshot(src) == before
    assert snapshot(tmp_path / "out") == expected
    assert {k: v for k, v in expected.items() if k.split("/")[0] in EXAMPLE_NAMES} == ported_snapshot(tmp_path)
    assert stat.S_IMODE((tmp_path / "out" / "tools" / "run.py").stat().st_mode) == 0o755


@pytest.mark.parametrize("where", ["inside-source", "non-empty", "a-file"])
def test_output_refuses_bad_targets(cli: Cli, tmp_path: Path, where: str) -> None:
    src = example_tree(tmp_path / "src")
    out = {"inside-source": src / "ported", "non-empty": tmp_path / "out", "a-file": tmp_path / "out.txt"}[where]
    if where == "non-empty":
        write(out / "keep.txt", "mine\n")
    if where == "a-file":
        write(out, "mine\n")
    before_src, before_out = snapshot(src), snapshot(tmp_path)
    result = cli("migrate", src, "--output", out)
    assert result.exit_code == 2, result.output
    assert out.name in one_line(result.stderr)
    assert result.stdout == ""
    assert snapshot(src) == before_src and snapshot(tmp_path) == before_out


# --- --dry-run -------------------------------------------------------------------------------


def test_dry_run_changes_nothing_and_prints_the_summary(cli: Cli, tmp_path: Path) -> None:
    src = example_tree(tmp_path / "src")
    before = snapshot(src)
    result = cli("migrate", src, "--dry-run")
    assert result.exit_code == 0, result.output
    assert snapshot(src) == before
    assert f"{len(EXAMPLE_NAMES)} files scanned, {len(EXAMPLE_NAMES)} would change" in result.stdout
    assert "Changes by rule (" in result.stdout and "Manual items by rule (" in result.stdout
    assert "--- a/" not in result.stdout


# --- git: refusing to overwrite uncommitted work ---------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.fail("git is not installed: the dirty-tree refusal cannot be tested")
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "mnist" / "original", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "original")
    return root


def test_dirty_file_is_refused_unless_allowed(cli: Cli, repo: Path) -> None:
    train = repo / "train.py"
    train.write_bytes(train.read_bytes() + b"# my uncommitted edit\n")
    edited = train.read_bytes()

    refused = cli("migrate", repo)
    assert refused.exit_code == 2, refused.output
    line = one_line(refused.stderr)
    assert "--allow-dirty" in line and "train.py" in line
    assert refused.stdout == ""
    assert train.read_bytes() == edited

    allowed = cli("migrate", repo, "--allow-dirty")
    assert allowed.exit_code == 0, allowed.output
    ported = (EXAMPLES / "mnist" / "ported" / "train.py").read_bytes()
    assert train.read_bytes() == ported + b"# my uncommitted edit\n"


def test_clean_committed_file_is_migrated_without_the_flag(cli: Cli, repo: Path) -> None:
    result = cli("migrate", repo)
    assert result.exit_code == 0, result.output
    assert (repo / "train.py").read_bytes() == (EXAMPLES / "mnist" / "ported" / "train.py").read_bytes()


# --- bad input -------------------------------------------------------------------------------

BAD_FILES = {
    "syntax-error": (lambda p: write(p, SYNTAX_ERROR), "syntax error at line 2"),
    "python2-print": (lambda p: write(p, b'import torch\nprint "x", torch.cuda.is_available()\n'), "Python 2"),
    "binary": (lambda p: write(p, b"import torch\0\x01\x02 torch.cuda\n"), "binary file"),
    "non-utf8-no-cookie": (lambda p: write(p, b"import torch\n# caf\xe9\nx = torch.cuda.is_available()\n"),
                           "cannot decode as utf-8"),
    "broken-symlink": (lambda p: os.symlink("missing.py", p), "broken symlink"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_file_fails_alone_and_is_left_untouched(cli: Cli, tmp_path: Path, kind: str) -> None:
    make, message = BAD_FILES[kind]
    tree = tmp_path / "src"
    write(tree / "a_good.py", GOOD)
    make(tree / "bad.py")
    write(tree / "z_good.py", GOOD)
    before = os.readlink(tree / "bad.py") if kind == "broken-symlink" else (tree / "bad.py").read_bytes()

    result = cli("migrate", "src", "-j", "1", "--report", "r.json")
    assert result.exit_code == 1, result.output
    line = one_line("\n".join(lines_naming(result.stdout, "bad.py")))
    assert line.strip().startswith("src/bad.py: ") and message in line, line
    assert (tree / "a_good.py").read_text() == GOOD_PORTED and (tree / "z_good.py").read_text() == GOOD_PORTED
    after = os.readlink(tree / "bad.py") if kind == "broken-symlink" else (tree / "bad.py").read_bytes()
    assert after == before
    assert sorted(p.name for p in tree.iterdir()) == ["a_good.py", "bad.py", "z_good.py"]
    report = read_report(tmp_path / "r.json")
    reasons = [f["error"] for f in report["files"] if f["path"] == "src/bad.py"]
    reasons += [p["reason"] for p in report["problems"] if p["path"] == "src/bad.py"]
    assert len(reasons) == 1 and message in reasons[0]


def test_unreadable_file_fails_alone(tmp_path: Path) -> None:
    """chmod 000 does not stop root from reading. As root, portkit runs under `setpriv` with
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from its bounding set, so the kernel really
    refuses the read (still uid 0, so it can write its own files); the probe below proves it."""
    tree = tmp_path / "src"
    write(tree / "a_good.py", GOOD)
    bad = write(tree / "bad.py", GOOD, mode=0o000)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("running as root and `setpriv` (util-linux) is missing: cannot make a file unreadable")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    try:
        probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(bad)!r}, 'rb').read()"],
                               capture_output=True, text=True, check=False)
        assert "PermissionError" in probe.stderr, f"could not make the file unreadable: {probe.stderr.strip()!r}"
        done = run_portkit("migrate", tree, "-j", "1", cwd=tmp_path, prefix=prefix)
    finally:
        bad.chmod(0o644)
    assert done.returncode == 1, done.stdout + done.stderr
    line = one_line("\n".join(lines_naming(done.stdout.decode(), "bad.py")))
    assert "src/bad.py: unreadable: Permission denied" in line
    assert bad.read_text() == GOOD and (tree / "a_good.py").read_text() == GOOD_PORTED


@pytest.mark.parametrize("args, names", [
    (("migrate", "nope.py"), "nope.py"),
    (("migrate", "src", "--select", "cuda-api,no-such-rule"), "no-such-rule"),
    (("migrate", "src", "--ignore", "no-such-rule"), "no-such-rule"),
    (("migrate", "src", "--report", "r.txt"), "r.txt"),
    (("migrate", "src", "--diff", "--dry-run"), "--diff"),
], ids=["missing-path", "unknown-select", "unknown-ignore", "report-format", "two-modes"])
def test_usage_errors_exit_2_with_one_line(cli: Cli, tmp_path: Path, args: tuple[str, ...], names: str) -> None:
    src = example_tree(tmp_path / "src")
    before = snapshot(src)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert names in one_line(result.stderr)
    assert result.stdout == ""
    assert snapshot(src) == before


def test_review_reports_from_migrate_and_from_the_json(cli: Cli, tmp_path: Path) -> None:
    import csv
    import json
    import re

    src = example_tree(tmp_path / "src")
    result = cli("migrate", "src", "-j", "1", "--report", "r.json", "--report", "r.html",
                 "--report", "pr.md", "--report", "csv/")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["summary"]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    blocks = dict(re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page, re.DOTALL))
    assert json.loads(blocks["portkit-summary"]) == summary
    assert f"**{summary['files_scanned']}** files scanned" in (tmp_path / "pr.md").read_text(encoding="utf-8")
    with open(tmp_path / "csv" / "change_list.csv", encoding="utf-8", newline="") as stream:
        assert len(list(csv.reader(stream))) == summary["changes"] + 1
    # in place, the files were rewritten; the page still has full hunks (context lines) of the originals
    rows = [row for hunk in json.loads(blocks["portkit-file-0"])["h"] for row in hunk[4]]
    assert any(row[0] == 0 for row in rows)
    assert any(row[0] == 1 and "torch.cuda" in "".join(t if isinstance(t, str) else t[1] for t in row[3])
               for row in rows)

    again = cli("report", "r.json", "-o", "again.html", "-o", "again.md", "-o", "again/")
    assert again.exit_code == 0, again.output
    blocks = dict(re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>',
                             (tmp_path / "again.html").read_text(encoding="utf-8"), re.DOTALL))
    assert json.loads(blocks["portkit-summary"]) == summary
    assert (tmp_path / "again.md").read_text(encoding="utf-8") == (tmp_path / "pr.md").read_text(encoding="utf-8")
    for name in ("change_list.csv", "unsupported_api.csv", "api_performance_advice.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "csv" / name).read_bytes()


@pytest.mark.parametrize("args, names", [
    (("report", "missing.json", "-o", "r.html"), "missing.json"),
    (("report", "r.json", "-o", "r.txt"), "r.txt"),
    (("report", "notjson.json", "-o", "r.html"), "notjson.json"),
    (("report", "old.json", "-o", "r.html"), "schema version"),
], ids=["missing", "unknown-format", "not-json", "old-schema"])
def test_report_command_usage_errors(cli: Cli, tmp_path: Path, args: tuple[str, ...], names: str) -> None:
    (tmp_path / "r.json").write_text('{"schema_version": 1}', encoding="utf-8")
    (tmp_path / "notjson.json").write_text("{", encoding="utf-8")
    (tmp_path / "old.json").write_text('{"schema_version": 0}', encoding="utf-8")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert names in one_line(result.stderr)
    assert not (tmp_path / "r.html").exists()


def test_unknown_option_exits_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("migrate", "--frobnicate", ".")
    assert result.exit_code == 2
    assert "No such option" in result.stderr and "--frobnicate" in result.stderr


def test_malformed_rule_folder_exits_2_naming_file_and_rule(cli: Cli, tmp_path: Path) -> None:
    src = example_tree(tmp_path / "src")
    write(tmp_path / "myrules" / "broken.toml", MALFORMED_RULE)
    before = snapshot(src)
    result = cli("migrate", src, "--rules", tmp_path / "myrules")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "broken.toml" in line and "my-broken" in line and "rename-everything" in line
    assert snapshot(src) == before


# --- bytes -----------------------------------------------------------------------------------


def test_files_needing_no_change_stay_byte_identical(cli: Cli, tmp_path: Path) -> None:
    tree = tmp_path / "src"
    for name, data in NO_CHANGE.items():
        write(tree / name, data)
    result = cli("migrate", tree, "-j", "1")
    assert result.exit_code == 0, result.output
    assert f"{len(NO_CHANGE)} files scanned, 0 changed, {len(NO_CHANGE)} unchanged" in result.stdout
    assert snapshot(tree) == NO_CHANGE


def test_crlf_file_keeps_crlf_everywhere(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "src" / "crlf_change.py", CRLF_CHANGE)
    assert cli("migrate", path).exit_code == 0
    data = path.read_bytes()
    assert data == b'import torch\r\nimport torch_npu\r\nx = torch.npu.is_available()\r\ndevice = torch.device("npu")\r\n'
    assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r")


@pytest.mark.parametrize("original, expected", [
    (BOM_CHANGE, b"\xef\xbb\xbfimport torch\nimport torch_npu\nx = torch.npu.is_available()\n"),
    (LATIN1_CHANGE, b"# -*- coding: latin-1 -*-\nimport torch\nimport torch_npu\nname = 'caf\xe9'\n"
                    b"x = torch.npu.is_available()\n"),
    (NO_FINAL_NEWLINE_CHANGE, b"import torch\nimport torch_npu\nok = torch.npu.is_available()"),
], ids=["utf8-bom", "latin1-cookie", "no-final-newline"])
def test_rewrite_keeps_encoding_and_last_line(cli: Cli, tmp_path: Path, original: bytes, expected: bytes) -> None:
    path = write(tmp_path / "src" / "f.py", original)
    assert cli("migrate", path).exit_code == 0
    assert path.read_bytes() == expected


def test_mode_bits_survive_in_place_rewrite(cli: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "src" / "run.py", "#!/usr/bin/env python\n" + GOOD, mode=0o755)
    assert cli("migrate", script).exit_code == 0
    assert script.read_text() == "#!/usr/bin/env python\n" + GOOD_PORTED
    assert stat.S_IMODE(script.stat().st_mode) == 0o755


# --- jobs and reports ------------------------------------------------------------------------


def test_jobs_do_not_change_the_result(cli: Cli, tmp_path: Path) -> None:
    runs = {}
    for jobs in ("1", "2"):
        where = tmp_path / f"j{jobs}"
        tree = mixed_tree(where / "tree")
        assert len(snapshot(tree)) >= 20
        result = cli("migrate", "tree", "-j", jobs, "--report", "r.json", cwd=where)
        assert result.exit_code == 1, result.output  # broken/syntax.py
        runs[jobs] = (snapshot(tree), without_elapsed(read_report(where / "r.json")),
                      re.sub(r"\(\d+\.\d+ s\)", "", result.stdout))
    assert runs["1"] == runs["2"]
    assert runs["1"][1]["summary"]["files_changed"] == 5 * len(EXAMPLE_NAMES) + 1


def test_report_file_matches_terminal_summary(cli: Cli, tmp_path: Path) -> None:
    tree = mixed_tree(tmp_path / "tree")
    result = cli("migrate", tree, "--dry-run", "--report", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    summary = read_report(tmp_path / "r.json")["summary"]
    shown = terminal_numbers(result.stdout)
    assert shown == {key: summary[key] for key in shown}
    assert shown["changes"] > 0 and shown["manual_items"] > 0 and shown["files_failed"] == 1


@pytest.mark.parametrize("options, present, absent", [
    # the import rule comes along with a rule whose changes need it
    (("--select", "cuda-api"), {"cuda-api", "torch-npu-import"}, {"device-string"}),
    (("--ignore", "device-string,torch-npu-import"), {"cuda-api"}, {"device-string", "torch-npu-import"}),
    (("--select", "cuda-api,device-string", "--ignore", "device-string"), {"cuda-api"}, {"device-string"}),
    (("--select", "cuda-api", "--ignore", "device-string"), {"cuda-api"}, {"device-string"}),
], ids=["select", "ignore", "select-and-ignore", "ignore-outside-select"])
def test_select_and_ignore(cli: Cli, tmp_path: Path, options: tuple[str, ...], present: set[str],
                           absent: set[str]) -> None:
    example_tree(tmp_path / "src")
    result = cli("migrate", "src", "--dry-run", "--report", "r.json", *options)
    assert result.exit_code == 0, result.output
    by_rule = set(read_report(tmp_path / "r.json")["summary"]["changes_by_rule"])
    assert present <= by_rule and not (absent & by_rule)


# --- portkit rules ---------------------------------------------------------------------------


def test_rules_lists_every_rule_id(cli: Cli) -> None:
    ids = [rule["id"] for path in sorted((REPO / "rules").glob("*.toml"))
           for rule in tomllib.loads(path.read_text(encoding="utf-8")).get("rule", [])]
    result = cli("rules")
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert sorted(listed) == sorted(ids) and len(ids) == len(set(ids)) > 0


def test_rules_show(cli: Cli) -> None:
    result = cli("rules", "show", "device-string")
    assert result.exit_code == 0, result.output
    assert "## device-string" in result.stdout
    assert "What it does" in result.stdout and "Fix safety" in result.stdout

    unknown = cli("rules", "show", "no-such-rule")
    assert unknown.exit_code == 2
    assert "no-such-rule" in one_line(unknown.stderr)


def test_rules_test_and_user_rules(cli: Cli, tmp_path: Path) -> None:
    good = write(tmp_path / "good" / "mine.toml", USER_RULE).parent
    result = cli("rules", "test", good)
    assert result.exit_code == 0, result.output
    assert "1 rule, 2 examples: 0 failed" in result.stdout

    listed = cli("rules", "--rules", good)
    assert listed.exit_code == 0 and "my-stream" in listed.stdout
    code = write(tmp_path / "src" / "s.py", "s = dev.cuda_stream()\n")
    migrated = cli("migrate", code, "--rules", good, "--select", "my-stream")
    assert migrated.exit_code == 0, migrated.output
    assert code.read_text() == "import torch_npu\ns = dev.npu_stream()\n"  # a fix needs the import


def test_rules_test_reports_a_wrong_example(cli: Cli, tmp_path: Path) -> None:
    wrong = write(tmp_path / "wrong" / "mine.toml", WRONG_USER_RULE).parent
    result = cli("rules", "test", wrong)
    assert result.exit_code == 1, result.output
    assert "my-stream example 2" in result.stdout
    assert "my-stream example 1" not in result.stdout
    assert "1 rule, 2 examples: 1 failed" in result.stdout


def test_rules_test_malformed_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    folder = write(tmp_path / "bad" / "broken.toml", MALFORMED_RULE).parent
    result = cli("rules", "test", folder)
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "broken.toml" in line and "my-broken" in line


def test_output_copy_keeps_symlinks_and_build_folders(cli: Cli, tmp_path: Path) -> None:
    src = example_tree(tmp_path / "src")
    write(src / "data.txt", "numbers\n")
    (src / "link.txt").symlink_to("data.txt")
    write(src / "build" / "generated.txt", "made by a build\n")
    result = cli("migrate", src, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert (out / "link.txt").is_symlink() and os.readlink(out / "link.txt") == "data.txt"
    assert (out / "build" / "generated.txt").read_text() == "made by a build\n"


def test_diff_of_a_folder_outside_the_working_folder_applies_from_that_folder(tmp_path: Path) -> None:
    src = example_tree(tmp_path / "src")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_portkit("migrate", src, "--diff", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert b"--- a/mnist/train.py" in done.stdout
    applied = subprocess.run(["patch", "-p1"], input=done.stdout, cwd=src, capture_output=True)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (src / "mnist" / "train.py").read_bytes() == (EXAMPLES / "mnist" / "ported" / "train.py").read_bytes()


def test_problem_paths_are_shown_like_file_paths(cli: Cli, tmp_path: Path) -> None:
    src = example_tree(tmp_path / "src")
    (src / "broken.py").symlink_to("missing.py")
    result = cli("migrate", src, "--dry-run", "--report", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    paths = [f["path"] for f in report["files"]] + [p["path"] for p in report["problems"]]
    assert len({os.path.isabs(p) for p in paths}) == 1, paths


def test_fix_deps_rewrites_dependency_files_only_when_asked(cli: Cli, tmp_path: Path) -> None:
    source = REPO / "tests" / "data" / "deps"
    work = tmp_path / "deps"
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("fixed"))
    before = (work / "requirements.txt").read_bytes()
    reported = cli("migrate", "--allow-dirty", work / "requirements.txt")
    assert reported.exit_code == 0, reported.output
    assert (work / "requirements.txt").read_bytes() == before  # reported, not rewritten
    assert "torch-pin" in reported.stdout
    fixed = cli("migrate", "--allow-dirty", "--fix-deps", work / "requirements.txt")
    assert fixed.exit_code == 0, fixed.output
    assert (work / "requirements.txt").read_bytes() == (source / "fixed" / "requirements.txt").read_bytes()


# --- habits carried from ruff: every id portkit prints can be shown, close misses are named ----


@pytest.mark.parametrize("rule_id", ["unused-suppression", "unknown-suppression", "shim-entry", "cuda-op-call"])
def test_rules_show_knows_every_id_portkit_prints(rule_id):
    result = CliRunner().invoke(main, ["rules", "show", rule_id])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"## {rule_id}\n")


def test_rules_show_suggests_the_closest_id():
    result = CliRunner().invoke(main, ["rules", "show", "device-strng"])
    assert result.exit_code == 2
    assert "did you mean 'device-string'?" in result.output


def test_rules_show_takes_user_rules_after_the_id():
    rules = Path(__file__).resolve().parents[1] / "docs" / "examples" / "rules"
    result = CliRunner().invoke(main, ["rules", "show", "acme-device-utils", "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert "acme.cuda_utils.X becomes acme.npu_utils.X" in result.output


def test_version_names_the_torch_npu_releases():
    from portkit.ruleset.npu_api import available_versions

    result = CliRunner().invoke(main, ["--version"])
    releases = available_versions()
    assert result.output.strip() == (f"portkit {__version__} (ports to torch_npu {releases[-1]} by default; "
                                     f"--torch-npu knows {', '.join(releases)})")


def test_counted_says_it_in_english():
    from portkit.model import counted

    assert [counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert counted(1, "match", "matches") == "1 match" and counted(3, "match", "matches") == "3 matches"
    assert counted(6205, "result") == "6,205 results"  # grouped like the other large counts
