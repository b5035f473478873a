"""How a command says no: one line, an exit code that tells what kind of no, and JSON on demand.

The line names what was wrong and what to do. The exit code separates a usage mistake (2:
change the command line) from a failure (1: the command was fine, something it needed was
not). Under `--json` the same message also goes to stdout as `{"error": {"message": ...,
"code": ...}}`, so a script reading stdout always gets JSON. A command adopts it by running
its body inside `answered(as_json=...)` and raising `CommandError` or `BadOption`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

USAGE_MISTAKE = 2
FAILURE = 1

_stderr = Console(stderr=True)


class CommandError(Exception):
    """What a command refuses or fails with, worded for the person who ran it."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever the source wrote
        self.code = code


class BadOption(CommandError):
    """An option's value cannot be used; the message starts with the option's name."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}", USAGE_MISTAKE)
        self.option = option


def error_object(error: CommandError) -> dict[str, dict[str, str | int]]:
    return {"error": {"message": error.message, "code": error.code}}


def answer(error: CommandError, *, as_json: bool = False) -> typer.Exit:
    """Print `error` (one line on stderr; the error object on stdout under --json) and return
    the exit to raise."""
    _stderr.print(f"[bold red]error:[/] {escape(error.message)}", soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(error_object(error)))
    return typer.Exit(error.code)


@contextmanager
def answered(
    *, as_json: bool = False, failures: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """Run a command's body: a `CommandError`, or one of `failures` (the library's own
    worded errors, taken as failures), ends the command with its answer."""
    try:
        yield
    except CommandError as exc:
        raise answer(exc, as_json=as_json) from None
    except failures as exc:
        raise answer(CommandError(str(exc)), as_json=as_json) from None
