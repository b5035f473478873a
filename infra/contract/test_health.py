"""Health and readiness, the part of the contract any web app can serve (`--profile health`).

Every platform here decides by these two paths whether to send an instance traffic: the
kubelet's liveness and readiness probes, the load balancer's health check, the VPS's
deploy gate. They probe by address, not by the public host name, and a load balancer's
default health check counts only 200 as healthy, so both must answer 200 to a request
addressed to any host. The bodies are the app's own
business: the full contract pins the sample app's, this profile does not.
"""

from __future__ import annotations

import httpx
import pytest

PROBES = {"liveness": "/healthz", "readiness": "/readyz"}
PROBE_HOST = "10.0.0.7"  # how a kubelet or a load balancer addresses an instance


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probe_answers_200(api: httpx.Client, probe: str) -> None:
    response = api.get(PROBES[probe])
    assert response.status_code == 200, (
        f"{probe} probe GET {PROBES[probe]} -> {response.status_code}, expected 200: "
        f"{response.text[:200]}"
    )


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probe_answers_200_addressed_by_ip(api: httpx.Client, probe: str) -> None:
    response = api.get(PROBES[probe], headers={"Host": PROBE_HOST})
    assert response.status_code == 200, (
        f"{probe} probe GET {PROBES[probe]} with Host: {PROBE_HOST} -> {response.status_code}, "
        "expected 200: a platform's probe addresses the instance by IP, so the app (or its "
        "allowed-hosts setting) must answer it"
    )
