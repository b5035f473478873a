"""What the providers would answer for the `k8s` stack, for the offline harness.

A pushed image's digest is derived from its name, so a changed build context (a new tag)
yields a new digest, as a real push would; the docs-reserved `example` names make clear
that no real registry is involved.
"""

from __future__ import annotations

import hashlib
from typing import Any


def _pushed(inputs: dict[str, Any]) -> dict[str, Any]:
    name = str(inputs["imageName"])
    repository = name.rsplit(":", 1)[0]
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {"repoDigest": f"{repository}@sha256:{digest}"}


def _service(inputs: dict[str, Any]) -> dict[str, Any]:
    """A LoadBalancer Service gets the address a cloud would give it (AWS: a hostname)."""
    if inputs.get("spec", {}).get("type") != "LoadBalancer":
        return {}
    address = {"hostname": "a1b2c3-123456789.us-east-1.elb.amazonaws.example"}
    return {"status": {"loadBalancer": {"ingress": [address]}}}


CALLS: dict[str, Any] = {}

# The committed stack runs 2 pods, which need a shared database: a real deploy sets the
# `databaseUrl` secret and the database's network for the NetworkPolicy (the stack refuses to
# go without them); the offline plan of the committed file stands in for them with an address
# that resolves nowhere (RFC 6761) in a documentation network (RFC 5737).
SECRETS = {"databaseUrl": "postgresql://shipways:offline@postgres.shipways.invalid:5432/shipways"}
CONFIG = {"databaseCidr": "192.0.2.0/24"}

OUTPUTS = {"docker:index/image:Image": _pushed, "kubernetes:core/v1:Service": _service}
