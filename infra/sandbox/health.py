"""Wait until something is healthy: one bounded loop for every sandbox.

Every target ends a deploy the same way: poll until the new thing answers, give up after a
time limit, and give up *at once* when what is polled can no longer answer (its process
exited, its container stopped) instead of polling a corpse until the deadline. `wait_until`
is that loop; `wait_for_http` (a loopback URL answers a status) and `wait_for_docker_health`
(Docker's own health check passes) are the probes the targets use, and `container_stopped`
is the usual reason to give up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from docker.models.containers import Container

from infra.sandbox.errors import Progress, SandboxError, report

LOOPBACK = "127.0.0.1"
_LOCAL_HOSTS = {LOOPBACK, "localhost"}

T = TypeVar("T")
GiveUp = Callable[[], str | None]
"""Asked before every attempt: a reason to stop waiting now (the process died), or None."""


class NotYet(Exception):
    """Raised by a probe that is not satisfied yet; its message is the last thing seen."""


def wait_until(
    probe: Callable[[], T],
    *,
    timeout: float,
    interval: float,
    failure: str,
    give_up: GiveUp | None = None,
    progress: Progress | None = None,
) -> T:
    """Call `probe` until it returns instead of raising `NotYet`; return what it returned.

    Bounded in time and in attempts (`timeout / interval + 1`). Raises `SandboxError` with
    `failure` (say, "URL did not answer 200") and the last `NotYet` message when the time is
    up, or at once with the reason when `give_up` gives one. Each new `NotYet` message goes
    to `progress`. Any other exception from `probe` is not retried: it ends the wait as is.
    """
    attempts = max(1, int(timeout / interval) + 1)
    deadline = time.monotonic() + timeout
    last = "no attempt made"
    for _ in range(attempts):
        reason = give_up() if give_up else None
        if reason:
            raise SandboxError(f"{failure}: {reason}")
        try:
            return probe()
        except NotYet as exc:
            if str(exc) != last:
                report(progress, str(exc))
            last = str(exc)
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise SandboxError(f"{failure} within {timeout:.0f}s (last: {last})")


def wait_for_http(
    url: str,
    timeout: float = 30.0,
    expect_status: int = 200,
    *,
    interval: float = 0.5,
    give_up: GiveUp | None = None,
) -> httpx.Response:
    """Poll a loopback URL until it answers `expect_status`; return that response.

    Only 127.0.0.1/localhost URLs are accepted: the sandbox never sends traffic elsewhere.
    """
    if urlsplit(url).hostname not in _LOCAL_HOSTS:
        raise SandboxError(f"wait_for_http only polls {LOOPBACK}; got {url!r}")
    with httpx.Client(timeout=min(5.0, timeout), trust_env=False) as http:

        def answered() -> httpx.Response:
            try:
                response = http.get(url)
            except httpx.HTTPError as exc:
                raise NotYet(f"{type(exc).__name__}: {exc}") from None
            if response.status_code != expect_status:
                raise NotYet(f"HTTP {response.status_code}: {response.text[:200]}")
            return response

        return wait_until(
            answered,
            timeout=timeout,
            interval=interval,
            failure=f"{url} did not answer {expect_status}",
            give_up=give_up,
        )


def container_stopped(container: Container) -> GiveUp:
    """A give-up check: the container's status, once it is no longer running."""

    def stopped() -> str | None:
        container.reload()
        status = str(container.status)
        return None if status == "running" else f"container {container.name} is {status}"

    return stopped


def wait_for_docker_health(
    container: Container,
    timeout: float,
    *,
    interval: float = 0.2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Wait until Docker's health check of `container` passes; return its `State`.

    Gives up at once when the container stops. Health status changes go to `progress`.
    """

    def healthy() -> dict[str, Any]:
        state: dict[str, Any] = container.attrs["State"]  # fresh: give_up reloaded it
        health = (state.get("Health") or {}).get("Status", "none")
        if health != "healthy":
            raise NotYet(f"{container.name}: {health}")
        return state

    return wait_until(
        healthy,
        timeout=timeout,
        interval=interval,
        failure=f"container {container.name} not healthy",
        give_up=container_stopped(container),
        progress=progress,
    )
