"""Errors raised by the local sandbox.

Every failure in the sandbox layer (engine down, image build broken, container unhealthy)
surfaces as one exception type so CLIs can print a single, actionable line instead of a
Docker SDK traceback. Messages say what failed *and* what to do next.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]
"""Receives one human-readable line per step of a long operation (rich status, logs, tests)."""


class SandboxError(Exception):
    """A sandbox operation failed; the message tells the user how to fix or retry it."""


def report(progress: Progress | None, message: str) -> None:
    """Send `message` to `progress` when the caller asked for progress lines."""
    if progress is not None:
        progress(message)
