"""Guarded calls: a renamed call that must not run where there is no accelerator.

`torch.cuda.empty_cache()` does nothing on a machine without a GPU; `torch.accelerator.empty_cache()`
raises there. A rename-api contract with `guard` and `otherwise` (docs/accelerator.md) makes the
port keep the CPU path: rename-api records the call in `Context.guards`, and this unit, which
handles calls after every other kind, writes it behind the guard —

    torch.accelerator.empty_cache()            as a statement of its own:
                                               if torch.accelerator.is_available():
                                                   torch.accelerator.empty_cache()
    used = torch.cuda.memory_allocated()   ->  used = (torch.accelerator.memory_allocated()
                                                       if torch.accelerator.is_available() else 0)

A call that already runs only where the accelerator is available — in the body of `if
torch.cuda.is_available():` (or `... and x`), after a def's `if not torch.cuda.is_available():
return`, or as `X` of `X if torch.cuda.is_available() else Y` — is renamed without a second guard.
"""

from __future__ import annotations

import libcst as cst

from portkit.python.context import Context, Kind

# the tests that already say "an accelerator is here" (before and after the rename)
_AVAILABLE = frozenset({"torch.cuda.is_available", "torch.accelerator.is_available"})


class GuardKind(Kind):
    specs = ()  # applies the `guard` of rename-api contracts (kinds/contracts.py), no kind of its own

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self._written: set[int] = set()  # the conditional expressions this unit wrote
        self._guarded_blocks: set[int] = set()  # blocks that run only where an accelerator is
        self._depth = 0  # how many of them enclose the node being visited
        self._guarded_values: set[int] = set()  # `X` of `X if torch.cuda.is_available() else Y`

    def visit_If(self, node: cst.If) -> None:
        if self._says_available(node.test):
            self._guarded_blocks.add(id(node.body))

    def visit_IfExp(self, node: cst.IfExp) -> None:
        if self._says_available(node.test):
            self._guarded_values.add(id(node.body))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        first = next((s for s in body if not _is_docstring(s)), None)
        if (isinstance(first, cst.If) and first.orelse is None and isinstance(first.test, cst.UnaryOperation)
                and isinstance(first.test.operator, cst.Not) and self._says_available(first.test.expression)
                and _leaves(first.body)):
            self._guarded_blocks.add(id(node.body))

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if id(node) in self._guarded_blocks:
            self._depth += 1

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        if id(original_node) in self._guarded_blocks:
            self._depth -= 1
        return updated_node

    def _says_available(self, test: cst.BaseExpression) -> bool:
        """`torch.cuda.is_available()`, alone or as a term of an `and`."""
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
            return self._says_available(test.left) or self._says_available(test.right)
        return isinstance(test, cst.Call) and self.context.callee(test) in _AVAILABLE

    def leave_Call(self, original_node: cst.Call, updated_node: cst.BaseExpression) -> cst.BaseExpression:
        guard = self.context.guards.pop(id(original_node), None)
        if guard is None or self._depth or id(original_node) in self._guarded_values:
            return updated_node
        guarded = cst.IfExp(test=self.context.expression(guard.condition), body=updated_node,
                            orelse=self.context.expression(guard.otherwise),
                            lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        self._written.add(id(guarded))
        self.context.change(guard.rule, original_node, guard.message)
        return guarded

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.BaseStatement | cst.FlattenSentinel,
                                  ) -> cst.BaseStatement | cst.FlattenSentinel:
        """A guarded call that is the whole line becomes an `if` around it (its value is unused)."""
        if not isinstance(updated_node, cst.SimpleStatementLine) or len(updated_node.body) != 1:
            return updated_node
        statement = updated_node.body[0]
        if not (isinstance(statement, cst.Expr) and id(statement.value) in self._written):
            return updated_node
        guarded = statement.value
        assert isinstance(guarded, cst.IfExp)
        line = cst.SimpleStatementLine(body=[cst.Expr(guarded.body)], trailing_whitespace=updated_node.trailing_whitespace)
        return cst.If(test=guarded.test, body=cst.IndentedBlock(body=[line]), leading_lines=updated_node.leading_lines)


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _leaves(block: cst.BaseSuite) -> bool:
    """Does the block end in `return` or `raise`?"""
    last = block.body[-1] if isinstance(block, cst.IndentedBlock) else block
    return isinstance(last, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) and isinstance(last.body[-1], (cst.Return, cst.Raise))
