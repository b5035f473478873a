"""Every instance sees the same data: what one instance wrote, any other one reads.

A target that runs several instances (a Deployment's replicas, a PaaS behind its load
balancer, Lambda's concurrent instances) keeps its data correct only if they share one
database. With SQLite per instance the contract's other checks can still pass (each write is
read back by chance from the same instance); this one cannot: it creates a product through
the front door (with the deployment's write token), then reads it many times, each read on a
new connection so that a balancer working per connection (kube-proxy, a network load
balancer) spreads them as well as one working per request. `/version` reads, shuffled in
among the product reads, name the instance that answered: where the target says it runs
several (`--instances N`), at least 2 must answer, or the reads did not spread and the check
would prove nothing. The order is random so no balancing pattern (round robin over 2 with
strictly alternating reads, say) can keep every product read on the instance that wrote it.
"""

from __future__ import annotations

import random
from typing import Any

import httpx

from infra.contract.config import ContractConfig
from infra.contract.responses import expect

PRODUCT_READS = 24
# /version reads: enough that 2 instances behind any balancer both answer (2 x 0.5^12 odds of
# one instance answering all, if it picked at random), more when there are more instances.
MIN_VERSION_READS = 12
VERSION_READS_PER_INSTANCE = 6
NEW_CONNECTION = {"Connection": "close"}


def _reads(instances: int) -> list[str]:
    """The product and /version reads, in a random order."""
    versions = max(MIN_VERSION_READS, VERSION_READS_PER_INSTANCE * instances)
    reads = ["product"] * PRODUCT_READS + ["version"] * versions
    random.shuffle(reads)
    return reads


def test_created_product_is_found_by_every_read_on_every_instance(
    api: httpx.Client, writer: httpx.Client, contract: ContractConfig, unique_name: str
) -> None:
    created: dict[str, Any] = expect(
        writer.post("/products", json={"name": unique_name, "price": 4.5}, headers=NEW_CONNECTION),
        201,
    )
    path = f"/products/{created['id']}"
    missed: list[str] = []
    answered_by: set[str] = set()
    for number, kind in enumerate(_reads(contract.instances), start=1):
        if kind == "version":
            answered_by.add(
                str(expect(api.get("/version", headers=NEW_CONNECTION), 200)["instance"])
            )
            continue
        response = api.get(path, headers=NEW_CONNECTION)
        if response.status_code != 200 or response.json() != created:
            missed.append(f"read {number}: {response.status_code} {response.text[:80]}")
    assert not missed, (
        f"{len(missed)} of {PRODUCT_READS} reads did not find product {created['id']} just "
        f"created through {contract.base_url} (instances seen: {sorted(answered_by)}): the "
        f"instances do not share one database. First misses: {missed[:3]}"
    )
    needed = min(contract.instances, 2)
    assert len(answered_by) >= needed, (
        f"the target runs {contract.instances} instances but every /version read was answered "
        f"by {sorted(answered_by)}: the reads did not spread over the instances, so they prove "
        "nothing about shared data"
    )
