"""Measured figures, recorded where they were measured, read by `compare` and the report.

`up`, `verify` and the benchmarks append what they measure (deploy time, p99, image size...) to
one JSON file with the machine and the date, so a comparison never shows a number that was not
measured on a named machine, and says "not measured" for the rest. The newest value of a
(target, metric) pair wins.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from infra.paths import state_dir


def results_path() -> Path:
    return Path(os.environ.get("SHIPWAYS_RESULTS", state_dir() / "results.json"))


class Machine(BaseModel):
    system: str = Field(default_factory=lambda: f"{platform.system()} {platform.release()}")
    machine: str = Field(default_factory=platform.machine)
    cpus: int = Field(default_factory=lambda: os.cpu_count() or 0)
    python: str = Field(default_factory=platform.python_version)


class Measurement(BaseModel):
    target: str
    metric: str
    value: float
    unit: str
    source: str
    path: str | None = None  # load figures: how the load reached the app (infra.loadgen)
    measured_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    machine: Machine = Field(default_factory=Machine)


class Results(BaseModel):
    measurements: list[Measurement] = Field(default_factory=list)

    def latest(self, target: str, metric: str) -> Measurement | None:
        found = [m for m in self.measurements if m.target == target and m.metric == metric]
        return max(found, key=lambda m: m.measured_at) if found else None


def load(path: Path | None = None) -> Results:
    path = path or results_path()
    if not path.exists():
        return Results()
    return Results.model_validate_json(path.read_text())


def record(
    target: str, metric: str, value: float, unit: str, source: str, *, path: str | None = None
) -> Measurement:
    """Append one measurement (atomically: a crash mid-write never corrupts the file)."""
    file = results_path()
    results = load(file)
    entry = Measurement(
        target=target, metric=metric, value=value, unit=unit, source=source, path=path
    )
    results.measurements.append(entry)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(results.model_dump(mode="json"), indent=1))
    tmp.replace(file)
    return entry
