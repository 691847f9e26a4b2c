"""Malformed rule files give one line naming the file, the rule and the problem."""

from __future__ import annotations

import pytest

from portkit.ruleset import RuleError, RuleSet, load_rule_dir, parse_rule_file

GOOD = '''
[[rule]]
id = "my-rule"
kind = "rename-attribute"
summary = "s"
why = "w"
safety = "safe"
old = "cuda"
new = "npu"
call = true
'''


def rule_text(**changes: str) -> str:
    """GOOD with some `key = value` lines replaced (value None removes the key)."""
    lines = []
    for line in GOOD.strip().splitlines():
        key = line.split("=")[0].strip()
        if key in changes:
            if changes[key] is not None:
                lines.append(f"{key} = {changes[key]}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_good_rule_parses():
    (rule,) = parse_rule_file(GOOD, "mine.toml")
    assert (rule.id, rule.kind, rule.origin) == ("my-rule", "rename-attribute", "mine.toml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[rule]\n", "not valid TOML"),
        ("rules = []\n", "unknown top-level key 'rules'"),
        (rule_text(id='"My Rule"'), "'id' must be lowercase words"),
        (rule_text(kind='"rename-everything"'), "unknown kind 'rename-everything'"),
        (rule_text(safety='"maybe"'), "'safety' must be one of safe, review, manual"),
        (rule_text(old=None), "missing key 'old'"),
        (rule_text(call='"yes"'), "'call' must be true or false"),
        (GOOD + 'colour = "red"\n', "unknown key 'colour'"),
        (rule_text(new='"not a name"'), "'not a name' is not an attribute name"),
        (GOOD + 'targets = ["gpu"]\n', "unknown target 'gpu'"),
    ],
)
def test_malformed_rule_is_one_line_naming_file_and_rule(text, problem):
    with pytest.raises(RuleError) as error:
        parse_rule_file(text, "rules/mine.toml")
    message = str(error.value)
    assert problem in message
    assert message.startswith("rules/mine.toml")
    assert "\n" not in message
    if "TOML" not in problem and "top-level" not in problem and "'id'" not in problem:
        assert "rule 'my-rule'" in message


@pytest.mark.parametrize(
    ("kind_lines", "problem"),
    [
        ('kind = "rename-api"\nmodule = "torch.cuda"\n', "'module' and 'to_module' go together"),
        ('kind = "rename-api"\nrenames = { "torch cuda" = "torch.npu" }\n', "is not a dotted Python name"),
        ('kind = "rename-api"\nrenames = { "torch.cuda.x" = "torch npu" }\n', "is not a Python expression"),
        ('kind = "rename-api"\nrenames = { "torch.cuda.x" = "f(\'a\', \\"b\\")" }\n', "one kind of quote"),
        ('kind = "replace-string"\nexpressions = true\nprefixes = { "cuda" = "x" }\ncontexts = {}\n', "must end with ':'"),
        ('kind = "rename-attribute"\nold = "cuda"\nnew = "to"\ninsert_first = "d"\n', "needs 'call = true'"),
        ('kind = "report"\nmessage = "m"\nattributes = ["is cuda"]\n', "is not an attribute name"),
        ('kind = "edit-arguments"\ncalls = ["a.b"]\nkeyword_to_positional = { device = "0" }\nmessage = "m"\n',
         "argument indexes"),
        ('kind = "replace-string"\nvalues = { cuda = "npu" }\n', "missing key 'contexts'"),
        ('kind = "replace-string"\nvalues = { cuda = "npu" }\ncontexts = { names = "(" }\n', "not a valid regular expression"),
        ('kind = "replace-string"\nvalues = { cuda = "npu" }\ncontexts = { positional = { ".to" = "first" } }\n', "argument indexes"),
        ('kind = "report"\nmessage = "m"\n', "needs 'names', 'prefixes', 'guidance' or 'attributes'"),
        ('kind = "edit-arguments"\ncalls = ["a.b"]\nmessage = "m"\n', "needs 'calls' and an edit"),
    ],
)
def test_kind_parameters_are_validated(kind_lines, problem):
    text = f'[[rule]]\nid = "r"\nsummary = "s"\nwhy = "w"\nsafety = "safe"\n{kind_lines}'
    with pytest.raises(RuleError, match=problem):
        parse_rule_file(text, "x.toml")


def test_duplicate_rule_ids_are_refused(tmp_path):
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD)
    with pytest.raises(RuleError, match="already defined in"):
        RuleSet(tuple(load_rule_dir(tmp_path)))


def test_rule_folder_problems(tmp_path):
    with pytest.raises(RuleError, match="not a folder"):
        load_rule_dir(tmp_path / "missing")
    with pytest.raises(RuleError, match="no \\*.toml rule files"):
        load_rule_dir(tmp_path)
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(RuleError, match="bad.toml: cannot read"):
        load_rule_dir(tmp_path)


def test_select_refuses_unknown_ids():
    (rule,) = parse_rule_file(GOOD, "x.toml")
    with pytest.raises(RuleError, match="unknown rule id 'nope'"):
        RuleSet((rule,)).select(["nope"])
