"""The HTML report in a real headless Chromium: it renders offline, with its charts, its labels
are legible (the rendered text boxes, measured by the browser, never overlap and stay inside
their chart; each target's line has its own dash and marker), and a screenshot comes out
(look at it: `SHIPWAYS_KEEP_SCREENSHOT=path pytest ...`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from infra.report.build import comparison_now
from infra.report.charts import Axes, Point, line_chart, short_money
from infra.report.html import render_html
from infra.report.measurements import SNAPSHOT
from infra.report.metrics import CATALOGUE

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 1280, 2400

# Run in the page by Chromium: every chart's text boxes as laid out (getBoundingClientRect),
# every pair that overlaps, any that leaves its chart, and each line's dash and marker.
MEASURE = """<script>
(() => {
  const found = {charts: 0, texts: 0, overlaps: [], outside: [], series: []};
  const meet = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
                         a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  document.querySelectorAll("svg.chart").forEach((svg, chart) => {
    found.charts += 1;
    const frame = svg.getBoundingClientRect();
    const boxes = [...svg.querySelectorAll("text")]
      .filter((t) => t.textContent.trim())
      .map((t) => [t.textContent, t.getBoundingClientRect()]);
    found.texts += boxes.length;
    boxes.forEach(([text, box], i) => {
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5 ||
          box.top < frame.top - 0.5 || box.bottom > frame.bottom + 0.5) {
        found.outside.push([chart, text]);
      }
      boxes.slice(i + 1).forEach(([other, box2]) => {
        if (meet(box, box2)) found.overlaps.push([chart, text, other]);
      });
    });
    svg.querySelectorAll("g.series").forEach((g) => {
      const line = getComputedStyle(g.querySelector("polyline"));
      found.series.push({chart, kind: svg.getAttribute("class"), target: g.dataset.target,
        dash: line.strokeDasharray, color: line.stroke, marker: g.dataset.marker});
    });
  });
  const out = document.createElement("pre");
  out.id = "layout";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
})();
</script>"""


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


def _layout(page: Path, html: str) -> dict[str, object]:
    """The text boxes and line styles Chromium laid out for `html` (with `MEASURE` added)."""
    probe = page.parent / f"probe-{page.stem}.html"
    probe.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = _run(page.parent, "--window-size=1280,2400", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="layout">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, "the measuring script did not run"
    return dict(json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<")))


def test_no_two_labels_overlap_and_every_line_is_told_apart(page: Path) -> None:
    layout = _layout(page, page.read_text(encoding="utf-8"))
    assert layout["charts"] >= 6 and layout["texts"] > 100  # measured something real
    assert layout["overlaps"] == [], "labels overprint each other"
    assert layout["outside"] == [], "labels run out of their chart"
    series = layout["series"]
    assert isinstance(series, list)
    costs = [s for s in series if "cost-chart" in s["kind"] and s["chart"] == series[0]["chart"]]
    assert len(costs) >= 2, "the cost chart draws a line per planned target"
    for key in ("dash", "marker", "color"):
        looks = [s[key] for s in costs]
        assert len(set(looks)) == len(looks), f"two targets share a {key}: {costs}"


def test_crowded_labels_are_moved_apart(page: Path) -> None:
    """Four lines ending at one point and six break-evens a pixel apart: the placement, not
    luck, keeps every label clear."""
    same_end = {
        t: [(0.0, 10.0 + i), (1000.0, 50.0)]
        for i, t in enumerate(("vps", "paas", "k8s", "serverless"))
    }
    close = [Point(500.0 + i, 30.0, f"vps/paas {i}M", "a break-even") for i in range(6)]
    axes = Axes(x_max=1000.0, y_max=60.0, x_label="requests", y_format=short_money)
    svg = line_chart(same_end, axes, title="crowded", source="synthetic", points=close)
    layout = _layout(page, f"<html><body>{svg}</body></html>")
    assert layout["texts"] >= 4 + 6
    assert layout["overlaps"] == [] and layout["outside"] == []


def test_the_page_renders_with_its_charts(page: Path) -> None:
    done = _run(page.parent, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "Which should I choose?" in dom
    assert dom.count("cost-chart") >= 2
    measured_charts = sum(1 for m in CATALOGUE if m.chart)
    assert dom.count("bar-chart") == measured_charts + 1  # + the moving parts you operate
    assert "capacity-chart" in dom and "cold-start-chart" in dom
    assert dom.count('class="source"') >= measured_charts + 5  # every chart says its source
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
