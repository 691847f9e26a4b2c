"""Rule documentation in ruff's shape: what it does, why, example, fix safety, source.

The same text serves `portkit rules show ID` and docs/rules.md (generated; a test keeps it current).
"""

from __future__ import annotations

import textwrap
from pathlib import PurePath

from portkit.ruleset import Rule, RuleSet

_SAFETY = {
    "safe": "Safe: the NPU code behaves as the CUDA code did.",
    "review": "Needs review: mechanical and usually right; read the diff.",
    "manual": "Manual: portkit reports it and changes nothing.",
}


_FENCES = {".py": "python", ".sh": "bash", ".bash": "bash", ".toml": "toml", ".cfg": "ini", ".txt": "text",
           ".yml": "yaml", ".yaml": "yaml", ".json": "json", ".cu": "cpp", ".cuh": "cpp", ".cpp": "cpp",
           ".ipynb": "json", ".env": "bash"}


def _code(text: str, path: str = "example.py") -> str:
    name = PurePath(path).name
    language = "dockerfile" if name.startswith("Dockerfile") else _FENCES.get(PurePath(path).suffix, "text")
    return f"```{language}\n" + textwrap.dedent(text).strip("\n") + "\n```"


def render_rule(rule: Rule) -> str:
    parts = [
        f"## {rule.id}",
        "",
        f"Kind: `{rule.kind}` · Fix safety: `{rule.safety}` · Targets: {', '.join(sorted(rule.targets))}",
        "",
        "### What it does",
        rule.summary,
        "",
        "### Why",
        " ".join(rule.why.split()),
    ]
    # the first example that changes something shows the rule best (an after equal to its
    # before documents a release where the rule does nothing)
    changing = [e for e in rule.examples if e.after is not None and e.after != e.before]
    example = next(iter(changing), None) or next((e for e in rule.examples if e.after is not None), None)
    if example is not None:
        release = f" (with `--torch-npu {example.torch_npu}`)" if example.torch_npu else ""
        parts += ["", f"### Example{release}", _code(example.before, example.path), "", "Becomes:",
                  _code(example.after or "", example.path)]
    else:
        flagged = next((e for e in rule.examples if e.findings), None)
        if flagged is not None:
            parts += ["", "### Example (reported)", _code(flagged.before, flagged.path)]
    kept = next((e for e in rule.examples if e.after is None and not e.findings), None)
    if kept is not None:
        parts += ["", "Left unchanged:", _code(kept.before, kept.path)]
    parts += ["", "### Fix safety", _SAFETY[str(rule.safety)]]
    if rule.source:
        parts += ["", "### Source", rule.source]
    return "\n".join(parts) + "\n"


def render_reference(ruleset: RuleSet) -> str:
    header = [
        "# Rule reference",
        "",
        "Generated from `rules/*.toml` by `python -m portkit.ruleset.docs > docs/rules.md`;",
        "a test fails when this file is out of date. `portkit rules show ID` prints one entry.",
        "",
        "| id | kind | fix safety | summary |",
        "|---|---|---|---|",
    ]
    header += [f"| [{r.id}](#{r.id}) | {r.kind} | {r.safety} | {r.summary.replace('|', '/')} |" for r in ruleset.rules]
    return "\n".join(header) + "\n\n" + "\n".join(render_rule(r) for r in ruleset.rules)


if __name__ == "__main__":
    from portkit.ruleset import load_rules

    print(render_reference(load_rules(target=None)), end="")
