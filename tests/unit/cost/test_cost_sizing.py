"""Capacity steps: servers, instances, pods and nodes grow with peak traffic over measured
throughput; Lambda's concurrency is checked against its limit; the break-even moves; and the
throughput figure comes from the measurements, falling back as documented."""

import itertools
from pathlib import Path
from typing import Any

import pytest

from infra import results
from infra.config import K8sConfig, PaasConfig, ServerlessConfig, TargetName, VpsConfig
from infra.cost import breakeven
from infra.cost.capacity import throughput
from infra.cost.model import estimate
from infra.cost.prices import load_prices
from infra.cost.sizing import size
from infra.cost.usage import Capacity, Cluster, UsageProfile
from infra.harness import Declared, OfflinePlan

pytestmark = pytest.mark.unit

PRICES = load_prices()
SECONDS = 730 * 3600  # 2,628,000 s in AWS's 730-hour month
VPS = VpsConfig(ssh_public_key="ssh-ed25519 AAAA x", ssh_allowed_cidr="203.0.113.7/32")
SERVER = Declared(
    "aws:ec2/instance:Instance",
    "server",
    {"instanceType": "t3.small", "rootBlockDevice": {"volumeSize": 20, "volumeType": "gp3"}},
    {},
)
IP = Declared("aws:ec2/eip:Eip", "ip", {}, {})


def usage(requests: int, rps: float = 40, **overrides: Any) -> UsageProfile:
    """3x peaks, and a stated 40 requests/s per 2 vCPUs: 100M requests a month peak at
    100M / 2,628,000 s x 3 = 114.2 requests/s, three servers' worth."""
    base: dict[str, Any] = {
        "name": "steps",
        "description": "capacity steps",
        "requests_per_month": requests,
        "avg_duration_ms": 100,
        "avg_response_kb": 4,
        "peak_to_average": 3,
        "capacity": Capacity(rps_per_instance=rps),
    }
    return UsageProfile(**(base | overrides))


def vps_plan() -> OfflinePlan:
    return OfflinePlan("vps", TargetName.VPS, VPS, [SERVER, IP])


@pytest.mark.parametrize(("requests", "servers"), [(0, 1), (1_000_000, 1), (100_000_000, 3)])
def test_vps_servers_at_0_1m_and_100m_requests(requests: int, servers: int) -> None:
    assert size(vps_plan(), usage(requests), PRICES).servers == servers


def test_the_vps_steps_up_to_three_servers_a_load_balancer_and_rds_to_the_cent() -> None:
    est = estimate(vps_plan(), usage(100_000_000), PRICES, deployed_region="us-east-1")
    average = 100_000_000 / SECONDS  # 38.05 requests/s
    egress_gb = 100_000_000 * 4 / 1024**2  # 381.47 GB
    by_hand = {
        "server": 3 * 730 * 0.0208 + 3 * 20 * 0.08,  # $45.552 + $4.80
        "ip": 3 * 730 * 0.005,  # $10.95
        "load balancer": 730 * 0.0225 + average / 25 * 730 * 0.008 + 2 * 730 * 0.005,
        "database": 730 * 0.016 + 20 * 0.115,  # $13.98: off the servers now
        "data transfer out": egress_gb * 0.09,  # $34.33
    }
    got = {line.name: line.monthly for line in est.lines if line.monthly}
    assert got == pytest.approx(by_hand)
    # $50.352 + $10.95 + ($16.425 + $8.8889 + $7.30) + $13.98 + $34.3323 = $142.23
    assert round(est.monthly, 2) == round(sum(by_hand.values()), 2) == 142.23
    assert est.sizing["servers"] == "3 x t3.small at 114.2 requests/s"
    assert "3 servers: behind a load balancer" in est.lines[0].note()


def test_paas_single_instance_is_priced_as_the_load_balanced_one_it_outgrows() -> None:
    plan = OfflinePlan("paas", TargetName.PAAS, PaasConfig(), [])
    assert size(plan, usage(1_000_000), PRICES).load_balanced is False
    grown = size(plan, usage(100_000_000), PRICES)
    assert (grown.servers, grown.load_balanced) == (3, True)
    assert any("priced as LoadBalanced" in n for n in grown.notes)
    assert any("above maxInstances 2" in n for n in grown.notes)


def test_k8s_pods_and_nodes_step_up() -> None:
    config = K8sConfig(
        registry="r", kube_context="prod", replicas=2, hpa_max_replicas=6, cpu_limit="1"
    )
    plan = OfflinePlan("k8s", TargetName.K8S, config, [])
    cluster = Cluster(control_plane="eks", nodes=2, node_instance_type="t3.small")
    quiet = size(plan, usage(1_000_000, cluster=cluster), PRICES)
    assert (quiet.servers, quiet.nodes) == (2, 2)  # the declared replicas, the stated nodes
    # 114.2 requests/s over 10 per pod = 12 pods x 1 CPU limit over 2 vCPUs = 6 nodes.
    busy = size(plan, usage(100_000_000, rps=10, cluster=cluster), PRICES)
    assert (busy.servers, busy.nodes) == (12, 6)
    assert any("above hpaMaxReplicas 6" in n for n in busy.notes)
    est = estimate(plan, usage(100_000_000, rps=10, cluster=cluster), PRICES)
    cluster_line = next(line for line in est.lines if line.name == "cluster")
    assert {c.what for c in cluster_line.charges} >= {"6 x t3.small on-demand"}


def test_lambda_concurrency_against_its_limit() -> None:
    plan = OfflinePlan("serverless", TargetName.SERVERLESS, ServerlessConfig(), [])
    fine = size(plan, usage(100_000_000), PRICES)
    assert "11.4 concurrent executions" in fine.facts["concurrency"] and not fine.notes
    assert "limit 20 (reservedConcurrency)" in fine.facts["concurrency"]  # the default
    unreserved = OfflinePlan(
        "serverless", TargetName.SERVERLESS, ServerlessConfig(reserved_concurrency=None), []
    )
    capped = OfflinePlan(
        "serverless", TargetName.SERVERLESS, ServerlessConfig(reserved_concurrency=5), []
    )
    throttled = size(plan=capped, usage=usage(100_000_000), prices=PRICES)
    assert any("exceeds reservedConcurrency (5)" in n for n in throttled.notes)
    account = size(unreserved, usage(100_000_000, avg_duration_ms=10_000), PRICES)
    assert any("exceeds the account default (1,000)" in n for n in account.notes)


def test_the_sweep_shows_the_steps_and_the_break_even_moves() -> None:
    fn = Declared("aws:lambda/function:Function", "fn", {"memorySize": 512}, {})
    lam = OfflinePlan("serverless", TargetName.SERVERLESS, ServerlessConfig(), [fn])
    points = breakeven.grid(100_000_000, 100)
    roomy, tight = usage(0, rps=4000), usage(0, rps=40)
    vps_roomy = breakeven.sweep(breakeven.cost_at(vps_plan(), roomy, PRICES), points)
    vps_tight = breakeven.sweep(breakeven.cost_at(vps_plan(), tight, PRICES), points)
    jumps = [n for (n, a), (_, b) in itertools.pairwise(vps_tight) if b - a > 10]
    assert len(jumps) == 2  # 1 -> 2 servers (+ load balancer, + RDS), then 2 -> 3
    assert all(b - a < 1 for (_, a), (_, b) in itertools.pairwise(vps_roomy))

    def break_evens(profile: UsageProfile) -> list[int]:
        fns = (
            breakeven.cost_at(vps_plan(), profile, PRICES),
            breakeven.cost_at(lam, profile, PRICES),
        )
        found = breakeven.break_evens(("vps", "serverless"), fns, points)
        return [b.requests_per_month for b in found]

    # Roomy servers: serverless is cheaper only below one crossing. Tight ones: the VPS's step
    # to two servers (at 40 x 2,628,000 / 3 = 35,040,000 requests) makes serverless cheaper
    # again, a new break-even right at the step.
    assert len(break_evens(roomy)) == 1
    tight_points = break_evens(tight)
    assert tight_points[0] == break_evens(roomy)[0]
    assert tight_points[1] == pytest.approx(35_040_000, abs=2)


def test_throughput_is_measured_then_falls_back(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "results.json"
    monkeypatch.setenv("SHIPWAYS_RESULTS", str(path))
    results.record("vps", "products_rps", 300, "req/s", "benchmark:vps")
    results.record("vps", "products_p99_ms", 80, "ms", "benchmark:vps")
    measured = throughput("vps", Capacity(), files=[path])
    assert measured.rps == 300 and "p99 80 ms measured by benchmark:vps" in measured.origin
    assert measured.per_instance(4) == pytest.approx(300 * 4 / measured.cpus)
    strict = throughput("vps", Capacity(p99_target_ms=50, default_rps=77), files=[path])
    assert strict.rps == 77 and "p99 80 ms misses 50" in strict.origin
    nothing = throughput("paas", Capacity(default_rps=55), files=[path])
    assert nothing.rps == 55 and "nothing measured" in nothing.origin
    stated = throughput("vps", Capacity(rps_per_instance=12), files=[path])
    assert stated.rps == 12 and stated.origin == "stated in the usage profile"


def test_capacity_steps_are_found_to_the_request() -> None:
    points = breakeven.grid(100_000_000, 100)
    steps = breakeven.capacity_steps(vps_plan(), usage(0), PRICES, points)
    # 40 requests/s per server at 3x peaks: a second server from 35,040,000 requests a month,
    # a third from 70,080,000 (n x 3 / 2,628,000 s > 40 x servers).
    assert [(s.requests_per_month, s.servers) for s in steps] == [
        (0, 1),
        (pytest.approx(35_040_001, abs=1), 2),
        (pytest.approx(70_080_001, abs=1), 3),
    ]
    roomy = breakeven.capacity_steps(vps_plan(), usage(0, rps=4000), PRICES, points)
    assert [(s.servers, s.nodes) for s in roomy] == [(1, 0)]
