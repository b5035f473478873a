"""Capacity steps, cold starts and label placement: the figures and geometry the report adds
beside cost, on inputs whose answers can be worked out by hand."""

from __future__ import annotations

import itertools
import math
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from infra import results
from infra.cost import model as cost_model
from infra.cost.prices import load_prices
from infra.cost.usage import load_usage
from infra.report import coldstarts, measurements
from infra.report.build import build_comparison
from infra.report.labels import Box, around, place, spread
from infra.report.model import Comparison
from infra.report.table import render_comparison
from tests.unit.report.test_report_compare import _planned

pytestmark = pytest.mark.unit

SECONDS = 730 * 3600


def _compare(tmp_path: Path, sizing: Path) -> Comparison:
    empty = tmp_path / "nothing.json"
    recorded = results.load(empty)
    return build_comparison(
        usage=load_usage(),
        prices=load_prices(),
        results=recorded,
        measured=measurements.describe(recorded, empty, snapshot=False),
        today=date(2026, 11, 24),
        planned=_planned(),
        sizing_files=(sizing,),
    )


@pytest.fixture
def sized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Comparison:
    """Sized from one file only: 100 /products requests/s per 2 CPUs, p99 50 ms."""
    sizing = tmp_path / "sizing.json"
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(sizing))
    results.record("vps", "products_rps", 100.0, "req/s", "benchmark:vps")
    results.record("vps", "products_p99_ms", 50.0, "ms", "benchmark:vps")
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(tmp_path / "elsewhere.json"))
    results.record("vps", "products_rps", 5.0, "req/s", "benchmark:elsewhere")  # not read
    return _compare(tmp_path, sizing)


def test_servers_step_up_where_the_peak_outgrows_one(sized: Comparison) -> None:
    # One t3.small (2 vCPUs) serves 100 requests/s; the peak is 3x the average rate.
    first = 100 * SECONDS / 3
    steps = sized.capacity_steps["vps"]
    assert (steps[0].requests_per_month, steps[0].servers) == (0, 1)
    assert steps[1].servers == 2 and abs(steps[1].requests_per_month - first) <= 1
    assert [s.servers for s in steps] == list(range(1, len(steps) + 1))
    assert [s.servers for s in sized.capacity_steps["serverless"]] == [0]
    assert "sizing.json" in sized.assumptions["vps sizing: capacity"]  # only the named file
    console = Console(record=True, width=200)
    render_comparison(sized, console)
    text = console.export_text()
    assert "Capacity steps" in text and "2 servers" in text and "p99 at most 250 ms" in text


def test_region_warnings_reach_the_comparison(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cost_model, "stack_region", lambda stack: "eu-west-1")
    compared = _compare(tmp_path, tmp_path / "none.json")
    assert compared.warnings and all("eu-west-1" in w for w in compared.warnings)
    console = Console(record=True, width=300)
    render_comparison(compared, console)
    assert "warning: stack 'vps' deploys to eu-west-1" in console.export_text()


def test_cold_starts_follow_idle_gaps_then_scale_out() -> None:
    usage = load_usage()
    assert coldstarts.per_month(usage.at(0)) == 0
    # A request every 10 minutes on average: exp(-1) of them find the environment gone.
    every_ten = round(SECONDS / (coldstarts.IDLE_MINUTES * 60))
    assert coldstarts.per_month(usage.at(every_ten)) == pytest.approx(every_ten / math.e, 0.01)
    assert coldstarts.per_month(usage.at(1_000_000)) < 1  # a steady stream stays warm
    # 100M: peak 114 requests/s x 100 ms = 12 environments at once, 11 start cold daily.
    assert coldstarts.per_month(usage.at(100_000_000)) == pytest.approx(730 / 24 * 11, 0.01)


def test_labels_are_spread_and_placed_clear_of_each_other() -> None:
    centres = spread([100.0, 100.0, 101.0, 300.0], gap=16, low=0, high=400)
    ordered = sorted(centres)
    assert all(b - a >= 16 - 1e-9 for a, b in itertools.pairwise(ordered))
    assert centres[3] == 300.0  # a label with room stays where its line ends
    assert spread([395.0, 399.0], gap=16, low=0, high=400) == [384.0, 400.0]
    bounds, taken = Box(0, 0, 500, 300), [Box(100, 100, 12, 12)]
    boxes = [place(around(106, 106, 60, 14), taken, bounds) for _ in range(5)]
    for i, box in enumerate(boxes):
        assert box.inside(bounds)
        assert not any(box.meets(other) for other in [*boxes[:i], taken[0]])
