"""One voice for every sandbox: each step says its name, how long it took and what came of it.

`shipways up` runs minutes of work (image builds, installs, migrations, health waits); a user
should see which step is running, and afterwards one line per step, whichever target it was:

    paas  bundle   shipways-3f2a.zip: 41 files, 52311 bytes  (0.3s)
    paas  install  requirements installed from the wheelhouse  (11.2s)
    paas  health   web (pid 4242) answers /healthz on port 40123  (1.4s)

While a step runs, a spinner shows its name, elapsed time and last progress line (build
output, health status); `note` keeps a detail line under the step, or, inside `details_to(log)`
(the main job), writes it and all progress to that log instead, so the screen keeps one line
per step, cut to the screen's width (the log keeps it whole). A failing step prints
`failed after Ns` and lets the error through: the CLI prints the error once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rich.console import Console
from rich.markup import escape
from rich.status import Status

NAME_WIDTH = 8
_details: ContextVar[Console | None] = ContextVar("shipways_details", default=None)


@contextmanager
def details_to(log: Console) -> Iterator[None]:
    """Within the block, notes and progress lines go to `log` rather than the screen."""
    token = _details.set(log)
    try:
        yield
    finally:
        _details.reset(token)


class Step:
    """A running step: feed it progress, keep notes, set its one result line."""

    def __init__(self, narrator: Narrator, name: str, status: Status) -> None:
        self.name = name
        self.outcome = "done"
        self._narrator = narrator
        self._status = status
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since the step began."""
        return time.perf_counter() - self._started

    def progress(self, line: str) -> None:
        """Show `line` on the spinner only: for chatty output such as a build log."""
        text = f"({self.elapsed:.0f}s) {line.strip()[:80]}"
        self._status.update(self._narrator.label(self.name, text))
        log = _details.get()
        if log is not None:
            log.print(f"{self._narrator.target} {self.name}: {line.rstrip()}", markup=False)

    def note(self, line: str) -> None:
        """Keep `line` on the console, indented under the step."""
        self._narrator.note(line)

    def result(self, text: str) -> None:
        """What the step achieved, printed with its elapsed time when it ends."""
        self.outcome = text


class Narrator:
    """Prints one target's steps on a console (stderr in the CLI, so `--json` stays clean)."""

    def __init__(self, console: Console, target: str) -> None:
        self.console = console
        self.target = target

    def label(self, name: str, text: str) -> str:
        return f"[bold cyan]{self.target}[/] [bold]{name:<{NAME_WIDTH}}[/] {escape(text)}"

    def say(self, name: str, text: str, *, ending: str = "") -> None:
        """One line outside any step: a decision (nothing to deploy, rolled back to v2).

        Inside `details_to` (the main job) the screen line is cut to the console's width, so
        every step stays one line; the log keeps it whole."""
        log = _details.get()
        shown = text
        if log is not None:
            log.print(f"{self.target} {name}: {text}{ending}", markup=False, highlight=False)
            room = self.console.width - len(self.target) - 1 - max(len(name), NAME_WIDTH) - 1
            shown = fit(text, room - len(ending))
        self.console.print(self.label(name, shown + ending), highlight=False)

    def note(self, line: str) -> None:
        """Keep `line` on the console, indented: detail under the current step or line (in
        the details log instead, inside `details_to`)."""
        log = _details.get()
        if log is not None:
            log.print(f"  {self.target}: {line.rstrip()}", markup=False, highlight=False)
        else:
            self.console.print(f"  [dim]{escape(line)}[/]", highlight=False)

    @contextmanager
    def step(self, name: str, doing: str) -> Iterator[Step]:
        """Run the block as step `name`; `doing` shows on the spinner until it ends.

        Steps do not nest (one spinner at a time).
        """
        with self.console.status(self.label(name, f"{doing} ...")) as status:
            step = Step(self, name, status)
            try:
                yield step
            except BaseException:
                self.say(name, f"failed after {step.elapsed:.1f}s")
                raise
        self.say(name, step.outcome, ending=f"  ({step.elapsed:.1f}s)")


def fit(text: str, width: int) -> str:
    """`text`, cut with an ellipsis to at most `width` characters."""
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + "…"
