"""The HTML report in a real headless Chromium: it renders offline, with its charts, and a
screenshot comes out (look at it: `SHIPWAYS_KEEP_SCREENSHOT=path pytest ...`)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from infra.report.build import comparison_now
from infra.report.html import render_html
from infra.report.measurements import SNAPSHOT
from infra.report.metrics import CATALOGUE

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 1280, 2400


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `apt-get install chromium` (./dev.sh setup does)")
    return found


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        # Any request the page made would fail: it must need none.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    comparison = comparison_now(results_file=SNAPSHOT)
    path = tmp / "report.html"
    path.write_text(render_html(comparison), encoding="utf-8")
    return path


def test_the_page_renders_with_its_charts(page: Path) -> None:
    done = _run(page.parent, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "Which should I choose?" in dom
    assert dom.count("cost-chart") >= 2
    assert dom.count("bar-chart") == sum(1 for m in CATALOGUE if m.chart)
    drawn = [t for t in ("vps", "paas", "k8s", "serverless") if f'data-target="{t}"' in dom]
    assert drawn, "no cost curve was drawn"
    for metric in CATALOGUE:  # one row per figure, measured or "not measured"
        assert metric.label.replace("`", "") in dom.replace("`", "")


def test_a_screenshot_is_produced(page: Path) -> None:
    shot = page.parent / "report.png"
    size = f"--window-size={WIDTH},{HEIGHT}"
    done = _run(page.parent, size, f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 100_000  # a page of charts and tables, not a blank canvas
    keep = os.environ.get("SHIPWAYS_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
