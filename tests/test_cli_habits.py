"""Habits a ruff user brings, and what a run says when it ends (issue 13).

`-o/--output-file` and `--output-format` (the old `-o FORMAT` for one release), `--color` /
NO_COLOR / FORCE_COLOR, `--statistics`, `--extend-select/--extend-ignore`, the "N fixable"
hint, did-you-mean for what a user types, real plurals, the progress verb of each mode, and
after a migration: the reports it wrote, the no-undo notice and the next steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from portkit.cli import main
from portkit.cli.check import FORMATS, resolve_output
from portkit.cli.common import PortkitUsageError, color_setting, progress_line
from portkit.cli.migrate import PROGRESS_VERBS
from portkit.cli.settings import merged, suggest_version
from portkit.model import Report
from portkit.reports.next_steps import CANN_SET_ENV, TORCH_CPU_INDEX, next_steps
from portkit.ruleset.npu_api import available_versions, load_npu_api

from conftest import EXAMPLES, REPO, git, write

SMALL = 'import torch\nx = torch.device("cuda")\ntorch.backends.cudnn.benchmark = True\n'
ANSI = "\x1b["


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A project with its own (empty) portkit.toml, so no configuration above leaks in."""
    root = tmp_path / "proj"
    write(root / "portkit.toml", "")
    write(root / "t.py", SMALL)
    return root


def run(cwd: Path, *args: object, env: dict[str, str | None] | None = None, color: bool = False) -> Result:
    """The CLI in-process from `cwd`; `color=True` makes click keep styling as for a terminal.
    NO_COLOR and FORCE_COLOR are unset unless `env` sets them."""
    environment: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None, **(env or {})}
    before = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, color=color,
                                  env=environment)
    finally:
        os.chdir(before)


def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


# --- -o is the output file; --output-format the format -----------------------------------------


def test_dash_o_names_the_output_file(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "-o", "findings.txt", "--output-format", "json", "t.py")
    assert result.exit_code == 1 and result.stdout == "" and result.stderr == ""
    assert json.loads((proj / "findings.txt").read_text(encoding="utf-8"))["summary"]["findings"] == 3


def test_old_dash_o_format_still_works_with_a_note(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "-o", "json", "t.py")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["summary"]["findings"] == 3  # the format, not a file called json
    assert not (proj / "json").exists()
    note = result.stderr.strip()
    assert note.startswith("portkit: warning: `-o json` for the output format is deprecated") and "\n" not in note
    assert "--output-format json" in note


def test_old_spelling_with_output_file_still_works(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "-o", "sarif", "--output-file", "portkit.sarif", "t.py")
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads((proj / "portkit.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"
    assert "`-o sarif`" in result.stderr


def test_a_format_name_is_a_file_once_the_format_is_given(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "--output-format", "text", "-o", "json", "t.py")
    assert result.exit_code == 1 and result.stderr == ""
    assert "Found 3 findings" in (proj / "json").read_text(encoding="utf-8")


@pytest.mark.parametrize(("values", "fmt", "expected"), [
    ((), None, ("text", None, 0)),
    (("out.json",), None, ("text", Path("out.json"), 0)),
    (("json",), None, ("json", None, 1)),
    (("sarif", "x.sarif"), None, ("sarif", Path("x.sarif"), 1)),
    (("x.sarif", "sarif"), None, ("sarif", Path("x.sarif"), 1)),
    (("json",), "junit", ("junit", Path("json"), 0)),
    (("./json",), None, ("text", Path("json"), 0)),
])
def test_resolve_output(values: tuple[str, ...], fmt: str | None, expected: tuple[str, Path | None, int]) -> None:
    chosen, file, notes = resolve_output(values, fmt)
    assert (chosen, file, len(notes)) == expected


def test_two_output_files_are_refused() -> None:
    with pytest.raises(PortkitUsageError, match=r"names one file, got 2 \(a.txt, b.txt\)"):
        resolve_output(("a.txt", "b.txt"), None)


def test_cli_formats_are_the_renderers() -> None:
    from portkit.reports.check_formats import FORMATS as RENDERED

    assert FORMATS == RENDERED


# --- colour ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "environ", "expected"), [
    (None, {}, None), ("auto", {}, None), ("always", {}, True), ("never", {}, False),
    (None, {"NO_COLOR": "1"}, False), (None, {"NO_COLOR": ""}, None), (None, {"FORCE_COLOR": "1"}, True),
    (None, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False), ("always", {"NO_COLOR": "1"}, True),
    ("never", {"FORCE_COLOR": "1"}, False),
])
def test_color_setting(flag: str | None, environ: dict[str, str], expected: bool | None) -> None:
    assert color_setting(flag, environ) is expected


@pytest.mark.parametrize(("args", "env", "terminal", "styled"), [
    ((), {}, True, True),
    ((), {}, False, False),
    ((), {"NO_COLOR": "1"}, True, False),
    ((), {"FORCE_COLOR": "1"}, False, True),
    (("--color", "never"), {}, True, False),
    (("--color", "always"), {}, False, True),
    (("--color", "always"), {"NO_COLOR": "1"}, False, True),
])
def test_color_follows_flag_environment_and_terminal(proj: Path, args: tuple[str, ...], env: dict[str, str],
                                                     terminal: bool, styled: bool) -> None:
    result = run(proj, *args, "check", "-j", "1", "t.py", env=env, color=terminal)
    assert result.exit_code == 1
    assert (ANSI in result.stdout) is styled
    assert click.unstyle(result.stdout) == run(proj, "check", "-j", "1", "t.py").stdout


def test_forced_colour_never_reaches_an_output_file(proj: Path) -> None:
    result = run(proj, "--color", "always", "check", "-j", "1", "-o", "out.txt", "t.py")
    assert result.exit_code == 1 and ANSI not in (proj / "out.txt").read_text(encoding="utf-8")


def test_unknown_colour_suggests(proj: Path) -> None:
    line = error_line(run(proj, "--color", "nevr", "check", "t.py"))
    assert line == "portkit: error: unknown --color 'nevr'; did you mean 'never'? (choose from auto, always, never)"


# --- --statistics and the fixable hint ------------------------------------------------------------


def test_statistics_counts_per_rule_with_a_fixable_marker(proj: Path) -> None:
    write(proj / "u.py", SMALL)
    result = run(proj, "check", "-j", "1", "--statistics", ".")
    assert result.exit_code == 1
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=3) for line in result.stdout.splitlines()[:3]]
    assert [row[:3] for row in rows] == [["2", "cudnn-flags", "[ ]"], ["2", "device-string", "[*]"],
                                         ["2", "torch-npu-import", "[*]"]]
    assert rows[1][3].startswith('"cuda"')  # the rule's summary
    assert result.stdout.splitlines()[3:] == [
        "Found 6 findings (4 fixable, 2 manual) in 2 files.",
        "4 fixable with `portkit migrate` (`portkit migrate --diff` shows the patch)."]


def test_statistics_as_json_and_refused_for_other_formats(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "--statistics", "--output-format", "json", "t.py")
    data = json.loads(result.stdout)
    assert {(row["rule"], row["count"], row["fixable"]) for row in data} == {
        ("cudnn-flags", 1, False), ("device-string", 1, True), ("torch-npu-import", 1, True)}
    assert all(row["summary"] for row in data)
    line = error_line(run(proj, "check", "--statistics", "--output-format", "sarif", "t.py"))
    assert line == "portkit: error: --statistics prints text or json, not sarif"


def test_no_hint_without_fixable_findings(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "--severity", "manual", "t.py")
    assert result.exit_code == 1 and "fixable with" not in result.stdout


def test_check_says_needed_not_added(proj: Path) -> None:
    result = run(proj, "check", "-j", "1", "t.py")
    assert "t.py:2:1: torch-npu-import import torch_npu needed (fixable)" in result.stdout
    assert "added" not in result.stdout


def test_sarif_over_code_scannings_limit_warns_on_stderr(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from portkit.reports import check_formats

    monkeypatch.setattr(check_formats, "SARIF_KEPT_RESULTS", 2)
    result = run(proj, "check", "-j", "1", "--output-format", "sarif", "t.py")
    assert len(json.loads(result.stdout)["runs"][0]["results"]) == 3  # kept: under the hard limit
    assert result.stderr == ("portkit: warning: 3 SARIF results: GitHub code scanning keeps only the 2 most severe "
                             "of a run (manual items first); `--severity manual` uploads only the 1 manual item, "
                             "or record a --baseline and upload only new findings\n")
    monkeypatch.setattr(check_formats, "SARIF_MAX_RESULTS", 2)
    result = run(proj, "check", "-j", "1", "--output-format", "sarif", "t.py")
    assert len(json.loads(result.stdout)["runs"][0]["results"]) == 2
    assert "rejects a run of more than 2, so the log keeps 2" in result.stderr
    assert run(proj, "check", "-j", "1", "--output-format", "json", "t.py").stderr == ""  # only SARIF is capped


# --- --extend-select / --extend-ignore --------------------------------------------------------------


@pytest.mark.parametrize(("given", "given_extend", "configured", "configured_extend", "empty_is_all", "expected"), [
    ((), (), (), (), True, ()),
    ((), ("amp",), (), (), True, ()),  # every rule is selected already
    ((), ("amp",), ("devices",), (), True, ("devices", "amp")),
    ((), (), ("devices",), ("amp",), True, ("devices", "amp")),
    (("tensor",), ("amp",), ("devices",), ("env",), True, ("tensor", "amp")),  # --select replaces the file's
    ((), ("amp",), (), (), False, ("amp",)),  # an ignore list starts empty
    ((), ("amp",), ("env",), ("env",), False, ("env", "amp")),
])
def test_merged_selectors(given: tuple[str, ...], given_extend: tuple[str, ...], configured: tuple[str, ...],
                          configured_extend: tuple[str, ...], empty_is_all: bool, expected: tuple[str, ...]) -> None:
    assert merged(given, given_extend, configured, configured_extend, empty_is_all=empty_is_all) == expected


def rules_found(proj: Path, *args: str) -> set[str]:
    result = run(proj, "check", "-j", "1", "--output-format", "json", *args, "t.py")
    assert result.exit_code in (0, 1), result.output
    return {finding["rule"] for finding in json.loads(result.stdout)["findings"]}


def test_extend_options_on_the_command_line_and_in_the_configuration(proj: Path) -> None:
    everything = {"torch-npu-import", "device-string", "cudnn-flags"}
    assert rules_found(proj) == everything
    assert rules_found(proj, "--extend-ignore", "cudnn-flags") == everything - {"cudnn-flags"}
    write(proj / "portkit.toml", 'ignore = ["cudnn-flags"]\n')
    assert rules_found(proj, "--extend-ignore", "device-string") == set()  # no change left to need the import
    assert rules_found(proj, "--ignore", "device-string") == {"cudnn-flags"}  # replaces the file's ignore
    write(proj / "portkit.toml", 'select = ["cudnn-flags"]\nextend-select = ["device-string"]\n')
    assert rules_found(proj) == everything  # device-string brings the import it needs
    assert rules_found(proj, "--extend-ignore", "torch-npu-import") == {"device-string", "cudnn-flags"}
    write(proj / "portkit.toml", 'extend-ignore = ["manual"]\n')
    assert rules_found(proj) == everything - {"cudnn-flags"}
    assert rules_found(proj, "--select", "ALL") == everything - {"cudnn-flags"}  # --select keeps the ignores


def test_migrate_takes_the_extend_options(tmp_path: Path) -> None:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "t.py", SMALL)
    result = run(tmp_path, "migrate", "--dry-run", "--extend-ignore", "devices", "--report", "r.json", "t.py")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert "device-string" not in report["rules"] and "cudnn-flags" in report["rules"]


# --- did you mean -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (("--select", "devce-string"), "unknown rule id or group 'devce-string'; did you mean 'device-string'?"),
    (("--ignore", "tensr"), "unknown rule id or group 'tensr'; did you mean 'tensor'?"),
    (("--extend-select", "mannual"), "unknown rule id or group 'mannual'; did you mean 'manual'?"),
    (("--extend-ignore", "nothing-like-it"), "unknown rule id or group 'nothing-like-it' (see `portkit rules`)"),
    (("--torch-npu", "2.6"), "unknown torch_npu version '2.6'; did you mean '2.6.0'? (known: "),
    (("--target", "acelerator"), "unknown --target 'acelerator'; did you mean 'accelerator'? (choose from npu, "
                                 "accelerator)"),
    (("--severity", "manuel"), "unknown --severity 'manuel'; did you mean 'manual'?"),
])
def test_what_a_user_types_wrong_gets_a_suggestion(proj: Path, args: tuple[str, ...], expected: str) -> None:
    assert expected in error_line(run(proj, "check", *args, "t.py"))


def test_per_file_ignores_suggest_too(proj: Path) -> None:
    write(proj / "portkit.toml", '[per-file-ignores]\n"t.py" = ["device-strings"]\n')
    line = error_line(run(proj, "check", "t.py"))
    assert line.endswith("portkit.toml: per-file-ignores: unknown rule id or group 'device-strings'; "
                         "did you mean 'device-string'? (see `portkit rules`)")


@pytest.mark.parametrize(("given", "expected"), [
    ("2.6", "; did you mean '2.6.0'?"), ("2.1", "; did you mean '2.1.0.post17'?"), ("2.13", "; did you mean '2.13.0'?"),
    ("2.9.1", "; did you mean '2.9.0'?"), ("7", ""),
])
def test_suggest_version(given: str, expected: str) -> None:
    assert suggest_version(given, available_versions()) == expected


def test_a_csv_report_folder_needs_no_slash(tmp_path: Path) -> None:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "t.py", SMALL)
    migrated = run(tmp_path, "migrate", "--dry-run", "--report", "mini_csv", "--report", "r.json", "t.py")
    assert migrated.exit_code == 0, migrated.output
    assert (tmp_path / "mini_csv").is_dir() and any((tmp_path / "mini_csv").glob("*.csv"))
    rendered = run(tmp_path, "report", "r.json", "-o", "again_csv")
    assert rendered.exit_code == 0 and (tmp_path / "again_csv").is_dir()
    assert rendered.stderr == "portkit: wrote again_csv/\n"


@pytest.mark.parametrize(("target", "expected"), [
    ("run.jsn", "run.jsn: unknown report format; did you mean 'run.json'?"),
    ("out.csv", "out.csv: unknown report format; did you mean 'out/'? (the CSV report is a folder of files)"),
    ("review", "review: unknown report format; did you mean 'review/'?"),
    ("r.txt", "r.txt: unknown report format (use "),
])
def test_other_report_names_get_a_suggestion(tmp_path: Path, target: str, expected: str) -> None:
    write(tmp_path / "r.json", "{}")
    assert f"portkit: error: {expected}" in error_line(run(tmp_path, "report", "r.json", "-o", target))


# --- plurals and the words of each mode -------------------------------------------------------------


def test_one_file_is_one_file(tmp_path: Path) -> None:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "t.py", SMALL)
    result = run(tmp_path, "migrate", "--dry-run", "t.py")
    assert "portkit migrate: 1 file scanned, 1 would change" in result.stdout
    assert not re.search(r"\b1 (files|changes|findings|items)\b", result.stdout)


def test_one_dirty_file_has_changes(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root / "t.py", SMALL)
    git(root, "init", "-q")
    result = run(root, "migrate", "t.py")  # untracked: uncommitted work
    assert "1 file to migrate has uncommitted changes (t.py)" in error_line(result)


def test_the_progress_bar_names_what_happens_in_each_mode() -> None:
    assert PROGRESS_VERBS == {"in-place": "migrated", "output": "ported", "diff": "scanned", "dry-run": "scanned"}
    assert progress_line(1, 1, "scanned", 2.0, width=4) == "[####] 1/1 file scanned, 0 files/s"
    assert progress_line(3, 6, "checked", 1.0, width=4) == "[##..] 3/6 files checked, 3 files/s"


# --- what a migration says when it ends ----------------------------------------------------------------


def test_migrate_ends_with_reports_and_next_steps(tmp_path: Path) -> None:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "t.py", SMALL)
    result = run(tmp_path, "migrate", "--torch-npu", "2.6.0", "--report", "review.html", "--report", "r.json",
                 "--show-fixes", "t.py")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Fixed 2 changes in 1 file:\n  t.py: 1 × device-string, 1 × torch-npu-import\n" in out
    assert "Reports: review.html (review page), r.json (JSON report)\n" in out
    steps = out[out.index("Next steps:"):].splitlines()[1:]
    assert steps[0].startswith("  - Port the 1 manual item by hand")
    assert steps[1] == (f"  - Install the pair this port assumes: `pip install torch==2.6.0 torch-npu==2.6.0` "
                        f"(x86_64: add `--extra-index-url {TORCH_CPU_INDEX}`, the wheel pins torch==2.6.0+cpu)")
    assert f"`source {CANN_SET_ENV}`" in steps[2] and "portkit check ." in steps[4]


def test_outside_git_an_in_place_run_says_there_is_no_undo(tmp_path: Path) -> None:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "t.py", SMALL)
    result = run(tmp_path, "migrate", "t.py")
    notes = [line for line in result.stdout.splitlines() if line.startswith("Note: ")]
    assert notes == ["Note: 1 file rewritten in place that git has no copy of: there is no undo "
                     "(next time: --diff or --output DIR first)"]


def test_inside_git_there_is_no_notice(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root / "portkit.toml", "")
    write(root / "t.py", SMALL)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "original")
    result = run(root, "migrate", "t.py")
    assert result.exit_code == 0 and "Note:" not in result.stdout and "Next steps:" in result.stdout


def test_with_diff_stdout_is_only_the_patch(tmp_path: Path) -> None:
    write(tmp_path / "portkit.toml", "")
    write(tmp_path / "t.py", SMALL)
    result = run(tmp_path, "migrate", "--diff", "t.py")
    assert result.stdout.startswith("--- a/t.py") and "Next steps" not in result.stdout
    assert "Next steps:" in result.stderr and "apply the patch with `git apply`" in result.stderr


def test_output_leaves_the_check_cache_behind(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "mnist" / "original", source)
    write(source / "portkit.toml", "")
    assert run(source, "check", "-j", "1", ".").exit_code == 1
    assert (source / ".portkit_cache").is_dir()
    result = run(tmp_path, "migrate", "--no-config", "src", "--output", "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "train.py").is_file() and not (tmp_path / "out" / ".portkit_cache").exists()


@pytest.mark.parametrize("version", available_versions())
def test_next_steps_install_the_pair_the_wheel_names(version: str) -> None:
    api = load_npu_api(version)
    steps = next_steps(Report("migrate", "in-place", "npu", (), torch_npu=version))
    assert f"`pip install torch=={api.torch} torch-npu=={version}`" in steps[0]


def test_next_steps_by_mode_and_target() -> None:
    newest = available_versions()[-1]
    dry = next_steps(Report("migrate", "dry-run", "npu", (), torch_npu=None))
    assert dry[0].startswith("Nothing was written") and f"torch-npu=={newest}`" in dry[1]
    accelerator = next_steps(Report("migrate", "output", "accelerator", ()))
    assert any("torch.accelerator picks the NPU" in line for line in accelerator)
    unknown = next_steps(Report("migrate", "in-place", "npu", (), torch_npu="9.9.9"))
    assert unknown[0] == ("Install torch-npu 9.9.9 with the torch release its wheel requires: "
                          "`pip install torch-npu==9.9.9`")


# --- the README's usage block names only options that exist --------------------------------------------


def test_readme_usage_options_exist() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    usage = text[text.index("## Usage"):text.index("```", text.index("```text", text.index("## Usage")) + 7)]
    commands = {name: command for name, command in main.commands.items()}
    known = {opt for command in commands.values() for param in command.params for opt in param.opts}
    known |= {opt for param in main.params for opt in param.opts}
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", usage))
    assert mentioned and mentioned <= known | {"-p1"}, sorted(mentioned - known)
