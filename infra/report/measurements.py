"""Which measured figures a comparison shows: this machine's, or the committed snapshot's.

`up`, `verify` and the benchmarks record into this machine's results file (`infra.results`).
A fresh clone has measured nothing, so `compare` and `report` then show the committed
snapshot, `docs/measurements.json` (the figures the docs quote), labelled as such, rather
than a table of "not measured". `shipways docs --snapshot` refreshes that snapshot from this
machine's results, and refuses to when there are none (it would erase the committed figures).
"""

from __future__ import annotations

from pathlib import Path

from infra.paths import ROOT
from infra.report.model import MeasurementsSource
from infra.results import Measurement, Results, load, results_path

SNAPSHOT = ROOT / "docs" / "measurements.json"


class MeasurementsError(ValueError):
    """A results file cannot be read, or there is nothing to snapshot."""


def read(path: Path) -> Results:
    """The measurements in `path` (none when it does not exist), or a one-line error."""
    try:
        return load(path)
    except (ValueError, OSError) as exc:  # a pydantic ValidationError is a ValueError
        first = str(exc).splitlines()[0]
        raise MeasurementsError(
            f"{path}: not a results file ({first}); fix it, or delete it to start afresh"
        ) from None


def _shown_path(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def describe(results: Results, path: Path, *, snapshot: bool) -> MeasurementsSource:
    newest = max((m.measured_at for m in results.measurements), default=None)
    return MeasurementsSource(
        source="snapshot" if snapshot else "this-machine",
        path=_shown_path(path) if snapshot else str(path),
        measured_at=newest,
    )


def for_comparison(results_file: Path | None = None) -> tuple[Results, MeasurementsSource]:
    """This machine's results (default: the local results file), or the committed snapshot
    when this machine has measured nothing. Naming the snapshot itself reads it as such."""
    path = results_file or results_path()
    if path.resolve() == SNAPSHOT.resolve():
        return snapshot_results()
    here = read(path)
    if here.measurements or not SNAPSHOT.exists():
        return here, describe(here, path, snapshot=False)
    return snapshot_results()


def snapshot_results(path: Path = SNAPSHOT) -> tuple[Results, MeasurementsSource]:
    """The committed snapshot's figures (what the docs quote)."""
    results = read(path)
    return results, describe(results, path, snapshot=True)


def write_snapshot(source: Path | None = None, dest: Path = SNAPSHOT) -> Results:
    """Copy the newest measurement of every (target, metric) on this machine into the docs
    snapshot; refused when this machine has measured nothing."""
    path = source or results_path()
    results = read(path)
    if not results.measurements:
        raise MeasurementsError(
            f"nothing measured on this machine yet ({path}): run `shipways demo` and the "
            f"benchmarks first; {_shown_path(dest)} is left as it is"
        )
    newest: dict[tuple[str, str], Measurement] = {}
    for m in sorted(results.measurements, key=lambda m: m.measured_at):
        newest[(m.target, m.metric)] = m
    kept = Results(measurements=[newest[k] for k in sorted(newest)])
    dest.write_text(kept.model_dump_json(indent=1) + "\n")
    return kept
