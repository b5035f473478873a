"""A bounded request loop, run in a background thread while a release switches.

"0 failed requests" in the zero-downtime tests means: every GET this loop sent during the
operation answered 200. The loop is bounded in count and in time, paced at `rate` requests
per second, and only ever talks to a loopback URL. It also notes which instance answered
(`/version`'s `instance`) and which release (`git_sha`), so a test can see traffic spread
over the replicas and move from one release to the next.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class RequestLoop:
    """GET `url + path` about `rate` times a second until stopped or a bound is reached."""

    url: str
    path: str = "/version"
    rate: float = 25.0
    max_requests: int = 8000
    max_seconds: float = 300.0
    statuses: Counter[int | str] = field(default_factory=Counter)
    instances: Counter[str] = field(default_factory=Counter)
    answered_by: list[str] = field(default_factory=list)  # each answer's instance, in order
    releases: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if urlsplit(self.url).hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"the request loop only targets loopback, not {self.url!r}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = next_at = time.monotonic()
        # Each request on a new connection. The local front doors apply a new backend list by
        # reloading nginx, whose old workers then close their idle keep-alive connections: a
        # request sent on one at that instant gets no answer. The platforms' own edges switch
        # backends without that (kube-proxy, a load balancer's target registration, API
        # Gateway), so a keep-alive client would measure the stand-in, not the release switch.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=10.0, trust_env=False, limits=fresh) as client:
            for _ in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() - started > self.max_seconds:
                    return
                try:
                    response = client.get(f"{self.url}{self.path}")
                    self.statuses[response.status_code] += 1
                    if response.status_code != 200:
                        self.errors.append(f"{response.status_code}: {response.text[:200]}")
                    elif self.path == "/version":
                        self._note(response.json())
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    self.errors.append(repr(exc))
                # Never catch up after a slow response: a burst would trip the rate limit.
                next_at = max(next_at + 1 / self.rate, time.monotonic())
                time.sleep(max(0.0, next_at - time.monotonic()))

    def _note(self, version: dict[str, object]) -> None:
        """Count the answering instance; record each change of release, in order."""
        instance = str(version.get("instance"))
        self.instances[instance] += 1
        self.answered_by.append(instance)
        sha = str(version.get("git_sha"))
        if not self.releases or self.releases[-1] != sha:
            self.releases.append(sha)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        time.sleep(1.0)  # some traffic before the operation starts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(1.0)  # and some after it ended
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return self.total - self.statuses[200]
