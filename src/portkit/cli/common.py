"""What every command shares: exit codes, the one-line usage error, writing a file."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import click

from portkit.pipeline.discovery import printable_path
from portkit.pipeline.sourcefile import atomic_write

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class PortkitUsageError(click.ClickException):
    """A one-line error the user must act on (exit 2)."""

    exit_code = EXIT_USAGE

    def show(self, file: object = None) -> None:
        click.echo(f"portkit: error: {self.message}", err=True)


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """`; did you mean 'device-string'?` when one of `known` is close to `given`, else ""."""
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def shown(path: Path | str) -> str:
    """A path in a message: one printable line (discovery.printable_path)."""
    return printable_path(str(path))


def write_file(path: Path, text: str) -> None:
    try:
        atomic_write(path, text.encode("utf-8"))
    except (OSError, UnicodeError) as error:
        raise PortkitUsageError(f"{shown(path)}: cannot write: {getattr(error, 'strerror', None) or error}") from None
