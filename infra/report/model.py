"""What a comparison holds: the data `compare`, `--json`, the HTML report and the docs show.

Every model here is frozen and its collections are tuples: a `Comparison` is built whole, in
one call (`infra.report.build`), and never changed after, so the terminal, the page and the
docs cannot drift apart by one of them adjusting it. Only data and how one figure reads live
here; building is in the builders, presenting in the renderers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from infra.cost.breakeven import BreakEven, CapacityStep
from infra.report.facts import Fact

BASELINE = "local"  # the app on uvicorn direct, measured by benchmarks/baseline.py

_FROZEN = ConfigDict(frozen=True)


class Figure(BaseModel):
    """One cell of the operations table: a catalogue metric for one target, or a recorded
    metric no catalogue row accepts."""

    model_config = _FROZEN

    metric: str
    label: str
    unit: str
    value: float | None = None  # in `unit`; None: not measured
    raw_unit: str | None = None  # set when the recorded unit could not be converted
    recorded_as: str | None = None
    source: str | None = None
    measured_at: datetime | None = None
    machine: str | None = None

    @property
    def measured(self) -> bool:
        return self.value is not None

    def text(self) -> str:
        if self.value is None:
            return "not measured"
        unit = self.raw_unit if self.raw_unit is not None else self.unit
        if unit == "count":  # failed requests: a whole number, read as such ("0", not "0.00")
            return f"{self.value:,.0f}"
        return f"{_number(self.value)} {unit}".strip()


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


class MeasurementsSource(BaseModel):
    """Where the measured figures came from. `this-machine`: the results file that `up` and
    the benchmarks write here; `snapshot`: the committed `docs/measurements.json`, shown when
    this machine has measured nothing yet, and labelled so wherever figures are shown."""

    model_config = _FROZEN

    source: Literal["this-machine", "snapshot"]
    path: str
    measured_at: datetime | None  # the newest figure in it; None: nothing measured

    @property
    def is_snapshot(self) -> bool:
        return self.source == "snapshot"

    def label(self) -> str:
        """Where the figures come from, in a few words (table titles, `report`'s output)."""
        if not self.is_snapshot:
            return f"results: {self.path}"
        when = f", measured {self.measured_at:%Y-%m-%d}" if self.measured_at else ""
        return f"committed snapshot {self.path}{when}; nothing measured on this machine yet"


class TargetCost(BaseModel):
    """A target's monthly cost at the comparison's traffic; `reason` when it has no plan."""

    model_config = _FROZEN

    target: str
    planned: bool
    reason: str | None = None
    resources: int = 0
    monthly_usd: float | None = None
    fixed_usd: float | None = None
    per_request_usd: float | None = None
    per_million_usd: float | None = None  # what one more million requests a month adds
    complete: bool = False
    not_priced: tuple[str, ...] = ()
    # The database's share of monthly_usd, and what it is (on the host, RDS, the proxy...).
    database_usd: float | None = None
    database: str | None = None
    estimate: dict[str, Any] | None = None


class Option(BaseModel):
    """A target that meets a scenario's needs, at that scenario's traffic."""

    model_config = _FROZEN

    target: str
    monthly_usd: float
    complete: bool
    configuration: str | None = None  # set: priced as configured for the situation, not default
    settings: str | None = None  # the configuration's keys, in words

    def label(self) -> str:
        return f"{self.target} ({self.configuration})" if self.configuration else self.target


class Recommendation(BaseModel):
    """The guide's answer for one scenario, with the figures that decided it."""

    model_config = _FROZEN

    key: str
    title: str
    situation: str
    profile: str
    requests_per_month: int
    needs: tuple[str, ...]
    pick: str | None
    runner_up: str | None
    options: tuple[Option, ...]  # every target that meets the needs, cheapest first
    excluded: dict[str, str]  # target -> the need it fails
    reasons: tuple[str, ...]

    def choice(self) -> str | None:
        """The pick as a user would set it up here: "paas (LoadBalanced)"."""
        return self.options[0].label() if self.options else None


class ColdStarts(BaseModel):
    """Serverless cold starts a month against traffic: from a measured init duration and a
    stated idle timeout (`infra.report.coldstarts` explains the model)."""

    model_config = _FROZEN

    target: str
    init_ms: float | None  # None: not measured
    init_source: str
    idle_minutes: float
    model: str
    points: tuple[tuple[int, float], ...]  # (requests a month, cold starts a month)


class Comparison(BaseModel):
    """The targets side by side at one traffic level: costs, cost curves and break-evens,
    measured operations figures, recipe facts and the guide."""

    model_config = _FROZEN

    generated_at: datetime
    today: date
    requests_per_month: int
    usage: str
    assumptions: dict[str, str]
    price_file: str
    price_version: int
    price_updated: date
    price_region: str
    price_warnings: tuple[str, ...]
    warnings: tuple[str, ...]  # what the reader must know before relying on the figures
    measurements: MeasurementsSource
    targets: tuple[str, ...]
    costs: tuple[TargetCost, ...]
    sweep: dict[str, tuple[tuple[int, float], ...]]
    sweep_max: int
    break_evens: tuple[BreakEven, ...]
    capacity_steps: dict[str, tuple[CapacityStep, ...]]  # where servers/pods/nodes step up
    capacity_max: int  # the steps are looked for from 0 to here
    cold_starts: ColdStarts | None
    operations: dict[str, tuple[Figure, ...]]  # the baseline first, then every target
    other_measurements: tuple[Figure, ...]
    facts: dict[str, dict[str, Fact]]
    guide: tuple[Recommendation, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def results_file(self) -> str:
        """The file the measured figures were read from (kept for `--json` readers)."""
        return self.measurements.path

    def cost(self, target: str) -> TargetCost:
        return next(c for c in self.costs if c.target == target)

    def prices_label(self) -> str:
        """Where every cost comes from, in a few words (chart captions, tables)."""
        return (
            f"prices: {self.price_file} v{self.price_version}, updated {self.price_updated}, "
            f"{self.price_region}"
        )
