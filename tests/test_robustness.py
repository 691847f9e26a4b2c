"""Never lose a byte, never crash a run (issue 12): the cases the fault-injection campaign found.

One file must never take a run down: whatever goes wrong with it becomes that file's failure
(process.process_file is the barrier; runner.py contains a worker process that dies), and
`check` then exits 2, never 1. Lines no rule touched come back byte for byte, even where
libcst would drop or move them (sparse.reconcile). The campaign itself is tests/test_fuzz.py.
"""

from __future__ import annotations

import ast
import faulthandler
import os
import signal
import multiprocessing
import sys
from pathlib import Path

import pytest

from conftest import invoke_cli, run_portkit, write
from fuzzing import untouched_changes
from portkit.model import FileResult, FileStatus, MigrationError
from portkit.pipeline import process, runner
from portkit.pipeline.check import CheckOptions, check, exit_code
from portkit.pipeline.discovery import DiscoveredFile
from portkit.pipeline.sourcefile import SourceError, read_source
from portkit.python import engine
from portkit.python.engine import migrate_source
from portkit.python.sparse import reconcile
from portkit.python.statements import MAX_NESTING, deepest, source_lines
from portkit.python.transform import CompiledRules
from portkit.ruleset import load_rules

RULES = CompiledRules(load_rules())
CUDA = "torch.cuda.is_available()"


def migrated(text: str) -> str:
    """The migrated text, checked for what every migration must hold."""
    migration = migrate_source(text, RULES)
    assert migration.new_text is not None
    assert untouched_changes(text, migration.new_text, migration.changes) == []
    ast.parse(migration.new_text)
    assert migrate_source(migration.new_text, RULES).new_text is None
    return migration.new_text


# --- bytes on lines no rule touched ---------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [
    pytest.param("import torch\nif 1:\n    x = torch.cuda.is_available()\n\fy = 1\n",
                 "import torch\nimport torch_npu\nif 1:\n    x = torch.npu.is_available()\n\fy = 1\n",
                 id="form-feed-after-a-block"),
    pytest.param("import torch\n\fx = torch.cuda.is_available()\n",
                 "import torch\nimport torch_npu\n\fx = torch.npu.is_available()\n", id="form-feed-on-a-changed-line"),
    pytest.param("import torch\nif 1:\n    x = 1\n    \fx = torch.cuda.is_available()\n",
                 "import torch\nimport torch_npu\nif 1:\n    x = 1\n    \fx = torch.npu.is_available()\n",
                 id="form-feed-after-an-indentation"),
    pytest.param("import torch\nclass A:\n    class B:\n\f        x = torch.cuda.is_available()\n    y = 2\n",
                 "import torch\nimport torch_npu\nclass A:\n    class B:\n\f        x = torch.npu.is_available()\n    y = 2\n",
                 id="form-feed-opening-a-block"),  # libcst refuses to parse it as it is
    pytest.param("import torch\nx = torch.cuda.is_available()\n    # a\n    # b\n",
                 "import torch\nimport torch_npu\nx = torch.npu.is_available()\n    # a\n    # b\n",
                 id="indented-comments-at-the-end"),
    pytest.param("import torch\nx = torch.cuda.is_available()\n\n\n   \n",
                 "import torch\nimport torch_npu\nx = torch.npu.is_available()\n\n\n   \n", id="blank-lines-at-the-end"),
    pytest.param("import torch\rx = torch.cuda.is_available()\ry = 2\r",
                 "import torch\rimport torch_npu\rx = torch.npu.is_available()\ry = 2\r", id="lone-cr-file"),
    pytest.param("import torch\rx = torch.cuda.is_available()\r\f\ny = 1\r",
                 "import torch\rimport torch_npu\rx = torch.npu.is_available()\r\f\ny = 1\r",
                 id="lone-cr-then-a-form-feed-line"),  # taking the \f out would make that CR a CRLF
    pytest.param("import torch\rx = torch.cuda.is_available()\r",
                 "import torch\rimport torch_npu\rx = torch.npu.is_available()\r", id="lone-cr-changed-last-line"),
    pytest.param("import torch\ntry:\n    x = torch.cuda.is_available()\nexcept ValueError \\\n:\n    pass\n",
                 "import torch\nimport torch_npu\ntry:\n    x = torch.npu.is_available()\nexcept ValueError \\\n:\n    pass\n",
                 id="continuation-before-except-colon"),
    pytest.param("import torch\ntry:\n    pass\nexcept torch.cuda.OutOfMemoryError \\\n  :\n    pass\n",
                 "import torch\nimport torch_npu\ntry:\n    pass\nexcept torch.OutOfMemoryError \\\n  :\n    pass\n",
                 id="continuation-before-the-colon-of-a-changed-except"),
    pytest.param("import torch\ntry:\n    torch.cuda.empty_cache()\nexcept torch.cuda.OutOfMemoryError \\\n:\n"
                 "    torch.cuda.synchronize()\n",
                 "import torch\nimport torch_npu\ntry:\n    torch.npu.empty_cache()\nexcept torch.OutOfMemoryError \\\n:\n"
                 "    torch.npu.synchronize()\n", id="continued-except-between-changed-lines"),
    pytest.param("import torch\ntry:\n    pass\nexcept torch.cuda.OutOfMemoryError  :\n    pass\n",
                 "import torch\nimport torch_npu\ntry:\n    pass\nexcept torch.OutOfMemoryError  :\n    pass\n",
                 id="blanks-before-the-colon-of-a-changed-except"),
])
def test_lines_no_rule_touched_keep_every_byte(before: str, after: str) -> None:
    assert migrated(before) == after


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_separators_python_does_not_break_lines_at_keep_positions_right(separator: str) -> None:
    text = f"import torch\n# a{separator}b\nx = torch.cuda.is_available()  # c{separator}d\ny = torch.cuda.device_count()\n"
    migration = migrate_source(text, RULES)
    assert migration.new_text == text.replace("cuda.", "npu.").replace("import torch\n", "import torch\nimport torch_npu\n", 1)
    lines = {c.span.line: c for c in migration.changes if c.old_text}
    assert sorted(lines) == [3, 4]
    assert lines[3].old_text == f"x = torch.cuda.is_available()  # c{separator}d"
    assert lines[4].new_text == "y = torch.npu.device_count()"


def test_source_lines_break_only_where_python_does() -> None:
    text = "a\x0cb\r\nc\x85d\re\u2028f\ng"
    assert source_lines(text) == ["a\x0cb", "c\x85d", "e\u2028f", "g"]
    assert "".join(source_lines(text, keepends=True)) == text
    assert source_lines("") == [] and source_lines("x\n") == ["x"]


def test_a_difference_on_a_line_no_change_covers_is_refused_not_written() -> None:
    old = "import torch\nx = 1\ny = 2\n"
    with pytest.raises(MigrationError, match="line 3, which no change covers"):
        reconcile(old, "import torch\nx = 1\ny = 3\n", touched={2}, inserted=set())
    assert reconcile(old, "import torch\nx = 1\ny = 3\n", touched={3}, inserted=set())[0].endswith("y = 3\n")


# --- one file never ends the run ----------------------------------------------------------------


def test_a_default_except_before_others_fails_that_file_and_the_run_goes_on(tmp_path: Path) -> None:
    bad = "import torch\ntry:\n    x = torch.cuda.is_available()\nexcept:\n    pass\nexcept ValueError:\n    pass\n"
    write(tmp_path / "bad.py", bad)
    write(tmp_path / "good.py", "import torch\nx = torch.cuda.is_available()\n")
    result = invoke_cli("migrate", "--allow-dirty", ".", cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert "bad.py: libcst cannot represent it: The bare except: handler must be the last one" in result.output
    assert (tmp_path / "bad.py").read_text() == bad
    assert "torch.npu" in (tmp_path / "good.py").read_text()
    assert invoke_cli("check", "--no-cache", ".", cwd=tmp_path).exit_code == 2


@pytest.mark.parametrize("expression", [
    pytest.param("[" * 137 + CUDA + "]" * 137, id="list-137-deep"),
    pytest.param(" + ".join(["torch.cuda.device_count()"] * 320), id="plus-320-terms"),
    pytest.param(" or ".join([CUDA] + ["a"] * 999), id="or-1000-terms"),
    pytest.param(CUDA + " or (" + " ".join(['"a"'] * 491) + ")", id="strings-491-adjacent"),
    pytest.param(" or ".join([CUDA] + ["a"] * (MAX_NESTING - 20)), id="just-under-the-limit"),
])
def test_deep_nesting_is_migrated(expression: str) -> None:
    assert "torch.npu." in migrated(f"import torch\nx = {expression}\n")


def test_nesting_over_the_limit_is_refused_with_the_limit_named() -> None:
    text = f"import torch\nx = {CUDA}\ny = " + " or ".join(["a"] * (MAX_NESTING + 10)) + "\n"
    with pytest.raises(MigrationError, match=f"line 3 nests .* levels deep: portkit's limit is {MAX_NESTING}"):
        migrate_source(text, RULES)


def test_a_chain_that_crashed_libcsts_native_parser_is_refused_in_a_real_process(tmp_path: Path) -> None:
    write(tmp_path / "chain.py", f"import torch\nx = {CUDA}\ny = " + " or ".join(["a"] * 7100) + "\n")
    write(tmp_path / "good.py", f"import torch\nx = {CUDA}\n")
    done = run_portkit("check", "--no-cache", "-o", "json", ".", cwd=tmp_path)
    assert done.returncode == 2, done.stderr  # no SIGSEGV (-11): the file is an error, the other is checked
    assert b"portkit's limit is" in done.stdout and b"good.py" in done.stdout


def test_the_depth_check_walks_only_what_can_be_deep() -> None:
    flat = "f(" + ", ".join(['"cuda"'] * 5000) + ")\n" + "x = [" + ", ".join(["(1, 2)"] * 5000) + "]\n"
    assert deepest(ast.parse(flat), flat) is None
    chain = "if a: pass\n" + "elif a: pass\n" * (MAX_NESTING + 5)
    found = deepest(ast.parse(chain), chain)
    assert found is not None and found[0] > MAX_NESTING
    dotted = "import " + ".".join(["a"] * (MAX_NESTING + 5)) + "\n"
    assert deepest(ast.parse(dotted), dotted) is not None


def test_the_deep_stack_thread_hands_back_results_errors_and_the_recursion_limit() -> None:
    limit = sys.getrecursionlimit()
    assert engine.contained(lambda: sys.getrecursionlimit()) >= engine._RECURSION_LIMIT
    with pytest.raises(KeyError):
        engine.contained(lambda: {}["missing"])
    assert sys.getrecursionlimit() == limit


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the running Python parses it")
@pytest.mark.parametrize("code", ["type X = int", "def f[T](x: T) -> T:\n    return x", "class C[T]:\n    pass",
                                  'y = f"{x["a"]}"'])
def test_newer_syntax_is_named_with_the_interpreter_that_parses(code: str) -> None:
    text = f"import torch\n{code}\nz = {CUDA}\n"
    with pytest.raises(MigrationError) as raised:
        migrate_source(text, RULES)
    message = str(raised.value)
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in message and "3.12" in message
    assert "\n" not in message


@pytest.mark.parametrize("error", [RecursionError(), MemoryError(), KeyError("x"), ValueError("a\nb"),
                                   AssertionError()])
def test_any_exception_of_one_file_becomes_its_failure(tmp_path: Path, monkeypatch, error: Exception) -> None:
    import portkit.filekinds.python as python_kind

    def explode(text: str, *args: object, **kwargs: object) -> object:
        if "explode" in text:
            raise error
        return real(text, *args, **kwargs)

    real = python_kind.migrate_source
    monkeypatch.setattr(python_kind, "migrate_source", explode)
    files = [DiscoveredFile(write(tmp_path / name, text), tmp_path)
             for name, text in (("a.py", "import torch\n# explode\nx = torch.cuda.is_available()\n"),
                                ("b.py", "import torch\nx = torch.cuda.is_available()\n"))]
    results = list(runner.run(files, load_rules(), 1))
    assert results[0].status is FileStatus.FAILED and results[0].error and "\n" not in results[0].error
    assert results[1].status is FileStatus.CHANGED


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the patch reaches workers by fork")
def test_a_worker_that_dies_fails_its_file_and_the_others_are_processed(tmp_path: Path, monkeypatch) -> None:
    real = process.process_file

    def crash(file: DiscoveredFile, *args: object) -> FileResult:
        if file.path.name == "crash.py":
            faulthandler.disable()  # pytest's would print the worker's stack
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(file, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(process, "process_file", crash)
    names = ["a.py", "b.py", "crash.py", "c.py", "d.py"]
    files = [DiscoveredFile(write(tmp_path / n, f"import torch\nx = {CUDA}\n"), tmp_path) for n in names]
    results = list(runner.run(files, load_rules(), 2))
    assert [r.path.split(os.sep)[-1] for r in results] == names
    statuses = {r.path.split(os.sep)[-1]: r.status for r in results}
    assert statuses.pop("crash.py") is FileStatus.FAILED
    assert set(statuses.values()) == {FileStatus.CHANGED}
    assert "worker process died" in (results[2].error or "")


# --- check's exit code, file size -----------------------------------------------------------------


def test_check_exits_2_not_1_when_a_file_cannot_be_parsed_even_with_findings(tmp_path: Path) -> None:
    write(tmp_path / "broken.py", "import torch\nx = torch.cuda.is_available(\n")
    write(tmp_path / "found.py", f"import torch\nx = {CUDA}\n")
    assert invoke_cli("check", "--no-cache", ".", cwd=tmp_path).exit_code == 2
    assert invoke_cli("check", "--no-cache", "found.py", cwd=tmp_path).exit_code == 1


def test_files_over_the_size_limit_fail_unread(tmp_path: Path) -> None:
    path = write(tmp_path / "big.py", f"import torch\nx = {CUDA}\n" + "# padding\n" * 200)
    with pytest.raises(SourceError, match=r"too large: 2\d\d\d bytes, over the limit of 1000 bytes"):
        read_source(path, max_size=1000)
    assert read_source(path).text.startswith("import torch")
    run = check(CheckOptions(paths=(tmp_path,), ruleset=load_rules(), cache=False, max_file_size=1000))
    assert [e.reason.split(":")[0] for e in run.errors] == ["too large"] and exit_code(run) == 2
    run = check(CheckOptions(paths=(tmp_path,), ruleset=load_rules(), cache=False))
    assert not run.errors and exit_code(run) == 1


def test_the_shim_insertion_is_behind_the_barrier_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--strategy shim rewrites entry points itself: an exception there fails that file only."""
    from portkit.python import shim

    entry = 'import torch\nif __name__ == "__main__":\n    torch.cuda.synchronize()\n'
    write(tmp_path / "a.py", entry)
    write(tmp_path / "b.py", entry)

    def deep(text: str) -> None:  # the first entry point blows the stack, the second is fine
        deep.calls.append(text)
        if len(deep.calls) == 1:
            raise RecursionError("maximum recursion depth exceeded")
        return real(text)

    real, deep.calls = shim.insert_switch, []
    monkeypatch.setattr(shim, "insert_switch", deep)
    result = invoke_cli("migrate", "--strategy", "shim", "--dry-run", ".", cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert "1 would change" in result.stdout and "1 failed" in result.stdout
    assert "cannot insert the runtime switch: RecursionError" in result.stdout + result.stderr
