"""The operations figures of a comparison, read from measured results (`infra.results`).

For every catalogue row (`infra.report.metrics`) the newest value of the first metric name a
target recorded wins, converted into the row's unit. A figure nobody measured has no value and
shows as "not measured", and any recorded metric no row claims is still listed ("other
measurements"), so nothing measured is hidden.
"""

from __future__ import annotations

from infra.report.metrics import CATALOGUE, Metric, convert
from infra.report.model import Figure
from infra.results import Measurement, Results


def _describe_machine(m: Measurement) -> str:
    return f"{m.machine.system}, {m.machine.machine}, {m.machine.cpus} CPUs"


def _latest(results: Results, target: str, names: tuple[str, ...]) -> Measurement | None:
    """The newest value of the first accepted name this target recorded (names are in order
    of preference: a benchmark's precise figure before a by-product of `up`)."""
    for name in names:
        found = results.latest(target, name)
        if found is not None:
            return found
    return None


def figure(results: Results, target: str, metric: Metric) -> Figure:
    found = _latest(results, target, metric.names)
    if found is None:
        return Figure(metric=metric.key, label=metric.label, unit=metric.unit)
    value = convert(found.value, found.unit, metric.unit)
    return Figure(
        metric=metric.key,
        label=metric.label,
        unit=metric.unit,
        value=found.value if value is None else value,
        raw_unit=found.unit if value is None else None,
        recorded_as=found.metric,
        source=found.source,
        measured_at=found.measured_at,
        machine=_describe_machine(found),
    )


def operations(results: Results, target: str) -> tuple[Figure, ...]:
    """One figure per catalogue row, in catalogue order, for `target`."""
    return tuple(figure(results, target, metric) for metric in CATALOGUE)


def unclaimed(results: Results, targets: list[str]) -> tuple[Figure, ...]:
    """The newest value of every recorded metric no catalogue row accepts."""
    claimed = {name for metric in CATALOGUE for name in metric.names}
    seen: dict[tuple[str, str], Measurement] = {}
    for m in results.measurements:
        if m.target in targets and m.metric not in claimed:
            key = (m.target, m.metric)
            if key not in seen or m.measured_at > seen[key].measured_at:
                seen[key] = m
    return tuple(
        Figure(
            metric=f"{m.target}:{m.metric}",
            label=m.metric,
            unit=m.unit,
            value=m.value,
            recorded_as=m.metric,
            source=m.source,
            measured_at=m.measured_at,
            machine=_describe_machine(m),
        )
        for (_, _), m in sorted(seen.items())
    )
