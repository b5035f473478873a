"""The committed docs match the price data, the stacks and the measurements snapshot; this
plans every stack, so it runs as a `stack` test."""

from __future__ import annotations

import pytest

from infra.report.docs import refresh

pytestmark = pytest.mark.stack


def test_committed_docs_figures_are_up_to_date() -> None:
    stale = refresh(check=True)
    assert not stale, f"run `uv run shipways docs`: out of date: {[p.name for p in stale]}"
