"""One file through the pipeline of its kind: read -> (kind's rewrite) -> suppressions -> FileResult.

Nothing here writes to disk: sinks do, from the results. runner.py runs this over many
files, in worker processes.

`process_file` is the crash barrier of a run: whatever goes wrong with one file (an exception
of portkit's own, libcst's, Python's recursion limit, memory) becomes that file's failure, with
a one-line reason, and the run goes on with the next file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from portkit.filekinds import PYTHON, Handler, kind_for
from portkit.model import FileResult, FileStatus, Migration, MigrationError
from portkit.pipeline.discovery import DiscoveredFile
from portkit.pipeline.sourcefile import DEFAULT_MAX_FILE_SIZE, SourceError, SourceFile, read_source
from portkit.pipeline.suppressions import apply_suppressions, find_suppressions
from portkit.python.lines import source_lines

if TYPE_CHECKING:  # libcst is imported only for a file that needs it (engine.py)
    from portkit.python.compiled import CompiledRules


def process_file(file: DiscoveredFile, rules: CompiledRules, display: str, check: bool = False,
                 fix_deps: bool = False, max_file_size: int | None = DEFAULT_MAX_FILE_SIZE) -> FileResult:
    """One file through the pipeline of its kind. For `check`, nothing is rendered and inline
    suppressions are applied (migrate converts suppressed lines all the same). Dependency
    files are rewritten only when asked (`--fix-deps`); otherwise they are reported. Never
    raises for a problem of the file's: it is a FAILED result."""
    try:
        return _process(file, rules, display, check, fix_deps, max_file_size)
    except Exception as error:  # noqa: BLE001 - the barrier: one file never ends the run
        return FileResult(display, FileStatus.FAILED, error=failure_reason(error))


def failure_reason(error: Exception) -> str:
    """The one-line reason a file failed, whatever was raised while handling it."""
    if isinstance(error, SourceError):
        return _one_line(error.reason)
    if isinstance(error, MigrationError):
        return _one_line(str(error))
    if isinstance(error, RecursionError):
        return "too deeply nested to process (Python's recursion limit)"
    if isinstance(error, MemoryError):
        return "out of memory while processing this file"
    detail = _one_line(str(error))
    return f"internal error: {type(error).__name__}{': ' + detail if detail else ''} (please report)"


def _process(file: DiscoveredFile, rules: CompiledRules, display: str, check: bool, fix_deps: bool,
             max_file_size: int | None) -> FileResult:
    kind = kind_for(file.path, explicit=True) or PYTHON
    source = read_source(file.path, max_file_size)
    migration = _migrate(source, kind.name, rules, check, fix_deps, kind.load())
    changes, findings = migration.changes, migration.findings
    if check and kind is PYTHON:
        suppressions = find_suppressions(source.text)
        if suppressions:
            changes, findings = apply_suppressions(
                suppressions, changes, findings, rules.known_ids, source_lines(source.text),
                rules.active_ids)
        status = FileStatus.CHANGED if changes else FileStatus.UNCHANGED
    else:
        status = FileStatus.CHANGED if migration.new_text is not None else FileStatus.UNCHANGED
    return FileResult(display, status, changes, findings, new_text=migration.new_text, encoding=source.encoding)


def _migrate(source: SourceFile, kind: str, rules: CompiledRules, check: bool, fix_deps: bool,
             handler: Handler) -> Migration:
    if fix_deps and not check and kind == "dependencies":
        from portkit.filekinds.dependencies import fix_dependencies

        return fix_dependencies(source.text, source.path.name, rules)
    return handler(source.text, source.path.name, rules, not check)


def _one_line(text: str) -> str:
    return " ".join(text.split())
