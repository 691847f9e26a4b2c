"""What the rule kinds share while one file is rewritten: the `Context`, and the `Kind` interface.

The transformer (transform.py) makes one Context per file and one instance of every kind in
the registry (kinds/__init__.py) around it; the kinds record what they do through the
context, as `Event`s keyed to the *original* node (positions are computed afterwards, and
only for files that produced events: see engine.py).
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst

from portkit.model import Safety
from portkit.python.aliases import AliasPlan
from portkit.python.compiled import CompiledRules
from portkit.python.imports import ImportMap, dotted_parts
from portkit.python.names import Chain, Respell
from portkit.python.statements import pair
from portkit.python.strings import fit_quotes
from portkit.python.valueflow import Flow, positions
from portkit.ruleset import Rule


@dataclass(frozen=True)
class Event:
    """A change or a manual item, tied to the original node it is about."""

    rule: Rule
    node: cst.CSTNode
    message: str
    is_change: bool
    safety: Safety
    inserted: str | None = None  # for a line portkit added: its text
    statement: cst.CSTNode | None = None  # the innermost statement holding `node`, to locate it
    evidence: str = ""  # what it rests on when not a resolved name: value-flow, name-heuristic


@dataclass(slots=True)
class Use:
    """A name or dotted chain that resolves, through the file's imports, to a qualified name
    (`th.cuda.synchronize` after `import torch as th`: torch.cuda.synchronize)."""

    qualified: str
    node: cst.BaseExpression  # the Name, or the chain's outermost Attribute
    chain: Chain | None  # the chain's nodes and parts; None for a bare Name
    renamed: bool = False  # a kind converted it, or said why it cannot: no fallback report


@dataclass(frozen=True)
class Guard:
    """A renamed call that runs only where `condition` holds; `otherwise` is what the original
    returned where it does not (no accelerator): kinds/guards.py writes it, rename-api asks."""

    rule: Rule
    condition: str
    otherwise: str
    message: str


class Context:
    """One file's pass: the compiled rules, the file's imports and alias plans, the events
    recorded so far, the statements around the node being visited (innermost last), and
    what the module needs inserted at the end (kinds/ensure_import.py)."""

    def __init__(self, rules: CompiledRules, module: cst.Module, imports: ImportMap,
                 plans: dict[str, AliasPlan]) -> None:
        self.rules = rules
        self.module = module
        self.imports = imports
        self.plans = plans
        self.events: list[Event] = []
        self.statements: list[cst.CSTNode] = []
        self.needs_import = False  # a change by a rule with needs_import: `import torch_npu`
        self.needs_root_import: set[str] = set()  # roots of names written in full (`spell`)
        self.rewritten_imports: set[int] = set()  # import statements that now name torch.npu
        self._called: cst.Call | None = None
        self._callee: str | None = None
        # the value flow (valueflow.py), built when a kind first asks: from the whole file's
        # stdlib tree (a sparse parse leaves statements out), scopes named by their def line
        self.flow_tree: ast.Module | None = None
        self.pairing: dict[int, ast.stmt] | None = None  # libcst statement -> ast (statements.pair)
        self.full_text: str | None = None  # the whole file's text, where the module is a sparse parse
        self.skipped: set[int] = set()  # ids of nodes no unit enters (quiet statements, CUDA branches)
        self._flow: Flow | None = None
        # the quote of each f-string around the node being visited ("" for a triple quote): an
        # expression written inside their braces may not reuse them before Python 3.12
        self.fstring_quotes: list[str] = []
        self.guards: dict[int, Guard] = {}  # id of an original call -> how it is guarded (kinds/guards.py)

    # -- recording --

    def change(self, rule: Rule, node: cst.CSTNode, message: str, inserted: str | None = None,
               statement: cst.CSTNode | None = None, evidence: str = "") -> None:
        self.events.append(Event(rule, node, message, True, rule.safety, inserted, statement or self.statement,
                                 evidence))
        if rule.needs_import:
            self.needs_import = True

    def flag(self, rule: Rule, node: cst.CSTNode, message: str, statement: cst.CSTNode | None = None,
             evidence: str = "") -> None:
        self.events.append(Event(rule, node, message, False, Safety.MANUAL, None, statement or self.statement,
                                 evidence))

    @property
    def statement(self) -> cst.CSTNode | None:
        return self.statements[-1] if self.statements else None

    # -- reading the file --

    def callee(self, call: cst.Call) -> str | None:
        """The qualified name an original call's function resolves to (several kinds ask, per call)."""
        if self._called is not call:
            self._called, self._callee = call, self.imports.resolve_expression(call.func)
        return self._callee

    def flow(self) -> Flow:
        """Where the file's values go (valueflow.py), for the rules whose contexts say `flow`."""
        if self._flow is None:
            tree = self.flow_tree
            if tree is None or self.pairing is None:  # no stdlib tree came with the module, or no pairing
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    parsed = ast.parse(self.module.code)
                self.pairing = self.pairing or pair(self.module, parsed)
                tree = tree or parsed
            self._flow = Flow(tree, self.imports, positions(self.rules.strings))
        return self._flow

    def line_of(self, statement: cst.CSTNode) -> int | None:
        """The line of a def's or class's `def`/`class` keyword: how the value flow names scopes."""
        self.flow()
        found = self.pairing.get(id(statement)) if self.pairing is not None else None
        return found.lineno if found is not None else None

    def receiver_is_value(self, receiver: cst.BaseExpression) -> bool:
        """False when the receiver is an imported module (`torch.cuda`), true for values."""
        parts = dotted_parts(receiver)
        return parts is None or parts[0] not in self.imports.bindings

    # -- writing names --

    def spell(self, qualified: str) -> list[str]:
        """The dotted parts that reach `qualified` through this file's module imports
        (`th.accelerator.synchronize` after `import torch as th`), importing its root if none does."""
        module = self.imports.module_binding_for(qualified)
        if module is not None:
            return [module.name, *qualified[len(module.qualified):].split(".")[1:]]
        root = qualified.split(".")[0]
        self.needs_root_import.add(root)
        return qualified.split(".")

    def expression(self, source: str) -> cst.BaseExpression:
        """A rule's replacement expression, its dotted module names spelled for this file."""
        if self.fstring_quotes:
            source = fit_quotes(source, "".join(self.fstring_quotes)) or source
        return cst.parse_expression(source).visit(Respell(self.spell))  # type: ignore[return-value]

    def first_argument(self, source: str, followed: bool) -> cst.Arg:
        """A rule's expression as an argument inserted before `followed` other arguments."""
        arg = cst.Arg(value=self.expression(source))
        if followed:
            arg = arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        return arg


class Kind:
    """One rule kind of the rewriter, as a unit the transformer dispatches to.

    A subclass names the rule specs it applies (`specs`) and defines handlers, named the way
    libcst names them, for the node types it cares about:

    - `visit_<Node>(node) -> bool | None`: False keeps the transformer out of the children;
    - `leave_<Node>(original_node, updated_node) -> node`: what replaces the node;
    - `use(use)`: a name or chain that resolves to a qualified name (`Use`).

    One instance per file, over that file's Context. The handlers of different kinds for
    one node type run in registry order (kinds/__init__.py), each `leave_` handler given what
    the one before it returned.
    """

    specs: ClassVar[tuple[type, ...]] = ()

    def __init__(self, context: Context) -> None:
        self.context = context
        self.rules = context.rules
        self.imports = context.imports
