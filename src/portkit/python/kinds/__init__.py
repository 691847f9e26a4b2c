"""One unit per rule kind of the Python rewriter (see portkit.python.transform).

`KINDS` is the one place a kind is added; `APPLIED_ELSEWHERE` names the kinds of
portkit.ruleset this rewriter does not apply, by design. Each unit is a
`portkit.python.context.Kind`: it names the rule specs it applies and has handlers for the
node types it cares about; the transformer calls the handlers of one node type in the order
of this tuple. The order matters where two kinds handle the same node: rename-api rewrites a
dotted name before rename-attribute looks at what is left (`leave_Attribute`) and before
report learns whether the name was converted (`use`); on a call, rename-attribute,
edit-arguments and replace-string each get the call the one before returned; guards then
writes a guarded call behind its condition (it may return an expression that is no call);
ensure-import runs on the module once every change is known. backend-scope comes first:
where it keeps the kinds out of a CUDA backend, no kind enters (on_visit). Two units that
serve rules of existing kinds come after: patch targets follow the renames into test patch
strings (python/mockpatch.py), and the multi-backend check, last since it sees every event,
keeps the backend files of multi-backend frameworks (python/backends.py).
"""

from __future__ import annotations

from portkit.python.backends import MultiBackendKind
from portkit.python.context import Kind
from portkit.python.kinds.backend_scope import BackendScopeKind
from portkit.python.kinds.edit_arguments import EditArgumentsKind
from portkit.python.kinds.ensure_import import EnsureImportKind
from portkit.python.kinds.guards import GuardKind
from portkit.python.kinds.rename_api import RenameApiKind
from portkit.python.kinds.rename_attribute import RenameAttributeKind
from portkit.python.kinds.replace_string import ReplaceStringKind
from portkit.python.kinds.report import ReportKind
from portkit.python.mockpatch import PatchTargetKind

KINDS: tuple[type[Kind], ...] = (
    BackendScopeKind,
    RenameApiKind,
    ReportKind,
    RenameAttributeKind,
    EditArgumentsKind,
    ReplaceStringKind,
    GuardKind,
    EnsureImportKind,
    PatchTargetKind,
    MultiBackendKind,
)

# kinds other file kinds or commands apply: shell and Dockerfile commands, dependency files,
# CUDA sources, and the advice of `portkit analyze` / `portkit trace` (never a rewrite)
APPLIED_ELSEWHERE = frozenset({"ReportCommand", "Dependency", "CudaSource", "Analysis"})
