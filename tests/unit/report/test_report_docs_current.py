"""The committed docs match the price data, the stacks and the measurements snapshot, whatever
this machine measured; this plans every stack, so it runs as a `stack` test."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import results
from infra.report.docs import refresh

pytestmark = pytest.mark.stack


def test_committed_docs_figures_are_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This machine measured a very different throughput: the docs still size from the snapshot.
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(tmp_path / "results.json"))
    for target in ("vps", "paas", "k8s"):
        results.record(target, "products_rps", 3.0, "req/s", "benchmark:elsewhere")
        results.record(target, "products_p99_ms", 20.0, "ms", "benchmark:elsewhere")
    stale = refresh(check=True)
    assert not stale, f"run `uv run shipways docs`: out of date: {[p.name for p in stale]}"
