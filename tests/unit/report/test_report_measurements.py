"""Which measurements a comparison shows: this machine's results, or, when this machine has
measured nothing, the committed snapshot, labelled as such; and the snapshot is never
overwritten with nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import results
from infra.report import measurements
from infra.report.measurements import SNAPSHOT, MeasurementsError

pytestmark = pytest.mark.unit


@pytest.fixture
def results_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "results.json"
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(path))
    return path


def test_nothing_measured_here_shows_the_snapshot(results_file: Path) -> None:
    committed = results.load(SNAPSHOT)
    assert committed.measurements, "the committed snapshot holds the docs' figures"
    for state in ("absent", "empty"):
        if state == "empty":
            results_file.write_text('{"measurements": []}')
        shown, source = measurements.for_comparison()
        assert shown == committed, state
        assert source.source == "snapshot" and source.is_snapshot
        assert source.path == "docs/measurements.json"
        assert source.measured_at == max(m.measured_at for m in committed.measurements)
        assert "committed snapshot docs/measurements.json" in source.label()
        assert "nothing measured on this machine yet" in source.label()


def test_figures_measured_here_win_over_the_snapshot(results_file: Path) -> None:
    entry = results.record("vps", "rollback_seconds", 2.5, "s", "benchmark:vps")
    shown, source = measurements.for_comparison()
    assert [m.metric for m in shown.measurements] == ["rollback_seconds"]
    assert source.source == "this-machine" and not source.is_snapshot
    assert source.path == str(results_file)
    assert source.measured_at == entry.measured_at
    assert source.label() == f"results: {results_file}"


def test_naming_the_snapshot_reads_it_as_the_snapshot() -> None:
    _, source = measurements.for_comparison(SNAPSHOT)
    assert source.source == "snapshot"


def test_an_unreadable_results_file_is_one_clear_error(results_file: Path) -> None:
    results_file.write_text("{not json")
    with pytest.raises(MeasurementsError, match=r"not a results file .*delete it to start afresh"):
        measurements.for_comparison()


def test_the_snapshot_is_refreshed_from_the_newest_figures(
    results_file: Path, tmp_path: Path
) -> None:
    results.record("vps", "rollback_seconds", 3.0, "s", "benchmark:vps")
    results.record("vps", "rollback_seconds", 2.0, "s", "benchmark:vps")
    dest = tmp_path / "snapshot.json"
    kept = measurements.write_snapshot(dest=dest)
    assert [m.value for m in kept.measurements] == [2.0]
    assert results.load(dest) == kept


def test_nothing_measured_never_overwrites_the_snapshot(results_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "snapshot.json"
    dest.write_text("kept")
    with pytest.raises(MeasurementsError, match="nothing measured on this machine yet"):
        measurements.write_snapshot(dest=dest)
    assert dest.read_text() == "kept"
