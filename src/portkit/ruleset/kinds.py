"""The rule kinds' parameters: one frozen dataclass a kind (what the rewriter gets as
`Rule.spec`), and the parser that validates a `[[rule]]` table's kind-specific keys into it.
What each parameter means to the rewriter is in `portkit.python` (transform.py and kinds/)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from portkit.ruleset.calls import CallContract, DeviceIndex, parse_contracts, parse_device_index
from portkit.ruleset.fields import Fields
from portkit.ruleset.rule import QUALIFIED_NAME


def is_expression(replacement: str) -> bool:
    """A rename's target is a dotted name (`torch.npu.synchronize`) or, for the device-agnostic
    target, an expression (`torch.get_device_module().manual_seed`) that cannot be imported."""
    return QUALIFIED_NAME.match(replacement) is None


@dataclass(frozen=True)
class RenameApi:
    """`module.X` -> `to_module.X` for the listed X, plus explicit `renames` of qualified names.

    A target may be an expression (`torch.get_device_module().X`): uses are rewritten, but a
    `from module import X` of such a name cannot be, and is reported instead."""

    renames: Mapping[str, str]  # old qualified name -> new qualified name or expression (expanded)
    module_twins: Mapping[str, str]  # old module -> new module, for `import m as a` / `from m import`
    # old qualified name -> the contracts of its calls (each for some torch_npu releases)
    contracts: Mapping[str, tuple[CallContract, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RenameAttribute:
    """`<anything>.old` -> `<anything>.new`; with `call`, only where it is called (`.cuda(...)`)."""

    old: str
    new: str
    call: bool
    # `.cuda()` -> `.to(<device>)`: an argument to insert first when the call passes no
    # positional argument and no `keyword`; a call that passes one is reported instead
    insert_first: str | None = None
    keyword: str | None = None


@dataclass(frozen=True)
class StringContexts:
    """Where a string literal means a device / backend / environment variable, not prose."""

    positional: Mapping[str, int] = field(default_factory=dict)  # callee -> argument index
    keywords: frozenset[str] = frozenset()  # any call's keyword argument with this name
    compare: bool = False  # operand of ==, !=, in, not in
    conditional: frozenset[str] = frozenset()  # `"cuda" if ok else "cpu"`: the other branch's values
    names: re.Pattern[str] | None = None  # assigned to / parameter default / argparse option named so
    subscripts: frozenset[str] = frozenset()  # `os.environ["X"]`
    dict_keywords: frozenset[str] = frozenset()  # keys of a dict literal passed as `env={...}`
    launch_files: bool = False  # the values are also variable names in shell/.env/Dockerfile/YAML/JSON
    # what the strings are, for the value flow (python/valueflow.py): a string counts where its value
    # goes; comparisons and conditionals count only against / where such a value is used
    flow: str | None = None  # FLOWS


@dataclass(frozen=True)
class ReplaceString:
    values: Mapping[str, str]  # whole literal value -> new value
    prefixes: Mapping[str, str]  # "cuda:" -> "npu:" for "cuda:0", f"cuda:{i}", "cuda:{}".format(i)
    contexts: StringContexts
    report_pattern: re.Pattern[str] | None  # values in context that have no twin: a manual item
    report_message: str
    report_only: bool = False  # kind report-string: every match is a manual item, nothing changes
    # the replacements are Python expressions, not string values; a prefix's replacement is an
    # expression for the text before its colon ("cuda:0" -> f"{<expression>}:0")
    expressions: bool = False


@dataclass(frozen=True)
class Report:
    """Report-only: uses of these qualified names (and imports of these modules) are manual items."""

    names: frozenset[str]  # exact qualified names
    prefixes: tuple[str, ...]  # "flash_attn" matches flash_attn and flash_attn.anything
    message: str
    guidance: Mapping[str, str]  # qualified name -> a more specific message
    keywords: Mapping[str, str]  # call keyword `use_cuda` -> message, on calls to `names`
    fallback: bool  # only where no other rule handled the name
    attributes: frozenset[str] = frozenset()  # `x.is_cuda` on any value: a manual item


@dataclass(frozen=True)
class EditArguments:
    """Argument fixes on calls to `calls`: positional -> keyword, or a missing first argument."""

    calls: frozenset[str]
    positional_to_keyword: Mapping[int, str]
    insert_first: str | None  # source of an argument to insert when the call has none for `keyword`
    keyword: str | None
    message: str
    # `synchronize(device=d)` -> `synchronize(d)` for positional-only targets: keyword -> index
    keyword_to_positional: Mapping[str, int] = field(default_factory=dict)
    device_index: DeviceIndex | None = None  # integer device indices written as explicit devices


@dataclass(frozen=True)
class EnsureImport:
    """`import module` once, after the file's first torch import, in files that now use it."""

    module: str


@dataclass(frozen=True)
class ReportCommand:
    """Report-only, in shell scripts and Dockerfile RUN lines: commands with an Ascend equivalent;
    and in Dockerfile FROM lines: CUDA base images, with the Ascend image to use instead."""

    commands: Mapping[str, str]  # command name -> guidance
    # image pattern (`nvidia/cuda`: any tag; `pytorch/pytorch:*cuda*`: a glob on repository:tag) -> guidance
    images: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Dependency:
    """Dependency declarations (requirements*.txt, pyproject, setup.py/cfg, environment.yml)."""

    packages: Mapping[str, str]  # distribution name (normalised) -> guidance
    replacements: Mapping[str, str]  # distribution -> its Ascend replacement, for --fix-deps
    torch_pin: bool  # report CUDA builds of torch (+cuXXX, CUDA index URLs) and the matching torch-npu
    # distribution -> (the first version that works on Ascend, why): pins that allow only older ones
    minimum_versions: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CudaSource:
    """Custom CUDA operators: .cu/.cuh sources, op registrations, CUDAExtension builds, call sites."""

    message: str


@dataclass(frozen=True)
class BackendScope:
    """Code that *is* a CUDA backend, not device-agnostic code (docs/accelerator.md): a class or
    def whose name has one of `words` (CUDAAccelerator, _clear_cuda_memory), an `if` whose test
    calls one of `guards` or a function whose name has one of `guard_words` (`if
    torch.cuda.is_available():`, `elif is_cuda_available():`), a def that returns early unless
    such a test holds. The other rules leave such a scope as it is; it is reported once."""

    words: frozenset[str]  # lower-case words of a class or def name (split at _ and case changes)
    guards: frozenset[str]  # qualified callees whose call in an `if` test makes the `if` a scope
    guard_words: frozenset[str]  # words of a called function's own name that do the same
    message: str  # the manual item; {scope} is `class CUDAAccelerator`, `if torch.cuda.is_available()`


# the analyses `portkit analyze` (portkit.python.analysis) and `portkit trace` implement: an
# `analysis` rule documents one of them and holds its reviewed advice; it cannot add a new one
ANALYSES = frozenset({
    "op-unsupported", "float64", "dynamic-shape", "host-sync",
    "fused-rmsnorm", "fused-rotary", "fused-swiglu", "fused-attention", "fused-optimizer",
})
ANALYSIS_COMMANDS = frozenset({"analyze", "trace"})


@dataclass(frozen=True)
class Analysis:
    """Report-only, by `portkit analyze` / `portkit trace`: the finding's advice, never a change.

    `migrate` and `check` do not run these rules; they are loaded with the others so that
    configuration and `# portkit: ignore[...]` comments may name them."""

    message: str  # the advice every finding of the rule ends with
    replacements: Mapping[str, str]  # qualified name -> its reviewed replacement (with the source)
    npu_names: tuple[str, ...]  # torch_npu names the advice relies on: a release that lacks one is named
    reported_by: frozenset[str]  # the commands that report it: analyze (static), trace (a CPU run)


KindSpec = (RenameApi | RenameAttribute | ReplaceString | Report | EditArguments | EnsureImport
            | ReportCommand | Dependency | CudaSource | Analysis | BackendScope)


# --- parsing ---------------------------------------------------------------------------------

_CONTEXT_KEYS = {
    "positional", "keywords", "compare", "conditional", "names", "subscripts", "dict_keywords", "launch_files",
    "flow",
}
FLOWS = ("device", "environ", "backend")  # a device, an environment mapping's keys, a collective backend


def _parse_rename_api(f: Fields) -> RenameApi:
    module = f.get("module", str, None)
    to_module = f.get("to_module", str, None)
    names = f.strings("names")
    explicit = f.string_map("renames")
    if (module is None) != (to_module is None):
        raise f.fail("'module' and 'to_module' go together")
    if names and module is None:
        raise f.fail("'names' needs 'module' and 'to_module'")
    f.qualified_names("module", [m for m in (module,) if m])
    f.qualified_names("renames", explicit)
    f.expressions("to_module", [m for m in (to_module,) if m])
    f.expressions("renames", explicit.values())
    renames: dict[str, str] = {f"{module}.{n}": f"{to_module}.{n}" for n in names}
    renames.update(explicit)
    if not renames:
        raise f.fail("a rename-api rule needs 'names' or 'renames'")
    twins = {module: to_module} if module and to_module else {}
    return RenameApi(renames=renames, module_twins=twins, contracts=parse_contracts(f, renames))


def _parse_rename_attribute(f: Fields) -> RenameAttribute:
    old, new = f.get("old", str), f.get("new", str)
    for value in (old, new):
        if not value.isidentifier():
            raise f.fail(f"'{value}' is not an attribute name")
    call = f.get("call", bool, False)
    insert_first, keyword = f.get("insert_first", str, None), f.get("keyword", str, None)
    if insert_first is not None:
        if not call or keyword is None:
            raise f.fail("'insert_first' needs 'call = true' and 'keyword' (the argument's name)")
        f.expressions("insert_first", [insert_first])
    return RenameAttribute(old=old, new=new, call=call, insert_first=insert_first, keyword=keyword)


def _parse_contexts(f: Fields) -> StringContexts:
    table = f.get("contexts", dict)
    c = Fields(table, f"{f.where}: contexts")
    c.check_keys(_CONTEXT_KEYS)
    positional = c.get("positional", dict, {})
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in positional.values()):
        raise c.fail("'positional' must map callees to argument indexes (0-based integers)")
    c.qualified_names("positional", [k.lstrip(".") for k in positional])
    subscripts = c.strings("subscripts")
    c.qualified_names("subscripts", subscripts)
    flow = c.get("flow", str, None)
    if flow is not None and flow not in FLOWS:
        raise c.fail(f"'flow' must be one of {', '.join(FLOWS)}, not {flow!r}")
    return StringContexts(
        positional=dict(positional),
        keywords=frozenset(c.strings("keywords")),
        compare=c.get("compare", bool, False),
        conditional=frozenset(c.strings("conditional")),
        names=c.pattern("names"),
        subscripts=frozenset(subscripts),
        dict_keywords=frozenset(c.strings("dict_keywords")),
        launch_files=c.get("launch_files", bool, False),
        flow=flow,
    )


def _parse_replace_string(f: Fields) -> ReplaceString:
    values, prefixes = f.string_map("values"), f.string_map("prefixes")
    if not values and not prefixes:
        raise f.fail("a replace-string rule needs 'values' or 'prefixes'")
    pattern = f.pattern("report_pattern")
    message = f.get("report_message", str, "")
    if pattern is not None and not message:
        raise f.fail("'report_pattern' needs a 'report_message'")
    expressions = f.get("expressions", bool, False)
    if expressions:
        f.expressions("values", values.values())
        f.expressions("prefixes", prefixes.values())
        if bad := [p for p in prefixes if not p.endswith(":")]:
            raise f.fail(f"'prefixes': '{bad[0]}' must end with ':' when the replacements are expressions")
    return ReplaceString(values=values, prefixes=prefixes, contexts=_parse_contexts(f),
                         report_pattern=pattern, report_message=message, expressions=expressions)


def _parse_report_string(f: Fields) -> ReplaceString:
    """Report-only strings in the same contexts: `values` are the strings to report."""
    values, prefixes = f.strings("values"), f.strings("prefixes")
    pattern = f.pattern("pattern")
    if not values and not prefixes and pattern is None:
        raise f.fail("a report-string rule needs 'values', 'prefixes' or 'pattern'")
    message = f.get("message", str)
    return ReplaceString(values={v: v for v in values}, prefixes={p: p for p in prefixes},
                         contexts=_parse_contexts(f), report_pattern=pattern, report_message=message,
                         report_only=True)


def _parse_report(f: Fields) -> Report:
    names, prefixes = f.strings("names"), f.strings("prefixes")
    guidance, keywords = f.string_map("guidance"), f.string_map("keywords")
    attributes = f.strings("attributes")
    f.qualified_names("names", names)
    f.qualified_names("prefixes", prefixes)
    f.qualified_names("guidance", guidance)
    if bad := [a for a in attributes if not a.isidentifier()]:
        raise f.fail(f"'attributes': '{bad[0]}' is not an attribute name")
    if not names and not prefixes and not guidance and not attributes:
        raise f.fail("a report rule needs 'names', 'prefixes', 'guidance' or 'attributes'")
    return Report(names=frozenset(names) | frozenset(guidance), prefixes=prefixes,
                  message=f.get("message", str), guidance=guidance, keywords=keywords,
                  fallback=f.get("fallback", bool, False), attributes=frozenset(attributes))


def _parse_edit_arguments(f: Fields) -> EditArguments:
    calls = f.strings("calls")
    f.qualified_names("calls", [c.removeprefix(".") for c in calls])  # ".cuda": a method on any value
    raw = f.string_map("positional_to_keyword")
    try:
        positional = {int(index): keyword for index, keyword in raw.items()}
    except ValueError:
        raise f.fail("'positional_to_keyword' keys must be argument indexes like \"4\"") from None
    to_positional = f.get("keyword_to_positional", dict, {})
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in to_positional.values()):
        raise f.fail("'keyword_to_positional' must map keywords to argument indexes (0-based integers)")
    insert_first, keyword = f.get("insert_first", str, None), f.get("keyword", str, None)
    if insert_first is not None and keyword is None:
        raise f.fail("'insert_first' needs 'keyword' (the argument's name, to see it is missing)")
    f.expressions("insert_first", [insert_first] if insert_first is not None else [])
    device_index = parse_device_index(f) if "device_index" in f.table else None
    if device_index is None and (not calls or not (positional or insert_first or to_positional)):
        raise f.fail("an edit-arguments rule needs 'calls' and an edit, or 'device_index'")
    return EditArguments(calls=frozenset(calls), positional_to_keyword=positional,
                         insert_first=insert_first, keyword=keyword, message=f.get("message", str),
                         keyword_to_positional=dict(to_positional), device_index=device_index)


def _parse_ensure_import(f: Fields) -> EnsureImport:
    module = f.get("module", str)
    f.qualified_names("module", [module])
    return EnsureImport(module=module)


def _parse_report_command(f: Fields) -> ReportCommand:
    commands, images = f.string_map("commands"), f.string_map("images")
    if not commands and not images:
        raise f.fail("a report-command rule needs 'commands' or 'images'")
    return ReportCommand(commands=commands, images=images)


def _normalise_distribution(name: str) -> str:
    """PEP 503: flash_attn, Flash-Attn and flash.attn are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse_dependency(f: Fields) -> Dependency:
    packages, replacements = f.string_map("packages"), f.string_map("replacements")
    torch_pin = f.get("torch_pin", bool, False)
    minimum = {_normalise_distribution(k): _minimum_version(f, k, v)
               for k, v in f.string_map("minimum_versions").items()}
    if not packages and not torch_pin and not minimum:
        raise f.fail("a dependency rule needs 'packages', 'torch_pin' or 'minimum_versions'")
    return Dependency(packages={_normalise_distribution(k): v for k, v in packages.items()},
                      replacements={_normalise_distribution(k): v for k, v in replacements.items()},
                      torch_pin=torch_pin, minimum_versions=minimum)


def _minimum_version(f: Fields, name: str, value: str) -> tuple[str, str]:
    """'4.32.0: why' -> ('4.32.0', 'why'); the version must be one pip understands."""
    version, _, why = value.partition(":")
    try:
        Version(version.strip())
    except InvalidVersion:
        raise f.fail(f"'minimum_versions': '{name}' must map to 'VERSION: why', not '{value}'") from None
    if not why.strip():
        raise f.fail(f"'minimum_versions': '{name}' needs a reason after the version ('VERSION: why')")
    return version.strip(), why.strip()


def _parse_cuda_source(f: Fields) -> CudaSource:
    return CudaSource(message=f.get("message", str))


def _parse_analysis(f: Fields) -> Analysis:
    rule_id = f.get("id", str)
    if rule_id not in ANALYSES:
        raise f.fail(f"an analysis rule documents one of portkit's analyses ({', '.join(sorted(ANALYSES))})")
    replacements, npu_names = f.string_map("replacements"), f.strings("npu_names")
    f.qualified_names("replacements", replacements)
    f.qualified_names("npu_names", npu_names)
    if bad := [n for n in npu_names if not n.startswith(("torch_npu.", "torch.npu."))]:
        raise f.fail(f"'npu_names': '{bad[0]}' is not a torch_npu name")
    reported_by = frozenset(f.strings("reported_by", ["analyze"]))
    if not reported_by or (unknown := sorted(reported_by - ANALYSIS_COMMANDS)):
        raise f.fail(f"'reported_by' must name {' and/or '.join(sorted(ANALYSIS_COMMANDS))}")
    return Analysis(message=f.get("message", str), replacements=replacements, npu_names=npu_names,
                    reported_by=reported_by)


def _parse_backend_scope(f: Fields) -> BackendScope:
    words, guards, guard_words = f.strings("words"), f.strings("guards"), f.strings("guard_words")
    f.qualified_names("guards", guards)
    if bad := [w for w in (*words, *guard_words) if not (w.isidentifier() and w == w.lower())]:
        raise f.fail(f"'{bad[0]}' is not a lower-case word")
    if not (words or guards or guard_words):
        raise f.fail("a backend-scope rule needs 'words', 'guards' or 'guard_words'")
    return BackendScope(words=frozenset(words), guards=frozenset(guards), guard_words=frozenset(guard_words),
                        message=f.get("message", str))


# each kind's parser: a [[rule]] table's kind-specific keys -> the kind's parameters
PARSERS: dict[str, Callable[[Fields], KindSpec]] = {
    "report-string": _parse_report_string,
    "report-command": _parse_report_command,
    "dependency": _parse_dependency,
    "cuda-source": _parse_cuda_source,
    "rename-api": _parse_rename_api,
    "rename-attribute": _parse_rename_attribute,
    "replace-string": _parse_replace_string,
    "report": _parse_report,
    "edit-arguments": _parse_edit_arguments,
    "ensure-import": _parse_ensure_import,
    "analysis": _parse_analysis,
    "backend-scope": _parse_backend_scope,
}
