"""Dockerfiles: ENV / ARG names, `$NAME` references in any instruction, RUN/CMD/ENTRYPOINT as shell
(the exec form `["bash", "-c", "..."]` too), honouring the `# escape=` directive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from portkit.model import MigrationError
from portkit.filekinds.launch.common import ASSIGNMENT, VISIBLE_DEVICES, Collector, line_end
from portkit.filekinds.launch.launchline import argument, launcher, option_value
from portkit.filekinds.launch.shell import SHELLS, ShellScanner
from portkit.filekinds.launch.structured import JsonScanner, Node, scan_string

_INSTRUCTION = re.compile(r"[ \t]*([A-Za-z]+)(?=[ \t\r\n\\]|$)[ \t]*")
_HEREDOC = re.compile(r"<<-?[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_RUN_FLAGS = re.compile(r"(?:[ \t]*--[a-z-]+(?:=\S*)?)*[ \t]*")
_FROM_IMAGE = re.compile(r"(?:--[a-z-]+=\S*[ \t]+)*([^\s\\]+)")
_ARG_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S*)")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class _Build:
    """What a FROM line may refer to: the ARGs declared before the first FROM (Docker expands
    only those there)."""

    args: dict[str, str] = field(default_factory=dict)
    stages: int = 0


def scan_dockerfile(text: str, c: Collector) -> None:
    escape = "\\"
    directive = re.match(r"(?:[ \t]*#[ \t]*\w+[ \t]*=.*\n)*?[ \t]*#[ \t]*escape[ \t]*=[ \t]*(\S)", text, re.I)
    if directive is not None:
        escape = directive.group(1)
    build = _Build()
    pos = 0
    while pos < len(text):
        end = line_end(text, pos)
        stripped = text[pos:end].strip()
        if not stripped or stripped.startswith("#"):
            pos = end + 1
            continue
        # the instruction's lines: continuations, and here-document bodies
        first_end = end
        line_start = pos
        while end < len(text):
            line = text[line_start:end]
            continued = line.rstrip(" \t\r").endswith(escape)
            # comment and empty lines inside a continuation are dropped by Docker and do not end it
            dropped = line_start != pos and (not line.strip() or line.lstrip().startswith("#"))
            if not (continued or dropped):
                break
            line_start = end + 1
            end = line_end(text, line_start)
        heredocs = [m.group(2) for m in _HEREDOC.finditer(text, pos, first_end)]
        for delimiter in heredocs:
            while end < len(text):
                line_start = end + 1
                end = line_end(text, line_start)
                if text[line_start:end].strip() == delimiter:
                    break
        _instruction(text, pos, end, c, escape, build)
        pos = end + 1


def _instruction(text: str, pos: int, end: int, c: Collector, escape: str, build: _Build) -> None:
    match = _INSTRUCTION.match(text, pos, end)
    if match is None:
        return
    keyword = match.group(1).upper()
    rest = match.end()
    shell = ShellScanner(text, c)
    if keyword == "ONBUILD":
        _instruction(text, rest, end, c, escape, build)
    elif keyword == "FROM":
        shell.words(rest, end)  # $NAME references
        _base_image(text, rest, end, c, build)
    elif keyword in ("RUN", "CMD", "ENTRYPOINT"):
        if keyword == "RUN":
            rest = _RUN_FLAGS.match(text, rest, end).end()  # type: ignore[union-attr]
        _command_instruction(text, rest, end, c, shell, escape)
    elif keyword == "HEALTHCHECK":
        cmd = re.compile(r"(?:.*?[ \t])?CMD[ \t]+", re.I).match(text, rest, line_end(text, rest))
        if cmd is not None:
            _command_instruction(text, cmd.end(), end, c, shell, escape)
    elif keyword in ("ENV", "ARG"):
        if keyword == "ARG" and not build.stages:
            build.args.update((m.group(1), m.group(2).strip("\"'")) for m in _ARG_DEFAULT.finditer(text, rest, end))
        legacy = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)([ \t]+)(?=\S)").match(text, rest, end)
        if keyword == "ENV" and legacy is not None:  # ENV NAME value
            name = legacy.group(1)
            c.name(legacy.start(1), legacy.end(1), name)
            value_start = legacy.end()
            if name in VISIBLE_DEVICES:
                c.devices(name, text[value_start:line_end(text, value_start)], legacy.start(1), line_end(text, value_start))
            shell.words(value_start, end)
            return
        for word in shell.words(rest, end):
            assignment = ASSIGNMENT.match(text, word.start, word.end)
            if assignment is not None:
                shell.assignment(word, assignment)
            elif keyword == "ARG":
                shell.bare_name(word)
    elif keyword not in ("SHELL",):
        shell.words(rest, end)  # FROM, WORKDIR, COPY, LABEL...: only $NAME references


def _base_image(text: str, rest: int, end: int, c: Collector, build: _Build) -> None:
    """`FROM [--platform=...] image [AS name]`: a CUDA base image is reported with the Ascend one
    to use; an image named through ARGs (`FROM ${BASE}`) by what their defaults make it."""
    build.stages += 1
    match = _FROM_IMAGE.match(text, rest, end)
    if match is None:
        return
    written = match.group(1)
    used: list[str] = []

    def expand(reference: re.Match[str]) -> str:
        name = reference.group(1) or reference.group(3)
        used.append(name)
        value = build.args.get(name)
        if value is None:
            value = reference.group(2)
        if value is None:
            raise KeyError(name)
        return value

    image = written
    try:
        for _ in range(3):  # an ARG's default may name earlier ARGs: ARG BASE=nvidia/cuda:${CUDA}
            if "$" not in image:
                break
            image = _REFERENCE.sub(expand, image)
    except KeyError:
        return  # an ARG without a default: the image is chosen at build time
    names = list(dict.fromkeys(used))
    via = f" (`{written}` with the default{'s' * (len(names) > 1)} of ARG {', '.join(names)})" if names else ""
    c.image(match.start(1), match.end(1), image, via)


def _command_instruction(text: str, rest: int, end: int, c: Collector, shell: ShellScanner, escape: str) -> None:
    if text.startswith("[", rest):  # exec form: ["nvidia-smi", "-L"]
        try:
            node, _ = JsonScanner(text, end).value(rest)
        except MigrationError:
            node = None
        if node is not None and node.kind == "seq":
            _exec_form(text, node, c)
            return
    only_heredoc = re.compile(r"<<-?[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1[ \t]*\r?$").match(
        text, rest, line_end(text, rest))
    if only_heredoc is not None:  # RUN <<EOF: the body is the script
        body = line_end(text, rest) + 1
        last = text.rfind("\n", body, end)
        shell.scan(body, max(body, last))
        return
    if escape != "\\":
        return  # `# escape=\``: continuations the shell scanner would misread
    shell.scan(rest, end)


def _exec_form(text: str, node: Node, c: Collector) -> None:
    items = [item for item in node.items if item.kind == "str"]
    if not items:
        return
    first = items[0]
    if isinstance(first.value, str):
        c.command(first.start + 1, first.end - 1, first.value)
        name = first.value.rsplit("/", 1)[-1]
        if name in SHELLS and len(items) >= 3 and items[1].value == "-c":
            scan_string(text, items[2], c, "shell")
        elif launcher(name) is not None:
            _exec_launch(text, items[1:], c)


def _exec_launch(text: str, items: list[Node], c: Collector) -> None:
    """`CMD ["torchrun", "train.py", "--backend", "nccl"]`: each item is one argument, written
    as a JSON string (its characters are the value's when it has no escapes)."""
    option = None
    for item in items:
        if option is not None:
            option_value(text, c, option, item.start, item.end)
            option = None
        elif "\\" not in text[item.start:item.end]:
            option = argument(text, c, item.start + 1, item.end - 1)
