"""The comparison: costs and break-evens from plans, figures from the results file, facts,
the guide, and the page and docs drawn from them, on resource graphs built by hand."""

from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from infra import results
from infra.config import K8sConfig, PaasConfig, ServerlessConfig, TargetName, VpsConfig
from infra.cost.prices import load_prices
from infra.cost.stacks import Planned
from infra.cost.usage import load_usage
from infra.harness import Declared, OfflinePlan
from infra.report import measurements
from infra.report.build import build_comparison
from infra.report.docs import DocsError, render_page
from infra.report.facts import ROWS, load_facts
from infra.report.html import render_html
from infra.report.metrics import convert
from infra.report.model import Comparison

pytestmark = pytest.mark.unit


def _res(type_: str, name: str, **inputs: object) -> Declared:
    return Declared(type_, name, dict(inputs), dict(inputs))


def _planned() -> dict[str, Planned]:
    vps_config = VpsConfig(ssh_public_key="ssh-ed25519 AAAA x", ssh_allowed_cidr="203.0.113.7/32")
    server = _res(
        "aws:ec2/instance:Instance",
        "srv",
        instanceType="t3.small",
        rootBlockDevice={"volumeSize": 20, "volumeType": "gp3"},
    )
    vps = OfflinePlan("vps", TargetName.VPS, vps_config, [server, _res("aws:ec2/eip:Eip", "ip")])
    fn = _res("aws:lambda/function:Function", "fn", memorySize=512)
    api = _res("aws:apigatewayv2/api:Api", "api", protocolType="HTTP")
    serverless = OfflinePlan("serverless", TargetName.SERVERLESS, ServerlessConfig(), [fn, api])
    return {
        "vps": Planned("vps", vps),
        "paas": Planned("paas", None, "planning failed: RuntimeError: no platform matches"),
        "serverless": Planned("serverless", serverless),
    }


@pytest.fixture
def comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Comparison:
    path = tmp_path / "results.json"
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(path))
    results.record("vps", "rollback_seconds", 2.5, "s", "benchmark:vps")
    results.record("vps", "hello_rps", 900.0, "req/s", "benchmark:vps")
    results.record("serverless", "zip_bytes", 3 * 2**20, "bytes", "shipways up")
    results.record("serverless", "cold_start_seconds", 0.75, "s", "benchmark:serverless")
    results.record("serverless", "cold_start_seconds", 0.5, "s", "benchmark:serverless")
    results.record("serverless", "invocations_total", 12, "count", "benchmark:serverless")
    recorded = results.load(path)
    return build_comparison(
        usage=load_usage(),
        prices=load_prices(),
        results=recorded,
        measured=measurements.describe(recorded, path, snapshot=False),
        today=date(2026, 11, 24),
        planned=_planned(),
    )


def _cell(c: Comparison, target: str, metric: str) -> str:
    return next(f for f in c.operations[target] if f.metric == metric).text()


def test_costs_split_fixed_and_per_request(comparison: Comparison) -> None:
    vps, paas, serverless = comparison.costs
    assert vps.fixed_usd == pytest.approx(20.434)
    assert serverless.fixed_usd == pytest.approx(730 * 0.016 + 20 * 0.115)  # the profile's RDS
    # Lambda 0.05 GB-s + $0.20/M + HTTP API $1/M, plus 4 KiB of egress per request.
    egress = 1e6 * 4 / 1024 / 1024 * 0.09
    per_million = 0.2 + 0.05 * 1e6 * 0.0000166667 + 1 + egress
    assert serverless.per_million_usd == pytest.approx(per_million, abs=1e-4)
    assert not paas.planned and "no platform matches" in (paas.reason or "")
    assert [b.cheaper_below for b in comparison.break_evens] == ["serverless"]
    assert set(comparison.sweep) == {"vps", "serverless"}
    assert comparison.price_warnings, "prices dated 2021 must be flagged on 2026-11-24"


def test_measured_figures_are_the_latest_in_the_display_unit(comparison: Comparison) -> None:
    assert _cell(comparison, "vps", "rollback") == "2.50 s"
    assert _cell(comparison, "serverless", "cold_start") == "500 ms"  # newest, s -> ms
    assert _cell(comparison, "serverless", "artifact") == "3.00 MiB"  # bytes -> MiB
    assert _cell(comparison, "paas", "rollback") == "not measured"
    assert _cell(comparison, "local", "p99") == "not measured"
    assert [f.metric for f in comparison.other_measurements] == ["serverless:invocations_total"]
    assert convert(1500, "ms", "s") == 1.5 and convert(1, "s", "MiB") is None


def test_facts_quote_the_stack_files_and_justify_every_row() -> None:
    facts = load_facts()
    assert set(facts) == {"vps", "paas", "k8s", "serverless"}
    for rows in facts.values():
        assert set(rows) == set(ROWS)
        assert all(fact.why and "{" not in fact.value for fact in rows.values())
    assert facts["serverless"]["request_time_limit"].seconds == ServerlessConfig().timeout_s
    assert facts["vps"]["os_patching"].flag is False
    assert facts["k8s"]["scaling"].flag is True
    assert str(K8sConfig(registry="r", kubeContext="c").replicas) in facts["k8s"]["scaling"].value
    assert PaasConfig().environment_type in facts["paas"]["scaling"].value


def test_the_guide_follows_needs_then_cost(comparison: Comparison) -> None:
    answers = {rec.key: rec for rec in comparison.guide}
    no_ops = answers["no-ops"]
    assert no_ops.pick == "serverless"
    assert "who patches the OS: you" in no_ops.excluded["vps"]
    assert "not comparable yet" in no_ops.excluded["paas"]
    small = answers["small-api"]
    assert [o.target for o in small.options] == ["serverless", "vps"]  # cheapest first
    assert small.runner_up == "vps"
    assert any("$" in reason for reason in small.reasons)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained(comparison: Comparison) -> None:
    html = render_html(comparison)
    parser = _Collector()
    parser.feed(html)
    tags = parser.tags
    assert not [t for t, a in tags if t in {"script", "link", "img", "iframe"}]
    assert not [
        a
        for t, a in tags
        if t != "a"
        and any(
            (v or "").startswith(("http:", "https:", "//"))
            for k, v in a.items()
            if k in {"src", "href"}
        )
    ]
    assert "@import" not in html and "url(" not in html
    lines = [a for t, a in tags if t == "g" and a.get("class") == "series"]
    assert {a["data-target"] for a in lines} == {"vps", "serverless"}
    assert {a["data-dash"] for a in lines if a["data-target"] == "vps"} == {"none"}
    assert {a["data-dash"] for a in lines if a["data-target"] == "serverless"} != {"none"}
    assert any(t == "circle" for t, _ in tags)  # the break-even marker
    assert "not measured" in html and "planning failed: RuntimeError: no platform" in html
    links = {a.get("href") for t, a in tags if t == "a"}
    assert "https://aws.amazon.com/lambda/pricing/" in links  # sources are links


def test_docs_blocks_are_generated_and_unknown_ones_refused(comparison: Comparison) -> None:
    page = (
        "# Costs\n\nprose stays\n\n<!-- shipways:figures:cost-summary -->\nstale text\n"
        "<!-- /shipways -->\n\n<!-- shipways:figures:cost-vps -->\n<!-- /shipways -->\n"
    )
    book = load_prices()
    out = render_page(page, comparison, book)
    assert "prose stays" in out and "stale text" not in out
    assert "| vps | $20.43 |" in out
    assert "aws:ec2/instance:Instance" in out and "$16.78" in out  # t3.small + 20 GB gp3
    assert render_page(out, comparison, book) == out  # idempotent
    with pytest.raises(DocsError, match="unknown figures block 'costs'"):
        render_page("<!-- shipways:figures:costs -->\n<!-- /shipways -->", comparison, book)


def test_plan_tree_shows_key_inputs_and_monthly_cost() -> None:
    from rich.console import Console

    from infra.cost.model import estimate
    from infra.report.plan_tree import plan_tree, render_estimate

    plan = _planned()["vps"].plan
    assert plan is not None
    est = estimate(plan, load_usage(), load_prices())
    console = Console(record=True, width=200)
    console.print(plan_tree(plan, est))
    render_estimate(est, console)
    text = console.export_text()
    assert "aws:ec2:Instance srv instanceType=t3.small" in text
    assert "$16.78/month" in text  # 730 h x $0.0208 + 20 GB x $0.08
    assert "data transfer out" in text and "$20.78 a month" in text


def test_a_comparison_is_built_once_and_cannot_be_changed(comparison: Comparison) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        comparison.guide = ()  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        comparison.costs[0].monthly_usd = 0.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        comparison.operations["vps"][0].value = 1.0  # type: ignore[misc]
    assert isinstance(comparison.costs, tuple) and isinstance(comparison.guide, tuple)
    assert comparison.guide, "the guide is part of the comparison when it is built"


def _render_text(c: Comparison) -> str:
    from rich.console import Console

    from infra.report.table import render_comparison

    console = Console(record=True, width=200)
    render_comparison(c, console)
    return " ".join(console.export_text().split())  # titles wrap to their table's width


def test_figures_say_where_they_were_measured(comparison: Comparison, tmp_path: Path) -> None:
    here = comparison.measurements
    assert here.source == "this-machine" and here.path == str(tmp_path / "results.json")
    assert f"Measured on local runs (results: {here.path})" in _render_text(comparison)
    assert "committed snapshot" not in render_html(comparison)
    assert comparison.model_dump(mode="json")["results_file"] == here.path

    snapshot, source = measurements.snapshot_results()
    shown = build_comparison(
        usage=load_usage(),
        prices=load_prices(),
        results=snapshot,
        measured=source,
        today=date(2026, 11, 24),
        planned=_planned(),
    )
    text = _render_text(shown)
    assert "committed snapshot docs/measurements.json, measured 20" in text
    assert "nothing measured on this machine yet" in text
    html = render_html(shown)
    assert 'id="measurements-source"' in html and "<code>docs/measurements.json</code>" in html
    data = shown.model_dump(mode="json")["measurements"]
    assert data["source"] == "snapshot" and data["path"] == "docs/measurements.json"
    assert data["measured_at"].startswith("20")


# What the main job (`shipways demo`: `up`, verify, the measurement pass) records for every
# target a row applies to; every other row must say who measures it when its cell is empty.
MAIN_JOB_ROWS = {
    "cold_deploy", "up", "provision_cold", "provision_warm", "healthy", "cold_start", "p50",
    "p99", "rps", "rps_ratio", "p99_ratio", "products_p99", "products_rps", "memory", "artifact",
}  # fmt: skip


def test_every_row_the_main_job_leaves_empty_says_why() -> None:
    from infra.report.metrics import CATALOGUE, Metric

    default_reason = Metric.model_fields["not_applicable"].default
    for metric in CATALOGUE:
        assert metric.key in MAIN_JOB_ROWS or metric.measured_by, metric.key
        assert metric.key not in MAIN_JOB_ROWS or not metric.measured_by, metric.key
        if metric.applies_to and metric.applies_to != ("local", "vps", "paas", "k8s", "serverless"):
            assert metric.not_applicable != default_reason, f"{metric.key}: say why not"


def test_an_empty_cell_is_n_a_or_not_measured_and_the_lines_below_say_why(
    comparison: Comparison,
) -> None:
    text = _render_text(comparison)
    assert list(comparison.operations) == ["local", "vps", "paas", "serverless"]
    # uvicorn alone and servers cannot have a cold start; the function has one
    assert "│ cold start │ n/a │ n/a │ n/a │ 500 ms │" in text
    assert "│ provision a fresh server │ n/a │ not measured │ n/a │ n/a │" in text
    assert (
        "provision a fresh server; provision again (no changes): n/a for uvicorn, paas, "
        "serverless: "
        "only the VPS recipe provisions its own server"
    ) in text
    assert (
        "cold start: n/a for uvicorn, vps, paas: servers, PaaS instances and pods keep running"
        in text
    )
    assert "n/a for uvicorn alone: uvicorn alone is not deployed" in text
    assert (
        "artifact build (cold) (vps, paas, serverless): measured by the main job, when a target "
        "it brings up from nothing has to build its artifact"
    ) in text
    assert (
        "artifact rebuild (code change) (vps, paas, serverless): measured by the main job's build "
        "step (the target's own builder, on the app with one file changed)"
    ) in text
    assert "rollback (paas, serverless): measured by the main job's warm redeploy" in text
    assert "time to healthy (" not in text  # the main job measures it: no excuse is offered
