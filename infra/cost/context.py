"""What every pricing rule reads: the plan, the usage profile, the prices, the sizing, and the
account-wide free allowances they draw from."""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.cost.lines import Charge, ResourceCost
from infra.cost.prices import PriceBook
from infra.cost.sizing import Sizing
from infra.cost.usage import UsageProfile
from infra.harness import OfflinePlan


@dataclass
class Context:
    plan: OfflinePlan
    usage: UsageProfile
    prices: PriceBook
    sizing: Sizing
    # Free-tier allowances are per account: every resource draws from the same remainder.
    allowance_left: dict[str, float] = field(default_factory=dict)

    @property
    def hours(self) -> float:
        return self.usage.hours_running

    def draw(self, key: str, quantity: float) -> float:
        """How much of `quantity` is billable after the free allowance `key` (if applied)."""
        if not self.usage.free_tier:
            return quantity
        left = self.allowance_left.setdefault(key, self.prices.allowance(key).amount)
        free = min(left, quantity)
        self.allowance_left[key] = left - free
        return quantity - free

    def charge(self, what: str, key: str, quantity: float, *, per_request: bool = False) -> Charge:
        price = self.prices.price(key)
        return Charge(
            what=what,
            quantity=quantity,
            unit=price.unit,
            price_key=key,
            monthly=price.cost(quantity),
            per_request=per_request,
        )

    def add(
        self, line: ResourceCost, what: str, key: str, quantity: float, *, per_request: bool = False
    ) -> None:
        """Add a charge at `key`, or record the part as not priced when the file lacks it."""
        if self.prices.find(key) is None:
            line.unpriced.append(f"{what} (no sourced price {key!r})")
            return
        line.charges.append(self.charge(what, key, quantity, per_request=per_request))
