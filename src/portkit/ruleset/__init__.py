"""Rule files: loading, validating and indexing the declarative rules in `rules/*.toml`.

A rule file holds `[[rule]]` tables. Every rule has an id, a kind, documentation (summary,
why, source), a fix safety and examples; the remaining keys are the kind's parameters. The
kinds themselves (what each parameter means to the rewriter) live in `portkit.python`; this
package only turns TOML into typed, validated values and one-line errors:

- `rule`: `Rule`, `Example`, `RuleSet` (selection by id, group and target), `RuleError`;
- `kinds`: one dataclass a rule kind (`Rule.spec`) and the validation of its parameters;
- `fields`: typed access to a TOML table, with errors that name file, rule and key;
- `load`: rule files to rules, the built-in `portkit.rules` and `--rules DIR` folders.
"""

from portkit.ruleset.kinds import (
    BackendScope,
    CudaSource,
    Dependency,
    EditArguments,
    EnsureImport,
    KindSpec,
    RenameApi,
    RenameAttribute,
    ReplaceString,
    Report,
    ReportCommand,
    StringContexts,
    is_expression,
)
from portkit.ruleset.load import builtin_rules, load_rule_dir, load_rules, parse_rule, parse_rule_file
from portkit.ruleset.rule import (
    QUALIFIED_NAME,
    REPORT_KINDS,
    RULE_ID,
    TARGETS,
    Example,
    Rule,
    RuleError,
    RuleSet,
)

__all__ = [
    "QUALIFIED_NAME", "REPORT_KINDS", "RULE_ID", "TARGETS",
    "BackendScope", "CudaSource", "Dependency", "EditArguments", "EnsureImport", "Example", "KindSpec", "RenameApi",
    "RenameAttribute", "ReplaceString", "Report", "ReportCommand", "Rule", "RuleError", "RuleSet",
    "StringContexts",
    "builtin_rules", "is_expression", "load_rule_dir", "load_rules", "parse_rule", "parse_rule_file",
]
