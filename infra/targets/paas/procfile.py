"""The Procfile, read the way the strictest platform reads it.

Heroku, Dokku, Railway and honcho accept `name: command` lines; Elastic Beanstalk is stricter
(names from `[A-Za-z0-9_]`, `web` first, every line a long-running process). Checking against
the strictest reading at build time keeps one Procfile deployable everywhere, and a mistake
is reported before anything is uploaded.
"""

from __future__ import annotations

import re

# Elastic Beanstalk's own rule for a Procfile line (its docs give this expression).
LINE = re.compile(r"^(?P<name>[A-Za-z0-9_]+):\s*(?P<command>\S.*)$")
REQUIRED = ("web", "release")


class ProcfileError(ValueError):
    """The Procfile would not run on every platform; the message names the line."""


def parse(text: str) -> dict[str, str]:
    """Process types in file order; raises ProcfileError naming the first bad line."""
    processes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = LINE.match(line)
        if match is None:
            raise ProcfileError(
                f"Procfile line {number} is not `name: command` (names use A-Z a-z 0-9 _): {line!r}"
            )
        name = match["name"]
        if name in processes:
            raise ProcfileError(f"Procfile line {number}: process type {name!r} defined twice")
        processes[name] = match["command"].strip()
    missing = [name for name in REQUIRED if name not in processes]
    if missing:
        raise ProcfileError(
            f"Procfile: missing {', '.join(missing)} (`web:` serves HTTP on $PORT, "
            "`release:` migrates the database before a release takes traffic)"
        )
    if next(iter(processes)) != "web":
        raise ProcfileError(
            "Procfile: `web:` must be the first line (Elastic Beanstalk requires it)"
        )
    if "$PORT" not in processes["web"] and "${PORT" not in processes["web"]:
        raise ProcfileError("Procfile: `web:` must listen on $PORT, the port the platform assigns")
    return processes
