"""Faults on the local VPS, measured through nginx the way a client sees them.

Each fault is injected as an operator (or the kernel, or the host) would cause it, on a
running VPS sandbox, and judged only by what happens over HTTP on 127.0.0.1 plus systemd's
own account of the units:

- `kill_master`        SIGKILL to gunicorn's master: systemd (Restart=on-failure) brings the
                       service back; the gap is from the kill until a new master serves.
- `restart_host`       the whole VPS container restarted (a reboot): every unit comes back
                       enabled and active, the app ready, the data still there.
- `database_down`      PostgreSQL stopped: /readyz turns 503 while /healthz stays 200 (the
                       process is alive, only not ready); started again, all is served again.

Before each fault the proof creates products and counts them; after recovery it counts again:
`data_lost` must be 0. Every wait is a bounded polling loop (count and time).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from docker.models.containers import Container

from infra import results
from infra.sandbox import exec_checked

POLL_S = 0.1
REQUEST_TIMEOUT_S = 5.0
KILL_PROBE_TIMEOUT_S = 1.0
UNITS = ("nginx.service", "postgresql.service")


class FaultError(RuntimeError):
    """The VPS did not recover in time, or the fault could not be injected."""


@dataclass
class FaultResult:
    name: str
    what: str
    survived: bool = False
    seconds: float = 0.0  # the gap or the recovery time, see `what`
    failed_requests: int = 0
    requests: int = 0
    data_lost: int = 0
    notes: list[str] = field(default_factory=list)

    def timeline(self, probes: list[Probe], since: float) -> None:
        """Note what the client saw and when: `502@0.1s 200@6.6s` (None: no answer)."""
        self.requests = len(probes)
        self.failed_requests = sum(1 for p in probes if p.status != 200)
        self.notes.append(" ".join(f"{p.status}@{p.at - since:.1f}s" for p in probes[-12:]))


@dataclass
class Probe:
    """One request through nginx: its status (None: no answer) and when it ended."""

    status: int | None
    at: float


class VpsFaults:
    """Faults on one running VPS sandbox: its container and its nginx URL."""

    def __init__(
        self,
        container: Container,
        url: str,
        *,
        app: str = "shipways",
        write_token: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """`write_token` is the deployment's: the seeding writes need it."""
        self.container = container
        self.url = url.rstrip("/")
        self.write_token = write_token
        self.service = f"{app}.service"
        self.socket = f"{app}.socket"
        self.say = progress or (lambda _line: None)
        writer = {"Authorization": f"Bearer {write_token}"} if write_token else {}
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S, headers=writer)

    # -- probes ------------------------------------------------------------------------------

    def probe(self, path: str, timeout: float = REQUEST_TIMEOUT_S) -> Probe:
        try:
            status: int | None = self.http.get(path, timeout=timeout).status_code
        except httpx.HTTPError:
            status = None
        return Probe(status, time.perf_counter())

    def wait_for(self, path: str, status: int, timeout: float) -> tuple[float, list[Probe]]:
        """Poll `path` until it answers `status`; (seconds it took, every probe)."""
        started = time.perf_counter()
        probes: list[Probe] = []
        for _ in range(int(timeout / POLL_S) + 1):
            probe = self.probe(path)
            probes.append(probe)
            if probe.status == status:
                return probe.at - started, probes
            if probe.at - started > timeout:
                break
            time.sleep(POLL_S)
        seen = sorted({p.status for p in probes}, key=str)
        raise FaultError(f"{path} did not answer {status} within {timeout:.0f}s (saw {seen})")

    def count(self) -> int:
        response = self.http.get("/products", params={"limit": 1})
        response.raise_for_status()
        total: int = response.json()["total"]
        return total

    def seed(self, fault: str, n: int = 3) -> int:
        """Create `n` products named after the fault; the count afterwards."""
        tag = uuid.uuid4().hex[:8]
        for i in range(n):
            response = self.http.post(
                "/products", json={"name": f"proof-{fault}-{tag}-{i}", "price": 1.5}
            )
            if response.status_code != 201:
                raise FaultError(
                    f"seeding before {fault}: POST /products -> {response.status_code}"
                )
        return self.count()

    def systemd(self, *args: str) -> str:
        return exec_checked(self.container, ["systemctl", *args]).strip()

    def main_pid(self) -> int:
        return int(self.systemd("show", "-p", "MainPID", "--value", self.service))

    # -- faults ------------------------------------------------------------------------------

    def kill_master(self, timeout: float = 60.0) -> FaultResult:
        result = FaultResult(
            "kill_master",
            "SIGKILL gunicorn's master; gap = kill until a new master answers through nginx",
        )
        before = self.seed(result.name)
        self.probe("/hello")  # make sure the service is up (socket activation)
        old = self.main_pid()
        if old == 0:
            raise FaultError(f"{self.service} has no main process to kill")
        self.say(f"kill -9 {old} (gunicorn master)")
        killed = time.perf_counter()
        exec_checked(self.container, ["kill", "-9", str(old)])
        probes: list[Probe] = []
        new = 0
        for _ in range(int(timeout / POLL_S) + 1):
            # A short client timeout: a request held longer counts as failed, as a user sees it.
            probe = self.probe("/hello", timeout=KILL_PROBE_TIMEOUT_S)
            probes.append(probe)
            if probe.status == 200 and new == 0:
                pid = self.main_pid()
                active = self.systemd("show", "-p", "ActiveState", "--value", self.service)
                new = pid if pid not in (0, old) and active == "active" else 0
            if new:
                break
            if probe.at - killed > timeout:
                raise FaultError(f"{self.service} not back {timeout:.0f}s after killing its master")
            time.sleep(POLL_S)
        if not new:
            raise FaultError(f"{self.service} not back {timeout:.0f}s after killing its master")
        result.seconds = probes[-1].at - killed
        result.timeline(probes, killed)
        result.notes.append(f"new master {new} (was {old}), started by systemd")
        result.data_lost = max(0, before - self.count())
        result.survived = result.data_lost == 0
        results.record(
            "vps", "restart_gap_seconds", result.seconds, "s", "shipways proof: kill -9 master"
        )
        return result

    def restart_host(self, timeout: float = 180.0) -> FaultResult:
        result = FaultResult(
            "restart_host", "restart the VPS container; seconds = restart until /readyz is 200"
        )
        before = self.seed(result.name)
        self.say(f"restarting {self.container.name}")
        started = time.perf_counter()
        self.container.restart(timeout=30)
        _, probes = self.wait_for("/readyz", 200, timeout)
        result.seconds = time.perf_counter() - started
        result.timeline(probes, started)
        down = []
        for unit in (*UNITS, self.socket, self.service):
            enabled = exec_checked(
                self.container, ["sh", "-c", f"systemctl is-enabled {unit} || true"]
            )
            active = exec_checked(
                self.container, ["sh", "-c", f"systemctl is-active {unit} || true"]
            )
            if enabled.strip() != "enabled" or active.strip() != "active":
                down.append(f"{unit}: {enabled.strip()}/{active.strip()}")
        result.notes += down or [
            f"{', '.join((*UNITS, self.socket, self.service))}: enabled, active"
        ]
        result.data_lost = max(0, before - self.count())
        healthy = self.probe("/healthz").status == 200
        result.survived = not down and healthy and result.data_lost == 0
        results.record(
            "vps", "reboot_recovery_seconds", result.seconds, "s", "shipways proof: restart"
        )
        return result

    def database_down(self, timeout: float = 60.0) -> FaultResult:
        result = FaultResult(
            "database_down",
            "stop PostgreSQL: /readyz 503, /healthz 200; seconds = start until /readyz is 200",
        )
        before = self.seed(result.name)
        self.say("systemctl stop postgresql")
        self.systemd("stop", "postgresql.service")
        try:
            self.wait_for("/readyz", 503, timeout)
            alive = self.probe("/healthz").status
            reads = self.probe("/products").status
            result.notes.append(f"while down: /readyz 503, /healthz {alive}, /products {reads}")
        finally:
            self.say("systemctl start postgresql")
            self.systemd("start", "postgresql.service")
        started = time.perf_counter()
        _, back = self.wait_for("/readyz", 200, timeout)
        result.seconds = time.perf_counter() - started
        result.timeline(back, started)
        after = self.seed(result.name, n=1)  # writes work again
        result.data_lost = max(0, before + 1 - after)
        result.survived = alive == 200 and reads == 503 and result.data_lost == 0
        results.record("vps", "db_recovery_seconds", result.seconds, "s", "shipways proof: db down")
        return result

    def all(self) -> list[FaultResult]:
        return [self.kill_master(), self.database_down(), self.restart_host()]

    def close(self) -> None:
        self.http.close()
