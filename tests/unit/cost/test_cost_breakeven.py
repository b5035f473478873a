"""Break-even search on curves whose crossings are known by hand."""

from pathlib import Path

import pytest

from infra.config import ServerlessConfig, TargetName, VpsConfig
from infra.cost import breakeven
from infra.cost.prices import load_prices
from infra.cost.usage import Capacity, UsageError, load_usage, profile_names
from infra.harness import Declared, OfflinePlan

pytestmark = pytest.mark.unit


def test_a_fixed_cost_against_a_per_request_cost() -> None:
    # $10 a month flat against $2 per million: equal at exactly 5M requests.
    found = breakeven.break_evens(
        ("flat", "metered"),
        (lambda n: 10.0, lambda n: 2.0 * n / 1e6),
        breakeven.grid(100_000_000),
    )
    assert len(found) == 1
    assert found[0].requests_per_month == pytest.approx(5_000_000, abs=1)
    assert (found[0].cheaper_below, found[0].cheaper_above) == ("metered", "flat")
    assert found[0].monthly_usd == pytest.approx(10.0)


def test_two_crossings_and_none() -> None:
    # Free up to 20M then $3/M, against $30 flat up to 50M then $6/M more: equal at 30M
    # (3 x 10 = 30) and again at 70M (3 x 50 = 150 = 30 + 6 x 20).
    def tiered(n: float) -> float:
        return 0.0 if n <= 20e6 else 3.0 * (n - 20e6) / 1e6

    def flat(n: float) -> float:
        return 30.0 if n < 50e6 else 30.0 + 6.0 * (n - 50e6) / 1e6

    found = breakeven.break_evens(("a", "b"), (tiered, flat), breakeven.grid(100_000_000))
    assert [b.requests_per_month for b in found] == [
        pytest.approx(30_000_000, abs=1),
        pytest.approx(70_000_000, abs=1),
    ]
    assert found[0].cheaper_below == "a" and found[1].cheaper_below == "b"
    assert breakeven.break_evens(("a", "b"), (flat, flat), breakeven.grid()) == []


def test_sweep_re_runs_the_estimate_at_each_traffic_level() -> None:
    fn = Declared("aws:lambda/function:Function", "fn", {"memorySize": 512}, {})
    api = Declared("aws:apigatewayv2/api:Api", "api", {"protocolType": "HTTP"}, {})
    plan = OfflinePlan("serverless", TargetName.SERVERLESS, ServerlessConfig(), [fn, api])
    server = Declared(
        "aws:ec2/instance:Instance",
        "srv",
        {"instanceType": "t3.small", "rootBlockDevice": {"volumeSize": 20, "volumeType": "gp3"}},
        {},
    )
    ip = Declared("aws:ec2/eip:Eip", "ip", {}, {})
    config = VpsConfig(ssh_public_key="ssh-ed25519 AAAA x", ssh_allowed_cidr="203.0.113.7/32")
    vps = OfflinePlan("vps", TargetName.VPS, config, [server, ip])
    stated = Capacity(rps_per_instance=400)  # one server all the way: no capacity step here
    usage, prices = load_usage().model_copy(update={"capacity": stated}), load_prices()
    points = breakeven.grid(20_000_000, 40)
    fns = (breakeven.cost_at(vps, usage, prices), breakeven.cost_at(plan, usage, prices))
    found = breakeven.break_evens(("vps", "serverless"), fns, points)
    # Same egress on both sides cancels. The VPS keeps PostgreSQL on its server; serverless pays
    # the profile's RDS ($13.98 a month); this plan declares no log group (no log line).
    # $20.434 - $13.98 = n x ($0.20 + 0.05 GB-s x $0.0000166667 x 1M + $1.00) per million.
    per_million = 0.20 + 0.05 * 0.0000166667 * 1e6 + 1.00
    fixed_gap = 20.434 - (730 * 0.016 + 20 * 0.115)
    assert found[0].requests_per_month == pytest.approx(fixed_gap / per_million * 1e6, abs=2)
    assert found[0].cheaper_below == "serverless"
    sweep = breakeven.sweep(fns[1], points)
    assert sweep[0] == (0, pytest.approx(13.98))


def test_usage_profiles_load_and_errors_name_the_key(tmp_path: Path) -> None:
    assert {"default", "small-api", "spiky", "droplet"} <= set(profile_names())
    default = load_usage()
    assert default.requests_per_month == 1_000_000 and default.cluster is not None
    assert default.at(5_000_000).requests_per_month == 5_000_000
    with pytest.raises(UsageError, match=r"known profiles: .*default"):
        load_usage("nope")
    bad = tmp_path / "u.yaml"
    bad.write_text(
        "description: x\nrequests_per_month: -1\navg_duration_ms: 100\navg_response_kb: 1\n"
    )
    with pytest.raises(UsageError, match="requests_per_month"):
        load_usage(bad)
    bad.write_text(
        "description: x\nrequests_per_month: 1\navg_duration_ms: 100\n"
        "avg_response_kb: 1\nregion: x\n"
    )
    with pytest.raises(UsageError, match="region: Extra inputs"):
        load_usage(bad)
