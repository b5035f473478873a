"""Options read into checked values before any work: those `plan`, `compare` and `report`
share, and `verify`'s profile and instance count.

`--usage` becomes a loaded usage profile, `--requests-per-month` a count within a documented
bound, `-o/--output` a file that can be written; a value that cannot be used is refused with
a `BadOption` naming the option and what to give instead (exit 2). The count arrives as text
and is read here rather than by click, so a non-number is answered like every other mistake
with this option: one line, and an error object under `--json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from infra.cli_errors import BadOption
from infra.contract import MAX_INSTANCES, PROFILES, Profile
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


@dataclass(frozen=True)
class VerifyOptions:
    profile: Profile
    instances: int


def verify_options(target: str | None, profile: str, instances: str | None) -> VerifyOptions:
    """`verify`'s `--profile` and `--instances`: both describe a URL; a local target serves
    the sample app (full contract) and knows how many instances it runs."""
    if profile not in PROFILES:
        raise BadOption("--profile", f"unknown profile {profile!r}; give {' or '.join(PROFILES)}")
    if target is not None and profile != "full":
        raise BadOption(
            "--profile",
            "a local target serves the sample app: verify it with the full contract (drop "
            "--profile), or give --url URL --profile health for another app",
        )
    if instances is None:
        return VerifyOptions(cast(Profile, profile), 1)
    if target is not None:
        raise BadOption(
            "--instances", "a local target knows how many instances it runs; drop --instances"
        )
    if profile != "full":
        raise BadOption(
            "--instances", "counts instances for the full contract's shared-data check; drop it"
        )
    count = instances.strip()
    if not count.isdigit() or not 1 <= int(count) <= MAX_INSTANCES:
        raise BadOption(
            "--instances", f"{instances!r} is no instance count; give 1 to {MAX_INSTANCES}, e.g. 2"
        )
    return VerifyOptions("full", int(count))
