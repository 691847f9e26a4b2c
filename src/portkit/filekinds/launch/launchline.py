"""Launch lines: the commands that start a training script (python, torchrun, deepspeed, accelerate,
also behind srun / mpirun / numactl), the backend options on them (`--backend nccl`,
`--dist_backend=nccl`, or a variable that holds them), and Slurm's `--export` lists.

Pure functions of the text and a Collector: the shell scanner (shell.py) says which word is
where; this says what the word means on a launch line."""

from __future__ import annotations

import re

from portkit.filekinds.launch.common import NAME, Collector, Pending

# the programs whose own arguments go to a training script (`python -m torch.distributed.launch`
# is python); accelerate is read by the scanner's own state, for its --gpu_ids
_LAUNCHER = re.compile(r"python[0-9.]*|torchrun|deepspeed|accelerate")
# commands that run another command given among their arguments: a launcher found there starts
# the launch line (`srun --export=ALL python train.py`, `mpirun -np 8 python train.py`)
HOSTS = frozenset({"numactl", "taskset", "uv", "poetry", "conda", "pipenv", "horovodrun", "jsrun", "aprun"})
SLURM = frozenset({"srun", "sbatch", "salloc"})
_OPTION = re.compile(r"(-{1,2}[A-Za-z][A-Za-z0-9_-]*)(=?)")
# a value written without expansions or escapes: `nccl`, `"nccl"`, `'cpu:gloo,cuda:nccl'`
_PLAIN = re.compile(r"[A-Za-z0-9_:,.+/-]*")
_EXPANSION = re.compile(r"\$\{?[#!]?([A-Za-z_][A-Za-z0-9_]*)")
_LAUNCHER_VARIABLE = re.compile(r"(?i)(?:[a-z0-9]+_)*(?:python[0-9]*|torchrun|deepspeed)(?:_?(?:bin|exe|cmd|path))?")
_SINGLE_VARIABLE = re.compile(r"\"?\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))\"?")
# the words of a value held in a variable: plain characters and whole quoted parts, nothing else
_HELD_WORD = re.compile(r"(?:[^\s\"'$`\\()]+|\"[^\"$`\\]*\"|'[^']*')+")
_JOINED = frozenset("$`\\{}")
_DIRECTIVE = re.compile(r"#(?:SBATCH[ \t]+--export(?:=|[ \t]+)|PBS[ \t]+-v[ \t]+)(\S+)")
_EXPORT_ITEM = re.compile(r"(?:^|,)([A-Za-z_][A-Za-z0-9_]*)(?==|,|$)")
_EXPORT_KEYWORDS = frozenset({"ALL", "NONE", "NIL"})


def launcher(value: str | None) -> str | None:
    """The launcher a command word names (`/usr/bin/python3` -> python3), or None."""
    if value is None:
        return None
    name = value.rsplit("/", 1)[-1]
    return name if _LAUNCHER.fullmatch(name) else None


def launcher_variable(text: str, start: int, end: int) -> bool:
    """A command word that is one variable named for a launcher: `"$PYTHON_BIN" -m torch.distributed.run`."""
    match = _SINGLE_VARIABLE.fullmatch(text, start, end)
    return match is not None and _LAUNCHER_VARIABLE.fullmatch(match.group(1) or match.group(2)) is not None


def literal(text: str, start: int, end: int) -> tuple[int, int, str] | None:
    """The characters of a plain value at text[start:end], without its quotes."""
    raw = text[start:end]
    if _PLAIN.fullmatch(raw):
        return start, end, raw
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and _PLAIN.fullmatch(raw, 1, len(raw) - 1):
        return start + 1, end - 1, raw[1:-1]
    return None


def option_value(text: str, c: Collector, option: str, start: int, end: int) -> None:
    """The word at text[start:end] is the value of a backend option on a launch line."""
    found = literal(text, start, end)
    if found is not None:
        c.backend(found[0], found[1], option, found[2])
        return
    variable = _SINGLE_VARIABLE.fullmatch(text, start, end)
    if variable is not None:  # --backend "$BACKEND": its assignment converts (Collector.settle)
        c.as_option.setdefault(variable.group(1) or variable.group(2), option)


def argument(text: str, c: Collector, start: int, end: int) -> str | None:
    """An argument of a launch line; returns the backend option it announces (`--backend`, its
    value being the next word), if any."""
    match = _OPTION.match(text, start, end)
    if match is not None and c.backend_option(match.group(1)):
        if match.group(2):
            option_value(text, c, match.group(1), match.end(), end)
            return None
        if match.end() == end:
            return match.group(1)
    c.on_launch.update(m.group(1) for m in _EXPANSION.finditer(text, start, end))
    return None


def held_values(text: str, c: Collector, variable: str, start: int, end: int) -> None:
    """The value of an assignment at text[start:end] (`"--dist-backend nccl"`, `(--backend nccl)`,
    `nccl`): backend values in it wait for the variable to reach a launch line."""
    raw = text[start:end]
    inner = start
    if raw.startswith("(") and raw.endswith(")"):
        inner, end = start + 1, end - 1
    elif len(raw) >= 2 and raw[0] == raw[-1] == '"' and not re.search(r"[$`\\]", raw[1:-1]):
        inner, end = start + 1, end - 1
    elif len(raw) >= 2 and raw[0] == raw[-1] == "'":
        inner, end = start + 1, end - 1
    # a word that touches an expansion is not plain (`nccl$SUFFIX`, `${X}nccl`)
    words = [(m.start(), m.end()) for m in _HELD_WORD.finditer(text, inner, end)
             if text[m.end():m.end() + 1] not in _JOINED and text[m.start() - 1:m.start()] not in _JOINED]
    found: list[Pending] = []
    if len(words) == 1 and (whole := literal(text, *words[0])) is not None and c.is_backend_value(whole[2]):
        found.append(Pending(whole[0], whole[1], whole[2], None))  # BACKEND=nccl
    for (first, first_end), following in zip(words, [*words[1:], None]):
        option = _OPTION.match(text, first, first_end)
        if option is None or not c.backend_option(option.group(1)):
            continue
        if option.group(2):
            value = literal(text, option.end(), first_end)
        elif option.end() == first_end and following is not None:
            value = literal(text, *following)
        else:
            value = None
        if value is not None and c.is_backend_value(value[2]):
            found.append(Pending(value[0], value[1], value[2], option.group(1)))
    if found:
        c.pending.setdefault(variable, []).extend(found)


def export_list(text: str, c: Collector, start: int, end: int) -> None:
    """Slurm's `--export=ALL,NAME,NAME=value` (and PBS's `-v` list): the names in it."""
    if end - start >= 2 and text[start] == text[end - 1] and text[start] in "'\"":
        start, end = start + 1, end - 1
    for match in _EXPORT_ITEM.finditer(text[start:end]):  # a slice: `^` is the list's start
        name = match.group(1)
        if name not in _EXPORT_KEYWORDS:
            c.name(start + match.start(1), start + match.end(1), name)


def directive(text: str, c: Collector, start: int, end: int) -> None:
    """A `#SBATCH --export=...` / `#PBS -v ...` line: a comment to the shell, options to the scheduler."""
    match = _DIRECTIVE.match(text, start, end)
    if match is not None:
        export_list(text, c, match.start(1), match.end(1))


def literal_mentions(text: str, c: Collector, start: int, end: int) -> None:
    """`$NAME` in text the shell takes literally here."""
    for match in _EXPANSION.finditer(text, start, end):
        if NAME.fullmatch(match.group(1)):
            c.literal(match.start(1), match.end(1), match.group(1))
