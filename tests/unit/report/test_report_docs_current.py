"""The committed docs match the price data, the stacks and the measurements snapshot, and
`compare` answers for machines; both plan every stack, so they run as `stack` tests."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.report.docs import refresh

pytestmark = pytest.mark.stack


def test_committed_docs_figures_are_up_to_date() -> None:
    stale = refresh(check=True)
    assert not stale, f"run `uv run shipways docs`: out of date: {[p.name for p in stale]}"


def test_compare_json_reports_every_target() -> None:
    done = CliRunner().invoke(app, ["compare", "--json", "--requests-per-month", "5000000"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["requests_per_month"] == 5_000_000
    assert [c["target"] for c in data["costs"]] == ["vps", "paas", "k8s", "serverless"]
    for cost in data["costs"]:
        assert cost["planned"] or cost["reason"]
    assert set(data["operations"]) == {"local", "vps", "paas", "k8s", "serverless"}
    assert len(data["guide"]) == 5
