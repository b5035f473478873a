"""How money and request counts read, the same in the terminal, the page, the docs and the guide."""

from __future__ import annotations

from infra.cost.breakeven import CapacityStep

# The traffic levels a cost-versus-traffic table shows as columns (terminal and docs).
SWEEP_ROWS = (0, 1_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000)


def money(usd: float | None) -> str:
    if usd is None:
        return "-"
    return f"${usd:,.2f}"


def requests(n: int) -> str:
    """A request count as people say it: 1B, 5M, 300k, or the digits when it is not round."""
    if n >= 1_000_000_000 and n % 100_000_000 == 0:
        return f"{n / 1_000_000_000:g}B"
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return f"{n:,}"


UNITS = {"vps": "server", "paas": "instance", "k8s": "pod"}


def step_text(target: str, step: CapacityStep) -> str:
    """One capacity step in words: "from 12,345,678: 2 servers" (k8s adds its nodes)."""
    if target not in UNITS:
        return f"from {step.requests_per_month:,}: no servers to size (scales per request)"
    unit = UNITS[target] + ("" if step.servers == 1 else "s")
    nodes = f" on {step.nodes} node{'' if step.nodes == 1 else 's'}" if step.nodes else ""
    return f"from {step.requests_per_month:,}: {step.servers} {unit}{nodes}"
