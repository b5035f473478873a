"""`compare` and `report` as commands: every target in `--json`, and the figures of this
machine or, when it has measured nothing, of the committed snapshot, said in every output.
They plan every landed stack, so they run as `stack` tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra import results
from infra.cli import app

pytestmark = pytest.mark.stack


@pytest.fixture
def results_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "results.json"
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(path))
    return path


def test_compare_json_reports_every_target(results_file: Path) -> None:
    done = CliRunner().invoke(app, ["compare", "--json", "--requests-per-month", "5000000"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["requests_per_month"] == 5_000_000
    assert [c["target"] for c in data["costs"]] == ["vps", "paas", "k8s", "serverless"]
    for cost in data["costs"]:
        assert cost["planned"] or cost["reason"]
    assert set(data["operations"]) == {"local", "vps", "paas", "k8s", "serverless"}
    assert len(data["guide"]) == 5
    assert isinstance(data["warnings"], list)  # region warnings land here
    steps = data["capacity_steps"]
    assert set(steps) == {"vps", "paas", "k8s", "serverless"}
    for found in steps.values():  # from 0, rising, each with its counts
        assert found[0]["requests_per_month"] == 0
        counts = [s["requests_per_month"] for s in found]
        assert counts == sorted(counts) and all("servers" in s and "nodes" in s for s in found)
    assert data["capacity_max"] == 10 * data["sweep_max"]
    assert "capacity target" in data["assumptions"]
    assert any(k.endswith("sizing: capacity") for k in data["assumptions"])


def test_the_guide_prices_paas_as_configured_where_scaling_is_needed(results_file: Path) -> None:
    data = json.loads(CliRunner().invoke(app, ["compare", "--json"]).stdout)
    for rec in data["guide"]:
        if "scaling" not in rec["needs"] or "portable" in rec["needs"]:
            continue
        assert "paas" not in rec["excluded"], rec["key"]
        paas = next(o for o in rec["options"] if o["target"] == "paas")
        assert paas["configuration"] == "LoadBalanced"
        assert "environmentType: LoadBalanced" in paas["settings"]
    enterprise = next(r for r in data["guide"] if r["key"] == "enterprise-app")
    assert "runs elsewhere unchanged" in enterprise["excluded"]["paas"]  # no setting fixes that


def test_with_nothing_measured_here_the_snapshot_is_shown_and_said(
    results_file: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["compare", "--json"]).stdout)
    assert data["measurements"]["source"] == "snapshot"
    assert data["measurements"]["path"] == "docs/measurements.json"
    assert data["measurements"]["measured_at"]
    assert any(f["value"] is not None for f in data["operations"]["vps"])
    table = runner.invoke(app, ["compare"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    flat = " ".join(table.stdout.split())
    assert "committed snapshot docs/measurements.json" in flat
    assert "nothing measured on this machine yet" in flat
    page = tmp_path / "report.html"
    done = runner.invoke(app, ["report", "-o", str(page), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["measurements"]["source"] == "snapshot"
    assert 'id="measurements-source"' in page.read_text()
    said = runner.invoke(app, ["report", "-o", str(page)])
    assert "measured figures: committed snapshot docs/measurements.json" in said.stderr


def test_figures_measured_here_are_shown_as_this_machines(
    results_file: Path, tmp_path: Path
) -> None:
    results.record("vps", "rollback_seconds", 2.5, "s", "benchmark:vps")
    runner = CliRunner()
    data = json.loads(runner.invoke(app, ["compare", "--json"]).stdout)
    assert data["measurements"]["source"] == "this-machine"
    assert data["measurements"]["path"] == str(results_file)
    rollback = next(f for f in data["operations"]["vps"] if f["metric"] == "rollback")
    assert rollback["value"] == 2.5
    assert not any(f["value"] is not None for f in data["operations"]["k8s"])
    page = tmp_path / "report.html"
    done = runner.invoke(app, ["report", "-o", str(page)])
    assert done.exit_code == 0, done.output
    assert "measurements-source" not in page.read_text()
    assert "committed snapshot" not in done.output
