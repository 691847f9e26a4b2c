"""`portkit analyze`: will the ported program run on the NPU, and run fast? Static answers from
the stdlib tree of each Python file (docs/analysis.md):

- op-unsupported: calls whose ATen operators the torch_npu release has no NPU kernel for
  (api_ops + operator tables, evidence "static-table");
- float64, dynamic-shape, host-sync: float64 compute, data-dependent shapes, reads back to the host;
- fused-rmsnorm, fused-rotary, fused-swiglu, fused-attention: those blocks written out in tensor
  operations, found by their structure (patterns.py); fused-optimizer: torch.optim classes
  torch_npu has fused versions of.

`analyze_text(text, settings)` is the whole analysis of one file; nothing here reads files.
"""

from __future__ import annotations

import ast

from portkit.model import Finding
from portkit.python.analysis.calls import check_call, check_mask_index
from portkit.python.analysis.context import FileContext, Settings
from portkit.python.analysis.patterns import Patterns
from portkit.python.analysis.scope import scopes
from portkit.python.statements import source_lines

__all__ = ["Settings", "analyze_text"]


def analyze_text(text: str, settings: Settings) -> tuple[Finding, ...]:
    """The findings of the active analysis rules in one Python text; raises SyntaxError."""
    if "torch" not in text or not settings.rules or not settings.triggers.search(text):
        return ()  # every analysis starts from a torch name (import, call, dtype) and a trigger word
    tree = ast.parse(text)
    every = scopes(tree, settings.api)
    if not any(q == "torch" or q.startswith("torch.") for q in every[0].imports.bindings.values()):
        return ()
    context = FileContext(source_lines(text), settings)
    patterns = Patterns.for_text(text, every)
    for scope in every:
        for node in scope.own:
            kind = type(node)
            if kind is ast.Call:
                check_call(node, scope, context)  # type: ignore[arg-type]
                patterns.call(node, scope, context)  # type: ignore[arg-type]
            elif kind is ast.BinOp:
                patterns.binary(node, scope, context)  # type: ignore[arg-type]
            elif kind is ast.Subscript:
                check_mask_index(node, scope, context)  # type: ignore[arg-type]
    return context.findings()
