"""What every command shares: exit codes, the one-line usage error, did-you-mean suggestions,
choices that suggest, colour settings, the progress bar, writing a file."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from portkit.model import did_you_mean  # noqa: F401 - the CLI modules import it from here
from portkit.pipeline.discovery import printable_path
from portkit.pipeline.sourcefile import atomic_write

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COLOR_CHOICES = ("auto", "always", "never")


class PortkitUsageError(click.ClickException):
    """A one-line error the user must act on (exit 2)."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"portkit: error: {self.message}", err=True)


class Choice(click.Choice):
    """click.Choice whose refusal is portkit's one line with a suggestion:
    `unknown --target 'acelerator'; did you mean 'accelerator'? (choose from npu, accelerator)`."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            name = param.opts[0] if param is not None and param.opts else "value"
            choices = [str(c) for c in self.choices]
            raise PortkitUsageError(f"unknown {name} '{value}'{did_you_mean(str(value), choices)} "
                                    f"(choose from {', '.join(choices)})") from None


def color_setting(flag: str | None, environ: Mapping[str, str]) -> bool | None:
    """Whether to style output: --color always / never decide; otherwise NO_COLOR (any
    non-empty value, no-color.org) turns it off and FORCE_COLOR (non-empty) on; None leaves
    it to click, which styles only a terminal."""
    if flag == "always":
        return True
    if flag == "never":
        return False
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return None


class Progress:
    """`files done / total, rate` on stderr, only on a terminal and only once a run has taken
    more than a second (short runs and pipes see nothing). `verb` says what happens to the
    files in this mode: "migrated", "scanned" (--dry-run, --diff), "checked"."""

    def __init__(self, verb: str, delay: float = 1.0) -> None:
        self.verb, self.delay = verb, delay
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown = False
        self.last = 0.0

    def __enter__(self) -> Progress:
        return self

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        if not self.enabled or elapsed < self.delay or (now - self.last < 0.1 and done < total):
            return
        self.last, self.shown = now, True
        click.echo(f"\r{progress_line(done, total, self.verb, elapsed)}", nl=False, err=True)

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)  # clear the bar before the summary


def progress_line(done: int, total: int, verb: str, elapsed: float, width: int = 30) -> str:
    """`[#####.....] 3/10 files scanned, 12 files/s`."""
    filled = width * done // max(total, 1)
    rate = done / elapsed if elapsed else 0.0
    noun = "file" if total == 1 else "files"
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {noun} {verb}, {rate:.0f} files/s"


def shown(path: Path | str) -> str:
    """A path in a message: one printable line (discovery.printable_path)."""
    return printable_path(str(path))


def write_file(path: Path, text: str) -> None:
    try:
        atomic_write(path, text.encode("utf-8"))
    except (OSError, UnicodeError) as error:
        raise PortkitUsageError(f"{shown(path)}: cannot write: {getattr(error, 'strerror', None) or error}") from None
