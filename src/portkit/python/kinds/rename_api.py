"""rename-api: qualified names to their NPU twins, in dotted chains, bare names and imports.

`torch.cuda.synchronize()`, `th.cuda.X` after `import torch as th`, `cuda.X` after `from torch
import cuda`, `from torch.cuda.amp import GradScaler`: the longest prefix of a name that a rule
knows is rewritten, spelled through the names the file already imports; aliases of CUDA
modules whose every use converts are rebound to the twin (aliases.py). A target the chosen
torch_npu release lacks is a manual item instead. A call that its twin would not run the same
way (a rule's `contracts`, kinds/contracts.py) stays as it is and is reported, or has its
arguments respelled exactly.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.compiled import Rename
from portkit.python.context import Context, Guard, Kind, Use
from portkit.python.imports import dotted_name, dotted_parts, module_name
from portkit.python.kinds.contracts import ResultUses, hold_reason, respell
from portkit.python.names import Chain, NameRoles, dotted_expression, has_import, importable, last, parent
from portkit.ruleset import RenameApi, Rule, is_expression
from portkit.ruleset.calls import CallContract


class RenameApiKind(Kind):
    specs = (RenameApi,)

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._replacements: dict[int, cst.BaseExpression] = {}
        self._results = ResultUses()
        self._calls: dict[int, cst.Call] = {}  # id of a call's function -> the call
        self._respell: dict[int, tuple[Rule, str, tuple[CallContract, ...]]] = {}  # id of a call -> its contracts
        self._kept: set[str] = set()  # from-imported names whose import stays: a call of them stays
        if self.rules.contracts:
            self._keep_imports()

    # -- calls, and how their results are used: the parents are visited before the names --

    def visit_Call(self, node: cst.Call) -> None:
        self._calls[id(node.func)] = node
        self._results.note(node)

    def _note(self, node: cst.CSTNode) -> None:
        self._results.note(node)

    visit_Subscript = visit_Assign = visit_StarredElement = visit_Arg = visit_Comparison = _note
    visit_FormattedStringExpression = visit_BinaryOperation = _note

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._results.note(node)

    # -- uses --

    def use(self, use: Use) -> None:
        if use.chain is not None:
            use.renamed = self._rewrite_chain(use, use.chain)
            return
        # a bare name bound by `from torch.cuda import X` is handled at its import
        local = use.node.value  # type: ignore[attr-defined]
        rename = self.rules.renames.get(use.qualified)
        if rename is not None and use.qualified in self.rules.contracts:
            # the import stays (_kept) if this call does; a guard only where the import is rewritten
            rewritten = not is_expression(rename.new) and local not in self._kept
            self._held(use.qualified, rename, use.node, guard=rewritten)
        renamed = use.qualified in self.rules.known_renames or local in self.context.plans
        missing = self.rules.unavailable.get(use.qualified)
        if missing is not None:
            self._flag_unavailable(use.qualified, missing, use.node)
        use.renamed = renamed or missing is not None

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        return self._replacements.pop(id(original_node), updated_node)

    def _rewrite_chain(self, use: Use, chain: Chain) -> bool:
        """Rewrite the longest prefix of the chain a rule knows (torch.cuda.Stream.query);
        true when some rule knows the name, converted or not."""
        rules = self.rules
        head_parts = len(self.imports.bindings[chain.parts[0]].qualified.split("."))
        names = use.qualified.split(".")
        renamed = False
        for k in range(len(chain.parts), 0, -1):
            prefix = ".".join(names[: head_parts + k - 1])
            renamed = renamed or prefix in rules.known_renames or (
                k == len(chain.parts) and prefix in rules.known_twins)
            missing = rules.unavailable.get(prefix)
            if missing is not None:
                self._flag_unavailable(prefix, missing, chain.nodes[k - 1])
                return True  # handled: no "not converted by any rule" on top
            rename = rules.renames.get(prefix)
            if rename is None and k == len(chain.parts) and k > 1:
                # the module itself used as an object (`hasattr(torch.cuda, "x")`, `return
                # torch.cuda.amp`) becomes its twin; `torch.cuda.unknown` never does
                rename = rules.module_twins.get(prefix)
            if rename is None:
                continue
            if k == len(chain.parts) and prefix in rules.contracts and self._held(prefix, rename, use.node):
                return True
            self._replacements[id(use.node)] = self._renamed_prefix(chain, k, rename.new)
            self.context.change(rename.rule, chain.nodes[k - 1], f"{prefix} → {rename.new}")
            return True
        return renamed

    def _held(self, old: str, rename: Rename, node: cst.BaseExpression, guard: bool = True) -> bool:
        """Does the use stay as it is, under the contracts of `old`? Then it is a manual item;
        else a call's arguments are respelled when it is left (leave_Call)."""
        call = self._calls.get(id(node))
        contracts = self.rules.contracts[old]
        for contract in contracts:
            reason = hold_reason(contract, call, self._results, rename.new)
            if reason is not None:
                because = f"{reason}; " if reason else ""
                self.context.flag(rename.rule, node, f"{old} left unchanged: {because}{contract.message}")
                return True
        if call is not None:
            self._respell[id(call)] = (rename.rule, f"{old} → {rename.new}", contracts)
            for contract in contracts if guard else ():
                if contract.guard:  # written around the call once every kind has seen it (kinds/guards.py)
                    self.context.guards[id(call)] = Guard(rename.rule, contract.guard, contract.otherwise, (
                        f"{rename.new}() runs only where {contract.guard}: without an accelerator the original "
                        f"returned {contract.otherwise}, and so does the port"))
        return False

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        pending = self._respell.pop(id(original_node), None)
        respelled = respell(pending[2], updated_node.args) if pending is not None else None
        if pending is None or respelled is None:
            return updated_node
        args, done = respelled
        self.context.change(pending[0], original_node, f"{pending[1]}: {'; '.join(done)} (the twin's parameters "
                                                       f"differ: docs/contracts.md)")
        return updated_node.with_changes(args=args)

    def _keep_imports(self) -> None:
        """Before the pass (imports come first): a from-imported name, or a module alias that
        would be rebound to its twin, with a call that must stay keeps its import."""
        contracts = self.rules.contracts
        watched = {name for name, binding in self.imports.bindings.items()
                   if binding.qualified in contracts or (name in self.context.plans and any(
                       old.startswith(binding.qualified + ".") for old in contracts))}
        if not watched:
            return
        finder = _HeldCalls(self, watched)
        self.context.module.visit(finder)
        for name in finder.held:
            self.context.plans.pop(name, None)
            if self.imports.bindings[name].qualified in contracts:
                self._kept.add(name)

    def _flag_unavailable(self, old: str, missing: Rename, node: cst.CSTNode) -> None:
        version = self.rules.npu_api.version
        self.context.flag(missing.rule, node, f"{old} → {missing.new} needs a newer torch_npu: {version} does "
                                              f"not have {missing.new}; upgrade torch_npu or port this call by hand")

    def _head_for(self, chain: Chain, new: str) -> list[str]:
        """The dotted parts that spell `new` in this file, reusing the names it already imports."""
        head = chain.parts[0]
        binding = self.imports.bindings[head]
        plan = self.context.plans.get(head)
        head_name, head_qualified = (plan.new_name, plan.new_qualified) if plan else (head, binding.qualified)
        if new == head_qualified or new.startswith(head_qualified + "."):
            return [head_name, *new[len(head_qualified):].split(".")[1:]]
        return self.context.spell(new)

    def _renamed_prefix(self, chain: Chain, k: int, new: str) -> cst.BaseExpression:
        old_prefix = chain.nodes[k - 1]
        if is_expression(new):
            current = self.context.expression(new).with_changes(lpar=old_prefix.lpar, rpar=old_prefix.rpar)
            for node in chain.nodes[k:]:
                current = node.with_changes(value=current)
            return current
        new_parts = self._head_for(chain, new)
        if len(new_parts) == k:
            # same shape: rename the Name nodes in place so spacing and comments survive
            current: cst.BaseExpression = chain.nodes[0]
            if new_parts[0] != chain.parts[0]:
                current = current.with_changes(value=new_parts[0])  # type: ignore[call-arg]
            for i in range(1, k):
                node = chain.nodes[i]
                assert isinstance(node, cst.Attribute)
                attr = node.attr if new_parts[i] == chain.parts[i] else node.attr.with_changes(value=new_parts[i])
                current = node.with_changes(value=current, attr=attr)
        else:
            current = cst.Name(new_parts[0])
            for part in new_parts[1:]:
                current = cst.Attribute(value=current, attr=cst.Name(part))
            current = current.with_changes(lpar=old_prefix.lpar, rpar=old_prefix.rpar)
        for node in chain.nodes[k:]:
            current = node.with_changes(value=current)
        return current

    # -- imports --

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        if not has_import(original_node):
            return updated_node
        body: list[cst.BaseSmallStatement] = []
        extra: list[cst.BaseSmallStatement] = []
        for statement in updated_node.body:
            if isinstance(statement, cst.ImportFrom):
                rewritten = self._rewrite_import_from(statement)
                body.append(rewritten[0])
                extra.extend(rewritten[1:])
            elif isinstance(statement, cst.Import):
                body.append(self._rewrite_import(statement))
            else:
                body.append(statement)
        if all(a is b for a, b in zip(body, updated_node.body)) and not extra:
            return updated_node
        first = updated_node.with_changes(body=body)
        if not extra:
            return first
        lines = [cst.SimpleStatementLine(body=[s]) for s in extra]
        return cst.FlattenSentinel([first, *lines])

    def _rewrite_import(self, statement: cst.Import) -> cst.Import:
        names = list(statement.names)
        for i, alias in enumerate(names):
            if alias.asname is None or not isinstance(alias.asname.name, cst.Name):
                continue
            plan = self.context.plans.get(alias.asname.name.value)
            if plan is None:
                continue
            target = importable(plan.new_qualified)
            names[i] = alias.with_changes(name=dotted_expression(target))
            self.context.change(plan.rule, statement, f"import {plan.old_qualified} → import {target}",
                                statement=statement)
            self.context.rewritten_imports.add(id(statement))
        return statement.with_changes(names=names) if names != list(statement.names) else statement

    def _rewrite_import_from(self, statement: cst.ImportFrom) -> list[cst.ImportFrom]:
        module = module_name(statement)
        if module is None or isinstance(statement.names, cst.ImportStar):
            return [statement]
        groups: dict[str, list[cst.ImportAlias]] = {}
        changed_rule: Rule | None = None
        for alias in statement.names:
            name = dotted_name(alias.name) or ""
            local = alias.asname.name.value if isinstance(getattr(alias.asname, "name", None), cst.Name) else name
            target = self._import_target(statement, module, name, local)
            if target is None:
                groups.setdefault(module, []).append(alias)
                continue
            qualified, bind, rule = target
            changed_rule = changed_rule or rule
            new_name = last(qualified)
            asname = None
            if bind != new_name:
                asname = alias.asname or cst.AsName(name=cst.Name(bind))
                if isinstance(asname.name, cst.Name) and asname.name.value != bind:
                    asname = asname.with_changes(name=cst.Name(bind))
            groups.setdefault(importable(parent(qualified)), []).append(
                alias.with_changes(name=cst.Name(new_name), asname=asname)
            )
        if changed_rule is None:
            return [statement]
        results = []
        for index, (target_module, aliases) in enumerate(groups.items()):
            if len(groups) > 1:
                aliases = [*aliases[:-1], aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            if index == 0:
                new = statement.with_changes(module=dotted_expression(target_module), names=aliases)
            else:
                new = cst.ImportFrom(module=dotted_expression(target_module), names=aliases)
            results.append(new)
        code_for_node = self.context.module.code_for_node
        new_code = "; ".join(code_for_node(r) for r in results)
        self.context.change(changed_rule, statement, f"{code_for_node(statement)} → {new_code}", statement=statement)
        self.context.rewritten_imports.add(id(statement))
        return results

    def _import_target(self, statement: cst.ImportFrom, module: str, name: str,
                       local: str) -> tuple[str, str, Rule] | None:
        """What `from module import name [as local]` imports now: the new qualified name, the
        local name to bind it to, and the rule; None when it stays."""
        qualified = f"{module}.{name}"
        plan = self.context.plans.get(local)
        rename = self.rules.renames.get(qualified)
        if plan is not None and plan.old_qualified == qualified:
            return plan.new_qualified, plan.new_name, plan.rule
        if rename is None:
            return None
        if local in self._kept:
            if all(c.report_instead for c in self.rules.contracts[qualified]):
                return None  # every use is reported where it is
            self.context.flag(rename.rule, statement, f"`from {module} import {name}` left unchanged: a call of "
                                                      f"{local} cannot go to {rename.new} (see its item); every use "
                                                      f"of {local} stays {qualified}", statement=statement)
            return None
        if is_expression(rename.new):
            self.context.flag(rename.rule, statement, f"`from {module} import {name}`: {qualified} becomes "
                                                      f"{rename.new}, which cannot be imported: write that "
                                                      f"expression where {local} is used, then drop the import",
                              statement=statement)
            return None
        return rename.new, local, rename.rule


class _HeldCalls(NameRoles, cst.CSTVisitor):
    """The pre-pass of `_keep_imports`: which of the watched local names have a use that must
    stay as it is (the same judgement the pass makes, on the same view of the calls)."""

    def __init__(self, kind: RenameApiKind, watched: set[str]) -> None:
        super().__init__()
        self.kind, self.watched = kind, watched
        self.results = ResultUses()
        self.calls: dict[int, cst.Call] = {}
        self.held: set[str] = set()
        self._skip_names: set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.results.note(node)
        if isinstance(node, cst.Call):
            self.calls[id(node.func)] = node
        return super().on_visit(node)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        parts = dotted_parts(node)
        if parts is None:
            self._skip_names.add(id(node.attr))
            return True
        self._look(parts, node)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._skip_names:
            self._look([node.value], node)

    def _look(self, parts: list[str], node: cst.BaseExpression) -> None:
        if parts[0] not in self.watched or parts[0] in self.held:
            return
        rules = self.kind.rules
        old = self.kind.imports.resolve(parts) or ""
        rename = rules.renames.get(old)
        if rename is not None and any(hold_reason(c, self.calls.get(id(node)), self.results, rename.new) is not None
                                      for c in rules.contracts.get(old, ())):
            self.held.add(parts[0])
