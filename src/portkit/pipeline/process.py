"""One file through the pipeline of its kind: read -> (kind's rewrite) -> suppressions -> FileResult.

Nothing here writes to disk: sinks do, from the results. runner.py runs this over many
files, in worker processes.
"""

from __future__ import annotations

from portkit.filekinds import PYTHON, kind_for
from portkit.model import FileResult, FileStatus, MigrationError
from portkit.pipeline.discovery import DiscoveredFile
from portkit.pipeline.sourcefile import SourceError, read_source
from portkit.pipeline.suppressions import apply_suppressions, find_suppressions
from portkit.python.transform import CompiledRules


def process_file(file: DiscoveredFile, rules: CompiledRules, display: str, check: bool = False,
                 fix_deps: bool = False) -> FileResult:
    """One file through the pipeline of its kind. For `check`, nothing is rendered and inline
    suppressions are applied (migrate converts suppressed lines all the same). Dependency
    files are rewritten only when asked (`--fix-deps`); otherwise they are reported."""
    kind = kind_for(file.path, explicit=True) or PYTHON
    try:
        source = read_source(file.path)
        if fix_deps and not check and kind.name == "dependencies":
            from portkit.filekinds.dependencies import fix_dependencies

            migration = fix_dependencies(source.text, file.path.name, rules)
        else:
            migration = kind.load()(source.text, file.path.name, rules, not check)
    except SourceError as error:
        return FileResult(display, FileStatus.FAILED, error=error.reason)
    except MigrationError as error:
        return FileResult(display, FileStatus.FAILED, error=str(error))
    changes, findings = migration.changes, migration.findings
    if check and kind is PYTHON:
        suppressions = find_suppressions(source.text)
        if suppressions:
            changes, findings = apply_suppressions(
                suppressions, changes, findings, rules.known_ids, source.text.splitlines())
        status = FileStatus.CHANGED if changes else FileStatus.UNCHANGED
    else:
        status = FileStatus.CHANGED if migration.new_text is not None else FileStatus.UNCHANGED
    return FileResult(display, status, changes, findings, new_text=migration.new_text, encoding=source.encoding)
