"""rename-api: qualified names to their NPU twins, in dotted chains, bare names and imports.

`torch.cuda.synchronize()`, `th.cuda.X` after `import torch as th`, `cuda.X` after `from torch
import cuda`, `from torch.cuda.amp import GradScaler`: the longest prefix of a name that a rule
knows is rewritten, spelled through the names the file already imports; aliases of CUDA
modules whose every use converts are rebound to the twin (aliases.py). A target the chosen
torch_npu release lacks is a manual item instead.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.compiled import Rename
from portkit.python.context import Context, Kind, Use
from portkit.python.imports import dotted_name, module_name
from portkit.python.names import Chain, dotted_expression, has_import, importable, last, parent
from portkit.ruleset import RenameApi, Rule, is_expression


class RenameApiKind(Kind):
    specs = (RenameApi,)

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._replacements: dict[int, cst.BaseExpression] = {}

    # -- uses --

    def use(self, use: Use) -> None:
        if use.chain is not None:
            use.renamed = self._rewrite_chain(use, use.chain)
            return
        # a bare name bound by `from torch.cuda import X` is handled at its import
        local = use.node.value  # type: ignore[attr-defined]
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
            self._replacements[id(use.node)] = self._renamed_prefix(chain, k, rename.new)
            self.context.change(rename.rule, chain.nodes[k - 1], f"{prefix} → {rename.new}")
            return True
        return renamed

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
        if is_expression(rename.new):
            self.context.flag(rename.rule, statement, f"`from {module} import {name}`: {qualified} becomes "
                                                      f"{rename.new}, which cannot be imported: write that "
                                                      f"expression where {local} is used, then drop the import",
                              statement=statement)
            return None
        return rename.new, local, rename.rule
