"""How many servers, pods or nodes a traffic level needs, from measured throughput.

A fixed-price server looks free to scale until it saturates. Each target's benchmark records the
requests a second its recipe served on the measuring machine and the p99 latency at that load
(`infra.results`). One instance of a type with `v` vCPUs is taken to serve that throughput
times `v / cpus` (the measuring machine's CPU count): a stated, linear scale factor. The usage
profile's `peak_to_average` turns the month's requests into the busiest hour's rate, and an
instance count is that rate over one instance's capacity, rounded up.

Where the figure comes from, in order: the profile's `capacity.rps_per_instance` (stated); the
local results (`.shipways/results.json`); the snapshot committed with the docs
(`docs/measurements.json`); else the profile's `capacity.default_rps`. A measurement whose p99
misses the profile's `p99_target_ms` is not used, and the reason is kept for the reader. The
docs size from the snapshot alone (`measured_in`), so their figures do not change with
whatever this machine happened to measure.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from infra.cost.usage import Capacity
from infra.paths import ROOT
from infra.results import Results, results_path

REFERENCE_CPUS = 2  # a stated or default capacity is per 2 vCPUs (the measuring machine's)
SNAPSHOT = ROOT / "docs" / "measurements.json"

_FILES: ContextVar[tuple[Path, ...] | None] = ContextVar("capacity_files", default=None)


@contextmanager
def measured_in(*files: Path) -> Iterator[None]:
    """Within the block, size from these results files only, in order (instead of the local
    results, then the snapshot): the docs pass the committed snapshot alone."""
    token = _FILES.set(files)
    try:
        yield
    finally:
        _FILES.reset(token)


def sources() -> tuple[Path, ...]:
    """The results files sizing reads, in order of preference."""
    return _FILES.get() or (results_path(), SNAPSHOT)


@dataclass(frozen=True)
class Throughput:
    """Requests a second one instance with `cpus` CPUs serves, and where that comes from."""

    rps: float
    cpus: int
    origin: str

    def per_instance(self, vcpus: int) -> float:
        return self.rps * vcpus / self.cpus

    def describe(self, vcpus: int, what: str = "instance") -> str:
        factor = vcpus / self.cpus
        scaled = f" x {vcpus}/{self.cpus} vCPUs" if factor != 1 else ""
        return f"{self.per_instance(vcpus):,.0f} requests/s per {what} ({self.origin}{scaled})"


@lru_cache(maxsize=8)
def _read(path: Path, stamp: float) -> Results:
    del stamp  # part of the cache key only: a rewritten file is read again
    return Results.model_validate_json(path.read_text())


def _results(path: Path) -> Results | None:
    try:
        return _read(path, path.stat().st_mtime)
    except (OSError, ValueError):
        return None


def throughput(target: str, capacity: Capacity, files: list[Path] | None = None) -> Throughput:
    """One instance's measured (or stated) throughput for `target` at the profile's target."""
    if capacity.rps_per_instance is not None:
        return Throughput(capacity.rps_per_instance, REFERENCE_CPUS, "stated in the usage profile")
    missed: list[str] = []
    for path in files if files is not None else sources():
        results = _results(path)
        if results is None:
            continue
        rps = results.latest(target, f"{capacity.endpoint}_rps")
        if rps is None:
            continue
        p99 = results.latest(target, f"{capacity.endpoint}_p99_ms")
        when = rps.measured_at.strftime("%Y-%m-%d")
        if p99 is not None and p99.value > capacity.p99_target_ms:
            missed.append(f"{path.name}: p99 {p99.value:g} ms misses {capacity.p99_target_ms:g}")
            continue
        at = f" at p99 {p99.value:g} ms" if p99 is not None else ""
        origin = (
            f"{rps.value:g} /{capacity.endpoint} requests/s{at} measured by {rps.source} on "
            f"{rps.machine.cpus} CPUs, {when}, {path.name}"
        )
        return Throughput(rps.value, rps.machine.cpus or REFERENCE_CPUS, origin)
    why = "; ".join(missed) or "nothing measured"
    return Throughput(capacity.default_rps, REFERENCE_CPUS, f"the profile's default ({why})")


def needed(peak_rps: float, per_instance: float, minimum: int = 1) -> int:
    """Instances that serve `peak_rps`, never fewer than `minimum`."""
    if peak_rps <= 0:
        return minimum
    return max(minimum, math.ceil(peak_rps / per_instance))
