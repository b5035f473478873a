"""Where a chart's numbers came from, as the one line printed under it.

Costs name the price file (version, date, region) and where the servers' sizing throughput was
measured; measured figures name the machine and the dates, and whether they are this
machine's results or the committed snapshot; the cold-start curve names its measured init time
and its stated assumptions.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.report.model import ColdStarts, Comparison, Figure


def _dates(figures: Sequence[Figure]) -> str:
    days = sorted({f.measured_at.date() for f in figures if f.measured_at})
    if not days:
        return ""
    return str(days[0]) if len(days) == 1 else f"{days[0]} to {days[-1]}"


def measured(c: Comparison, figures: Sequence[Figure]) -> str:
    """The machine and dates of `figures`, and whether they were measured here."""
    found = [f for f in figures if f.measured]
    if not found:
        return "Not measured yet: run `shipways demo` and the benchmarks."
    machines = "; ".join(sorted({f.machine for f in found if f.machine}))
    if c.measurements.is_snapshot:
        where = f"Committed snapshot {c.measurements.path}"
    else:
        where = f"Measured on this machine ({c.measurements.path})"
    return f"{where}, {_dates(found)}, on {machines}; local stand-ins, not cloud figures."


def costs(c: Comparison) -> str:
    return (
        f"Costs: {c.prices_label()}; usage profile {c.usage!r}. Servers sized from "
        f"measured throughput ({c.measurements.label()})."
    )


def capacity(c: Comparison) -> str:
    """The sizing assumptions: each target's throughput and where it was measured, the peak
    factor and the p99 target."""
    per_target = [v for k, v in c.assumptions.items() if k.endswith("sizing: capacity")]
    parts = [
        f"peak / average {c.assumptions.get('peak / average traffic', '?')}",
        f"capacity target {c.assumptions.get('capacity target', '?')}",
        *per_target,
    ]
    return "Sizing: " + "; ".join(parts) + "."


def cold_starts(cold: ColdStarts) -> str:
    return f"Init time: {cold.init_source}. Model: {cold.model}."
