"""The price data: one versioned file of unit prices, each with its source and date.

Prices live in `infra/prices.yaml`, not in code, so that a reader can re-check every figure
against its source and update it without touching the model. Prices age: `stale()` lists
those older than a year (or undated), and every command that shows a cost shows that list.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.cost.errors import CostInputError

PRICES_FILE = Path(__file__).resolve().parent.parent / "prices.yaml"
MAX_AGE = timedelta(days=365)
AWS_PAGES = "https://aws.amazon.com/"
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class PriceError(CostInputError):
    """The price data is wrong or lacks a price; the message names the entry."""


class CrossCheck(BaseModel):
    """Another page that gives the same figure: where it is and what it says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    where: str  # its address (or, when the search index gave none, what the page is)
    says: str
    date: str | None = None


class _Sourced(BaseModel):
    """Where a figure comes from: the provider's own page for it (`url`, the address to
    re-check), the page it was actually read from and when, and independent cross-checks;
    fewer than two cross-checks must say why (`unchecked`), so a thin source shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    url: str
    read_from: str
    read_on: dt.date
    date: str | None = None  # the date the page read gives: YYYY, YYYY-MM or YYYY-MM-DD
    cross_checks: list[CrossCheck] = Field(default_factory=list)
    unchecked: str | None = None
    note: str | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _check_date(cls, value: object) -> str | None:
        if value is None:
            return None
        text = str(value)
        if not _DATE.match(text):
            raise ValueError(f"{text!r} is not a date like 2025, 2025-05 or 2025-05-19")
        return text

    @model_validator(mode="after")
    def _check_cross_checks(self) -> _Sourced:
        if len(self.cross_checks) < 2 and not self.unchecked:
            raise ValueError(
                f"{len(self.cross_checks)} cross-check(s): add another page giving the same "
                "figure, or say why there is none in `unchecked`"
            )
        return self

    @property
    def source(self) -> str:
        """Where the value was read (what a reader follows first)."""
        return self.read_from

    def earliest_date(self) -> dt.date | None:
        """The earliest day the source's date can mean: `2024` counts as 2024-01-01, so a
        vague date is treated as old, never as fresh."""
        if self.date is None:
            return None
        parts = [int(p) for p in self.date.split("-")] + [1, 1]
        return dt.date(parts[0], parts[1], parts[2])


class Tier(BaseModel):
    """From `from_` units a month on, the price per `per` units is `amount`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: Annotated[float, Field(alias="from", ge=0)]
    amount: Annotated[float, Field(ge=0)]


class Price(_Sourced):
    amount: Annotated[float, Field(ge=0)]
    per: Annotated[float, Field(gt=0)] = 1
    unit: str
    tiers: list[Tier] = Field(default_factory=list)
    valid_up_to: float | None = None  # beyond this many units a month the source gives no price
    vcpus: int | None = None  # instances: what capacity scales with (see infra.cost.capacity)

    def unit_price(self) -> float:
        return self.amount / self.per

    def cost(self, quantity: float) -> float:
        """The charge for `quantity` units in a month, walking the tiers."""
        bounds = [(0.0, self.amount), *((t.from_, t.amount) for t in self.tiers)]
        total = 0.0
        for index, (start, amount) in enumerate(bounds):
            end = bounds[index + 1][0] if index + 1 < len(bounds) else float("inf")
            if quantity > start:
                total += (min(quantity, end) - start) * amount / self.per
        return total

    def label(self) -> str:
        per = "" if self.per == 1 else f"{self.per:,.0f} "
        unit = self.unit[:-1] if self.per == 1 and self.unit.endswith("s") else self.unit
        return f"${self.amount:g} per {per}{unit}"


class Allowance(_Sourced):
    amount: Annotated[float, Field(ge=0)]
    unit: str


class PriceBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    currency: str
    region: str
    updated: dt.date
    prices: dict[str, Price]
    allowances: dict[str, Allowance] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_canonical_pages(self) -> PriceBook:
        for key, entry in self.entries().items():
            if key.startswith("aws.") and not entry.url.startswith(AWS_PAGES):
                raise ValueError(f"{key}: url must be AWS's own page ({AWS_PAGES}...)")
        return self

    def price(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise PriceError(f"no price {key!r} in the price data") from None

    def find(self, key: str) -> Price | None:
        return self.prices.get(key)

    def allowance(self, key: str) -> Allowance:
        try:
            return self.allowances[key]
        except KeyError:
            raise PriceError(f"no allowance {key!r} in the price data") from None

    def entries(self) -> dict[str, Price | Allowance]:
        return {**self.prices, **self.allowances}


class StalePrice(BaseModel):
    key: str
    date: str | None
    source: str
    url: str | None

    def message(self) -> str:
        when = f"dated {self.date}" if self.date else "undated"
        where = self.url or self.source
        return f"{self.key} is {when}: re-check it at {where}"


def load_prices(path: Path = PRICES_FILE) -> PriceBook:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PriceError(f"no price data at {path}") from None
    try:
        return PriceBook.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise PriceError(f"{path}: {problems}") from None


def stale(book: PriceBook, today: dt.date, max_age: timedelta = MAX_AGE) -> list[StalePrice]:
    """Every price or allowance older than `max_age` on `today`, or without a date."""
    found = []
    for key, entry in book.entries().items():
        earliest = entry.earliest_date()
        if earliest is None or today - earliest > max_age:
            found.append(StalePrice(key=key, date=entry.date, source=entry.source, url=entry.url))
    return found
