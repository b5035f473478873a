"""The options `plan`, `compare` and `report` share, read into checked values before any work.

`--usage` becomes a loaded usage profile, `--requests-per-month` a count within a documented
bound, `-o/--output` a file that can be written; a value that cannot be used is refused with
a `BadOption` naming the option and what to give instead (exit 2). The count arrives as text
and is read here rather than by click, so a non-number is answered like every other mistake
with this option: one line, and an error object under `--json`.
"""

from __future__ import annotations

from pathlib import Path

from infra.cli_errors import BadOption
from infra.cost.usage import MAX_REQUESTS_PER_MONTH, UsageError, UsageProfile, load_usage

REQUESTS_HELP = (
    f"Traffic level, 0 to {MAX_REQUESTS_PER_MONTH:,} requests a month (default: the profile's)."
)
USAGE_HELP = "Usage profile: a name in infra/cost/usage/ or a path to a YAML file."


def requests_per_month(text: str | None) -> int | None:
    """The `--requests-per-month` count, or None when it was not given."""
    if text is None:
        return None
    try:
        count = int(text.strip().replace("_", ""))
    except ValueError:
        raise BadOption(
            "--requests-per-month", f"{text!r} is not a whole number; give e.g. 5000000"
        ) from None
    if not 0 <= count <= MAX_REQUESTS_PER_MONTH:
        raise BadOption(
            "--requests-per-month",
            f"{count:,} is out of range; give 0 to {MAX_REQUESTS_PER_MONTH:,} "
            "(a trillion a month is about 380,000 requests a second)",
        )
    return count


def usage_profile(usage: str, requests: str | None = None) -> UsageProfile:
    """The `--usage` profile, at the `--requests-per-month` traffic when that is given."""
    count = requests_per_month(requests)
    try:
        profile = load_usage(usage)
    except UsageError as exc:
        raise BadOption("--usage", str(exc)) from None
    return profile if count is None else profile.at(count)


def output_file(path: Path) -> Path:
    """The `-o/--output` file: its directory must exist, and it must not be a directory."""
    if path.is_dir():
        raise BadOption("--output", f"{path} is a directory; give a file name, e.g. {path}/x.html")
    parent = path.parent
    if not parent.is_dir():
        raise BadOption(
            "--output", f"directory {parent} does not exist; create it or write somewhere else"
        )
    return path
