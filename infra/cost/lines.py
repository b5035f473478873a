"""What an estimate is made of: charges, grouped in lines (one per resource or assumption).

A line with unpriced parts is counted, never dropped: a total with unpriced parts is shown as
a lower bound. A line's `notes` carry what the reader must know beside its figure (an exposure
that is not billed by default, a limit the traffic exceeds, which configuration was priced).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

ASSUMPTION = "(usage profile)"


class Status(StrEnum):
    PRICED = "priced"
    PARTLY_PRICED = "partly priced"
    NO_CHARGE = "no charge of its own"
    NOT_PRICED = "not priced"


class Charge(BaseModel):
    """One billed quantity: `quantity` `unit` at the price `price_key`."""

    what: str
    quantity: float
    unit: str
    price_key: str
    monthly: float
    per_request: bool = False  # grows with traffic (otherwise fixed for the month)


class ResourceCost(BaseModel):
    type: str
    name: str
    detail: str = ""  # the key properties the charges were computed from
    charges: list[Charge] = Field(default_factory=list)
    unpriced: list[str] = Field(default_factory=list)  # parts with no price, and why
    no_charge_reason: str | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def status(self) -> Status:
        if self.unpriced:
            return Status.PARTLY_PRICED if self.charges else Status.NOT_PRICED
        if not self.charges and self.no_charge_reason is not None:
            return Status.NO_CHARGE
        return Status.PRICED

    @property
    def monthly(self) -> float:
        return sum(c.monthly for c in self.charges)

    def note(self) -> str:
        parts = [self.no_charge_reason] if self.no_charge_reason else []
        return "; ".join(parts + self.notes + [f"not priced: {u}" for u in self.unpriced])


class Estimate(BaseModel):
    stack: str
    target: str
    usage: str
    requests_per_month: int
    assumptions: dict[str, str]
    lines: list[ResourceCost]
    price_region: str = ""
    stack_region: str | None = None
    sizing: dict[str, str] = Field(default_factory=dict)  # instances needed, and why
    warnings: list[str] = Field(default_factory=list)

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def fixed(self) -> float:
        return sum(c.monthly for line in self.lines for c in line.charges if not c.per_request)

    @property
    def per_request(self) -> float:
        return sum(c.monthly for line in self.lines for c in line.charges if c.per_request)

    @property
    def unpriced(self) -> list[str]:
        return [f"{line.name}: {u}" for line in self.lines for u in line.unpriced]

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def price_keys(self) -> set[str]:
        return {c.price_key for line in self.lines for c in line.charges}

    def summary(self) -> dict[str, Any]:
        return {
            "monthly_usd": round(self.monthly, 4),
            "fixed_usd": round(self.fixed, 4),
            "per_request_usd": round(self.per_request, 4),
            "complete": self.complete,
            "not_priced": self.unpriced,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "target": self.target,
            "usage": self.usage,
            "price_region": self.price_region,
            "stack_region": self.stack_region,
            "warnings": self.warnings,
            "assumptions": self.assumptions,
            "sizing": self.sizing,
            **self.summary(),
            "resources": [
                {
                    "type": line.type,
                    "name": line.name,
                    "status": line.status.value,
                    "detail": line.detail,
                    "monthly_usd": round(line.monthly, 4),
                    "charges": [c.model_dump() for c in line.charges],
                    "note": line.note(),
                }
                for line in self.lines
            ],
        }
