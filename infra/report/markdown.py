"""The docs' figures as Markdown: one generator per named block a page can ask for.

`GENERATORS` maps a block name (`cost-summary`, `ops-vps`, ...) to a function of the
comparison and the price book returning the block's Markdown. Which pages ask for which
blocks, and rewriting them, is `infra.report.docs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from infra.config import TargetName
from infra.cost.model import ASSUMPTION, Status
from infra.cost.prices import PriceBook
from infra.report.facts import ROWS
from infra.report.format import SWEEP_ROWS, money, requests, step_text
from infra.report.metrics import CATALOGUE
from infra.report.model import Comparison, Figure


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cells(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|").replace("\n", " ") for v in values) + " |"

    return "\n".join([cells(headers), cells(["---"] * len(headers)), *map(cells, rows)])


def _prices(_: Comparison, book: PriceBook) -> str:
    rows = [
        [
            f"`{key}`",
            p.description,
            p.label(),
            f"[{p.source}]({p.url})" if p.url else p.source,
            p.date or "undated",
        ]
        for key, p in book.prices.items()
    ]
    rows += [
        [
            f"`{key}`",
            a.description,
            f"{a.amount:,.0f} {a.unit} free",
            f"[{a.source}]({a.url})" if a.url else a.source,
            a.date or "undated",
        ]
        for key, a in book.allowances.items()
    ]
    head = (
        f"Price data `infra/prices.yaml` version {book.version} "
        f"({book.currency}, {book.region}).\n\n"
    )
    return head + _table(["key", "what", "price", "source", "dated"], rows)


def _assumed(c: Comparison) -> str:
    return "Usage profile `{}`: {}.".format(
        c.usage, "; ".join(f"{k} {v}" for k, v in c.assumptions.items())
    )


def _cost_summary(c: Comparison, _: PriceBook) -> str:
    rows = []
    for cost in c.costs:
        if not cost.planned:
            rows.append([cost.target, "-", "-", "-", "-", cost.reason or ""])
            continue
        rows.append(
            [
                cost.target,
                money(cost.fixed_usd),
                money(cost.per_request_usd),
                f"**{money(cost.monthly_usd)}{'' if cost.complete else '+'}**",
                money(cost.per_million_usd),
                "; ".join(cost.not_priced) or "-",
            ]
        )
    headers = [
        "target",
        "fixed",
        "per-request",
        f"total at {requests(c.requests_per_month)}",
        "+1M requests",
        "not priced",
    ]
    return _assumed(c) + "\n\n" + _table(headers, rows)


def _cost_sweep(c: Comparison, _: PriceBook) -> str:
    if not c.sweep:
        return "No stack can be planned yet."
    index = {n: i for i, (n, _) in enumerate(next(iter(c.sweep.values())))}
    shown = [n for n in SWEEP_ROWS if n in index]
    rows = [[t, *(money(points[index[n]][1]) for n in shown)] for t, points in c.sweep.items()]
    return _table(["target", *(requests(n) for n in shown)], rows)


def _break_even(c: Comparison, _: PriceBook) -> str:
    if not c.break_evens:
        return f"No break-even between 0 and {requests(c.sweep_max)} requests a month."
    return "\n".join(
        f"- **{b.requests_per_month:,}** requests/month ({money(b.monthly_usd)}): "
        f"{b.cheaper_below} is cheaper below, {b.cheaper_above} above."
        for b in c.break_evens
    )


def _capacity_steps(c: Comparison, _: PriceBook) -> str:
    rows = [[t, "; ".join(step_text(t, s) for s in steps)] for t, steps in c.capacity_steps.items()]
    sized = [
        f"{k.split(' sizing')[0]}: {v}" for k, v in c.assumptions.items() if "sizing: cap" in k
    ]
    notes = [
        f"peak / average traffic {c.assumptions.get('peak / average traffic', '?')}",
        f"capacity target {c.assumptions.get('capacity target', '?')}",
        *sized,
    ]
    return (
        _table(
            ["target", f"from requests/month (0 to {requests(c.capacity_max)}): what it needs"],
            rows,
        )
        + "\n\nSized with: "
        + "; ".join(notes)
        + "."
    )


def _cold_starts(c: Comparison, _: PriceBook) -> str:
    cold = c.cold_starts
    if cold is None:
        return "No serverless stack to size yet."
    shown = [p for p in cold.points if p[0] in {10**e for e in range(3, 10)}]
    rows = [[requests(n), f"{starts:,.0f}", f"{100 * starts / n:.2g}%"] for n, starts in shown]
    return (
        _table(["requests/month", "cold starts/month", "share of requests"], rows)
        + f"\n\nInit time: {cold.init_source}. Model: {cold.model}."
    )


def _cell(fig: Figure) -> str:
    return fig.text() if fig.measured else "not measured"


def _measured_on(figures: Sequence[Figure]) -> str:
    found = [f for f in figures if f.measured and f.measured_at]
    if not found:
        return (
            "Nothing measured yet: run `shipways demo` and the benchmarks, "
            "then `shipways docs --snapshot`."
        )
    machines = sorted({f.machine or "?" for f in found})
    first = min(f.measured_at for f in found if f.measured_at)
    last = max(f.measured_at for f in found if f.measured_at)
    span = first.strftime("%Y-%m-%d") + (
        "" if first.date() == last.date() else f" to {last.strftime('%Y-%m-%d')}"
    )
    return f"Measured {span} on {'; '.join(machines)} (snapshot `docs/measurements.json`)."


def _shown(metric: int, figures: Sequence[Figure]) -> bool:
    """Core figures always get a row (saying "not measured" if so); others once measured."""
    return CATALOGUE[metric].chart or any(f.measured for f in figures)


def _operations(c: Comparison, _: PriceBook) -> str:
    columns = list(c.operations)
    first = c.operations[columns[0]]
    rows = [
        [fig.label, *(_cell(c.operations[t][i]) for t in columns)]
        for i, fig in enumerate(first)
        if _shown(i, [c.operations[t][i] for t in columns])
    ]
    every = [f for figs in c.operations.values() for f in figs]
    return _measured_on(every) + "\n\n" + _table(["figure", *columns], rows)


def _facts(c: Comparison, _: PriceBook) -> str:
    targets = list(c.facts)
    rows = [[label, *(c.facts[t][key].value for t in targets)] for key, label in ROWS.items()]
    return _table(["", *targets], rows)


def _guide(c: Comparison, _: PriceBook) -> str:
    parts = []
    for rec in c.guide:
        pick = f"**{rec.choice()}**" if rec.pick else "no target meets every need"
        parts.append(
            f"### {rec.title}: {pick}\n\n{rec.situation} "
            f"({rec.requests_per_month:,} requests a month, profile `{rec.profile}`)\n\n"
            + "\n".join(f"- {reason}" for reason in rec.reasons)
            + (
                "\n- ruled out: " + "; ".join(f"{t} ({why})" for t, why in rec.excluded.items())
                if rec.excluded
                else ""
            )
        )
    return "\n\n".join(parts)


def _target_cost(target: str) -> Callable[[Comparison, PriceBook], str]:
    def render(c: Comparison, _: PriceBook) -> str:
        cost = c.cost(target)
        if cost.estimate is None:
            return f"No estimate yet: {cost.reason}."
        lines = cost.estimate["resources"]
        shown = sorted(
            (r for r in lines if r["status"] != Status.NO_CHARGE.value),
            key=lambda r: (r["type"] == ASSUMPTION, r["type"], r["name"]),
        )
        free = len(lines) - len(shown)
        rows = [
            [f"`{r['type']}` {r['name']}", r["detail"], money(r["monthly_usd"]), r["note"] or "-"]
            for r in shown
        ]
        total = f"**{money(cost.monthly_usd)}{'' if cost.complete else '+'} a month**"
        return (
            _assumed(c)
            + "\n\n"
            + _table(["resource", "from", "monthly", "note"], rows)
            + f"\n\n{total} (fixed {money(cost.fixed_usd)} + per-request "
            f"{money(cost.per_request_usd)}); {free} more resources have no charge of their own "
            f"(`shipways plan {target}` lists them)."
        )

    return render


def _target_ops(target: str) -> Callable[[Comparison, PriceBook], str]:
    def render(c: Comparison, _: PriceBook) -> str:
        figures = c.operations.get(target, ())
        rows = [
            [f.label, _cell(f), f.source or "-"] for i, f in enumerate(figures) if _shown(i, [f])
        ]
        return _measured_on(figures) + "\n\n" + _table(["figure", target, "measured by"], rows)

    return render


def _target_facts(target: str) -> Callable[[Comparison, PriceBook], str]:
    def render(c: Comparison, _: PriceBook) -> str:
        facts = c.facts.get(target, {})
        return _table(["", target, "why"], [[ROWS[k], f.value, f.why] for k, f in facts.items()])

    return render


GENERATORS: dict[str, Callable[[Comparison, PriceBook], str]] = {
    "prices": _prices,
    "cost-summary": _cost_summary,
    "cost-sweep": _cost_sweep,
    "break-even": _break_even,
    "capacity-steps": _capacity_steps,
    "cold-starts": _cold_starts,
    "operations": _operations,
    "facts": _facts,
    "guide": _guide,
}
for _t in TargetName:
    GENERATORS[f"cost-{_t}"] = _target_cost(_t)
    GENERATORS[f"ops-{_t}"] = _target_ops(_t)
    GENERATORS[f"facts-{_t}"] = _target_facts(_t)
