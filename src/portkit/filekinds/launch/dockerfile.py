"""Dockerfiles: ENV / ARG names, `$NAME` references in any instruction, RUN/CMD/ENTRYPOINT as shell
(the exec form `["bash", "-c", "..."]` too), honouring the `# escape=` directive."""

from __future__ import annotations

import re

from portkit.model import MigrationError
from portkit.filekinds.launch.common import ASSIGNMENT, VISIBLE_DEVICES, Collector, line_end
from portkit.filekinds.launch.shell import SHELLS, ShellScanner
from portkit.filekinds.launch.structured import JsonScanner, Node, scan_string

_INSTRUCTION = re.compile(r"[ \t]*([A-Za-z]+)(?=[ \t\r\n\\]|$)[ \t]*")
_HEREDOC = re.compile(r"<<-?[ \t]*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1")
_RUN_FLAGS = re.compile(r"(?:[ \t]*--[a-z-]+(?:=\S*)?)*[ \t]*")


def scan_dockerfile(text: str, c: Collector) -> None:
    escape = "\\"
    directive = re.match(r"(?:[ \t]*#[ \t]*\w+[ \t]*=.*\n)*?[ \t]*#[ \t]*escape[ \t]*=[ \t]*(\S)", text, re.I)
    if directive is not None:
        escape = directive.group(1)
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
        _instruction(text, pos, end, c, escape)
        pos = end + 1


def _instruction(text: str, pos: int, end: int, c: Collector, escape: str) -> None:
    match = _INSTRUCTION.match(text, pos, end)
    if match is None:
        return
    keyword = match.group(1).upper()
    rest = match.end()
    shell = ShellScanner(text, c)
    if keyword == "ONBUILD":
        _instruction(text, rest, end, c, escape)
    elif keyword in ("RUN", "CMD", "ENTRYPOINT"):
        if keyword == "RUN":
            rest = _RUN_FLAGS.match(text, rest, end).end()  # type: ignore[union-attr]
        _command_instruction(text, rest, end, c, shell, escape)
    elif keyword == "HEALTHCHECK":
        cmd = re.compile(r"(?:.*?[ \t])?CMD[ \t]+", re.I).match(text, rest, line_end(text, rest))
        if cmd is not None:
            _command_instruction(text, cmd.end(), end, c, shell, escape)
    elif keyword in ("ENV", "ARG"):
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
