"""`shipways docs`: the figures in docs/*.md, regenerated from the price data and results.

A page asks for figures with a marked block; everything between the markers is generated
(`infra.report.markdown` holds one generator per block name):

    <!-- shipways:figures:cost-summary -->
    ...generated, do not edit...
    <!-- /shipways -->

The numbers come from the same `Comparison` as `compare` and the report: the price file, the
stacks planned offline, the default usage profile, and `docs/measurements.json`, a committed
snapshot of the latest measured figures (`shipways docs --snapshot` refreshes it from this
machine's results file). Nothing depends on today's date, so a test can check that the
committed pages match the data (`shipways docs --check`), and text and numbers never disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.cost.prices import PriceBook, load_prices
from infra.cost.stacks import plan_targets
from infra.cost.usage import load_usage
from infra.paths import ROOT
from infra.report import measurements
from infra.report.build import build_comparison
from infra.report.markdown import GENERATORS
from infra.report.measurements import SNAPSHOT, MeasurementsError
from infra.report.model import Comparison

DOCS_DIR = ROOT / "docs"
BLOCK = re.compile(
    r"(<!-- shipways:figures:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /shipways -->)",
    re.DOTALL,
)


class DocsError(ValueError):
    """A page asks for figures that do not exist, or the snapshot cannot be read or written."""


def comparison_for_docs(snapshot_file: Path = SNAPSHOT) -> tuple[Comparison, PriceBook]:
    """The comparison the docs show: default profile, snapshot results (for the figures and
    for sizing servers alike, so the pages do not change with what this machine measured),
    no dependence on today's date (price ages are measured from the price file's `updated`)."""
    book = load_prices()
    try:
        results, measured = measurements.snapshot_results(snapshot_file)
    except MeasurementsError as exc:
        raise DocsError(str(exc)) from None
    comparison = build_comparison(
        usage=load_usage(),
        prices=book,
        results=results,
        measured=measured,
        today=book.updated,
        planned=plan_targets(),
        sizing_files=(snapshot_file,),
    )
    return comparison, book


def render_page(text: str, comparison: Comparison, book: PriceBook, where: str = "page") -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        generator = GENERATORS.get(name)
        if generator is None:
            known = ", ".join(sorted(GENERATORS))
            raise DocsError(f"{where}: unknown figures block {name!r}; known: {known}")
        body = generator(comparison, book).rstrip("\n") + "\n"
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text)


def refresh(
    *, check: bool = False, snapshot_results: bool = False, docs_dir: Path = DOCS_DIR
) -> list[Path]:
    """Regenerate every marked block in `docs_dir/*.md`; returns the pages that changed
    (with `check`, the pages that would change, left untouched)."""
    if snapshot_results and not check:
        try:
            measurements.write_snapshot()
        except MeasurementsError as exc:
            raise DocsError(str(exc)) from None
    pages = sorted(docs_dir.glob("*.md"))
    if not any(BLOCK.search(p.read_text()) for p in pages):
        return []
    comparison, book = comparison_for_docs()
    changed = []
    for page in pages:
        text = page.read_text()
        new = render_page(text, comparison, book, where=str(page.relative_to(docs_dir.parent)))
        if new != text:
            changed.append(page)
            if not check:
                page.write_text(new)
    return changed
