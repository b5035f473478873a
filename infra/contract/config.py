"""What the contract run needs to know: the API's address, the expected target and instance
count, TLS trust and the deployment's write token."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.targets.registry import TargetName

# What `/version` may report: one of the targets, or `local` (uvicorn direct).
TARGETS = (*(t.value for t in TargetName), "local")
# Bounded: every request of the suite gives up after these many seconds.
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True)
class ContractConfig:
    base_url: str
    expect_target: str | None
    verify: ssl.SSLContext | bool
    instances: int = 1  # how many instances answer behind base_url
    write_token: str | None = None

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")


def tls_verify() -> ssl.SSLContext | bool:
    if os.environ.get("SHIPWAYS_INSECURE_TLS", "").strip().lower() in {"1", "true", "yes"}:
        return False
    bundle = os.environ.get("SHIPWAYS_CA_BUNDLE", "").strip()
    if bundle:
        if not Path(bundle).is_file():
            raise pytest.UsageError(
                f"SHIPWAYS_CA_BUNDLE={bundle!r} is not a file: point it at the PEM file of the "
                "CA that signed the server certificate"
            )
        return ssl.create_default_context(cafile=bundle)
    return True
