"""The Procfile, read the way the strictest platform reads it.

Heroku, Dokku, Railway and honcho accept `name: command` lines; Elastic Beanstalk is stricter
(names from `[A-Za-z0-9_]`, `web` first, every line a long-running process). Checking against
the strictest reading at build time keeps one Procfile deployable everywhere, and a mistake
is reported before anything is uploaded.
"""

from __future__ import annotations

import re
import shlex

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


def check_follows(processes: dict[str, str], entry: str, release: str) -> None:
    """The Procfile runs what the app spec says: `web:` serves its entry point and `release:`
    is its release command, so no target ships one app while another deploys something else."""
    try:
        web = shlex.split(processes["web"])
    except ValueError as exc:
        raise ProcfileError(f"Procfile: `web:` is not a command line ({exc})") from None
    if entry not in web:
        raise ProcfileError(
            f"Procfile: `web:` does not serve {entry!r}, the entry of the app's "
            "[tool.shipways] table; make the two agree"
        )
    if processes["release"].split() != release.split():
        raise ProcfileError(
            f"Procfile: `release:` runs {processes['release']!r}, but the app's "
            f"[tool.shipways] release is {release!r}; make the two agree"
        )
