"""`shipways up paas`: run the source bundle the way a PaaS runs it, on this machine.

What the platform does for you, done visibly, one step per line:

1. build   the bundle from `app/` (reproducible zip, see `bundle.py`); nothing new -> no deploy
2. unpack  it into a fresh release workspace (`releases/<id>/app`), never over a running one
3. install its pinned requirements into a virtualenv, offline, from the wheelhouse
           (`pip --no-index --require-hashes`), with the Python `.python-version` names; like a
           buildpack's cache, unchanged requirements reuse the virtualenv built for them
4. release run the Procfile's `release:` process (the migrations) under honcho; if it fails
           the new release stops here and the previous one keeps serving
5. web     start the Procfile's `web:` process under honcho with a fresh `PORT`, as its own
           process group, on 127.0.0.1 only (`WEB_BIND_HOST`; real platforms bind 0.0.0.0)
6. health  poll the stack's `healthCheckPath` (the path Beanstalk polls) until it answers 200;
           if it never does, the new process is stopped and the previous one keeps serving
7. switch  record the new release as current, then stop the previous web process

The URL changes with each release (a new port): there is no router in front, so `endpoint()`
reads the current URL from the state file. Storage is a SQLite file in `shared/`, outside every
release workspace, like a platform's attached disk; a PostgreSQL `DATABASE_URL` is what a real
platform would provide instead. State: `infra.paths.state_dir("paas", <instance>)`.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, model_validator
from rich.console import Console

from infra import results
from infra.artifacts import wheelhouse
from infra.artifacts.revision import app_revision
from infra.config import LoadedStack, PaasConfig, TargetName, narrow
from infra.paths import APP_DIR, state_dir
from infra.sandbox import releases, tokens
from infra.sandbox.containers import free_port
from infra.sandbox.digest import recipe_digest, tree_digest
from infra.sandbox.errors import SandboxError
from infra.sandbox.health import wait_for_http
from infra.sandbox.narrate import Narrator
from infra.targets import Checks, Endpoint, NotSupported
from infra.targets.paas import bundle as bundles
from infra.targets.paas import processes, spec

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
LOOPBACK = "127.0.0.1"
STATE_ENV = "SHIPWAYS_PAAS_STATE"  # tells the testinfra checks where the state file is
INSTALL_TIMEOUT_S = 600
RELEASE_TIMEOUT_S = 300
HEALTH_TIMEOUT_S = 60.0
# Only these survive from the caller's environment: a platform starts processes clean.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")


class Release(releases.Release):
    bundle_sha256: str
    bundle_bytes: int
    fingerprint: str  # bundle + runtime environment: equal fingerprints, nothing to deploy
    python: str
    env: dict[str, str]  # plain settings only; a rollback restarts with exactly these
    health_path: str
    venv: str  # the virtualenv built for this release's requirements and Python


class Web(BaseModel):
    release: str
    pid: int
    started: int  # /proc start time: tells our process from a recycled pid
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


class State(releases.History[Release]):
    """Kept releases, the current one, and the web process serving it (maybe exited)."""

    web: Web | None = None

    @model_validator(mode="after")
    def _current_is_the_web_release(self) -> State:
        """State files written before `current` existed name the release by its process."""
        if self.current is None and self.web is not None:
            self.current = self.web.release
        return self


class PaasSandbox:
    """The local PaaS: releases of the bundle served by a Procfile runner on 127.0.0.1."""

    name = TargetName.PAAS
    proves = (
        "the exact zip Beanstalk would get installs offline from pinned wheels, runs its "
        "release step before its web process, keeps the old release serving when either "
        "fails, and serves the contract on $PORT; only AWS proves Beanstalk's hooks, nginx, "
        "IAM, S3 and Secrets Manager"
    )

    def __init__(
        self,
        instance: str = "shipways-paas",
        keep_releases: int = 3,
        health_timeout: float = HEALTH_TIMEOUT_S,
    ) -> None:
        self.instance = instance
        self.keep_releases = keep_releases
        self.health_timeout = health_timeout

    # -- where things live -------------------------------------------------------------

    @property
    def root(self) -> Path:
        """Created by the first deploy, removed whole by `down`."""
        return state_dir("paas") / self.instance

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def shared_dir(self) -> Path:
        """The release-independent disk: the SQLite database lives here."""
        return self.root / "shared"

    def release_dir(self, release_id: str) -> Path:
        return self.root / "releases" / release_id

    @property
    def _store(self) -> releases.StateFile[State]:
        return releases.StateFile(self.state_file, State, lock=f"paas-{self.instance}")

    def load(self) -> State:
        return self._store.load()

    # -- the Sandbox protocol ----------------------------------------------------------

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        config = narrow(stack.config, PaasConfig)
        with _narrator(console).step("bundle", "building the source bundle") as step:
            built = bundles.build(state_dir("paas", "bundles"), APP_DIR, config.app_name)
            step.result(f"{built.path.name}: {len(built.files)} files, {built.size_bytes} bytes")
        return self.deploy(built, config, console)

    def deploy(
        self,
        built: bundles.Bundle,
        config: PaasConfig,
        console: Console,
        source: str = "shipways up",
    ) -> Endpoint:
        """Release `built` with `config`'s settings; the previous release serves until the new
        one is healthy, and keeps serving if the new one fails."""
        started = time.perf_counter()
        say = _narrator(console).say
        store = self._store
        with store.locked() as state:
            env = self._runtime_env(config)
            fingerprint = _fingerprint(built.sha256, env)
            current = self._live_web(state)
            if current is not None:
                serving = state.find(current.release)
                if serving is not None and serving.fingerprint == fingerprint:
                    say("release", f"{current.release} already serves this bundle and config")
                    return self._endpoint(current)
            release = self._prepare(state, built, fingerprint, env, config, console)
            starting = time.perf_counter()
            web = self._start_web(release, console)
            to_healthy = time.perf_counter() - starting
            previous = state.web
            state.record(release)
            state.web = web
            store.save(state)
            if previous is not None and processes.stop(previous.pid, previous.started):
                say("switch", f"stopped release {previous.release} (pid {previous.pid})")
            self._prune(state)
        seconds = time.perf_counter() - started
        say("switch", f"release {release.id} healthy at {web.url} ({seconds:.1f}s from bundle)")
        results.record("paas", "bundle_bytes", built.size_bytes, "B", source)
        results.record("paas", "bundle_to_healthy_seconds", seconds, "s", source)
        results.record("paas", "time_to_healthy_seconds", to_healthy, "s", source)
        return self._endpoint(web)

    def down(self, console: Console) -> bool:
        root = self.root
        if not root.exists():
            return False
        say = _narrator(console).say
        with self._store.locked() as state:
            if state.web is not None and processes.stop(state.web.pid, state.web.started):
                say("down", f"stopped release {state.web.release} (pid {state.web.pid})")
            shutil.rmtree(root)
        say("down", f"removed {root} (releases, logs, database)")
        return True

    def endpoint(self) -> Endpoint | None:
        web = self._live_web(self.load())
        return None if web is None else self._endpoint(web)

    def checks(self, endpoint: Endpoint) -> Checks:
        return Checks(
            modules=[CHECKS_DIR / "test_paas_local.py"],
            pytest_args=["--hosts=local://"],
            env={STATE_ENV: str(self.state_file)},
        )

    def status(self, console: Console) -> dict[str, Any]:
        state = self.load()
        web = self._live_web(state)
        serving = state.find(web.release) if web else None
        return {
            "instance": self.instance,
            "state": "running" if web else "stopped",
            "url": web.url if web else None,
            "release": serving.id if serving else None,
            "pid": web.pid if web else None,
            "bundle_sha256": serving.bundle_sha256 if serving else None,
            "bundle_bytes": serving.bundle_bytes if serving else None,
            "python": serving.python if serving else None,
            "releases": [r.id for r in state.releases],
            "memory_mib": round(self.web_memory_bytes(web) / 2**20, 1) if web else None,
            "database": str(self.shared_dir / "shipways.db"),
        }

    def logs(self, console: Console, *, follow: bool, lines: int) -> None:
        state = self.load()
        if state.web is None:
            raise NotSupported(f"paas ({self.instance}) has no release; run `shipways up paas`")
        log = self.release_dir(state.web.release) / "web.log"
        if not log.exists():
            raise NotSupported(f"no log at {log}; run `shipways up paas` to start a release")
        with log.open(errors="replace") as handle:
            for line in handle.readlines()[-lines:]:
                console.print(line.rstrip(), markup=False, highlight=False)
            while follow:
                line = handle.readline()
                if line:
                    console.print(line.rstrip(), markup=False, highlight=False)
                else:
                    time.sleep(0.5)

    def rollback(self, console: Console, *, release: str | None) -> str:
        """Serve an earlier kept release again (its release step is not re-run: migrations
        only move forward, so the older code must accept the newer schema)."""
        store = self._store
        with store.locked() as state:
            current = state.web
            target = state.rollback_target(release)
            if current is not None and current.release == target.id:
                return target.id
            web = self._start_web(target, console)
            state.web = web
            state.current = target.id
            store.save(state)
            if current is not None:
                processes.stop(current.pid, current.started)
        _narrator(console).say("rollback", f"serving {target.id} again at {web.url}")
        return target.id

    def web_memory_bytes(self, web: Web) -> int:
        """Resident memory of gunicorn's master and workers (the Procfile runner left out)."""
        pids = [pid for pid in processes.descendants(web.pid) if b"gunicorn" in _cmdline(pid)]
        return processes.resident_bytes(pids)

    # -- the steps ---------------------------------------------------------------------

    @property
    def secrets_dir(self) -> Path:
        """Stands in for the platform's secret store: the write token's 0600 file."""
        return self.root / "secrets"

    def token(self) -> str | None:
        return tokens.read(self.secrets_dir)

    def _runtime_env(self, config: PaasConfig) -> dict[str, str]:
        """What the platform puts in the processes' environment (PORT comes per process): the
        write token's file, never its value (kept across releases: one per deployment)."""
        self.shared_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return {
            **{k: os.environ[k] for k in PASSTHROUGH if k in os.environ},
            **spec.app_environment(config, sqlite_path=str(self.shared_dir / "shipways.db")),
            "WRITE_TOKEN_FILE": str(tokens.ensure(self.secrets_dir)),
            "SHIPWAYS_GIT_SHA": app_revision(),
            "PYTHONUNBUFFERED": "1",
        }

    def _prepare(
        self,
        state: State,
        built: bundles.Bundle,
        fingerprint: str,
        env: dict[str, str],
        config: PaasConfig,
        console: Console,
    ) -> Release:
        """Unpack, install and run the release step; raises before anything serves."""
        number = 1 + max((int(r.id.split("-")[0][1:]) for r in state.releases), default=0)
        release_id = f"v{number}-{built.label[:8]}"
        workdir = self.release_dir(release_id)
        narrator = _narrator(console)
        with narrator.step("unpack", f"unpacking {built.path.name}") as step:
            shutil.rmtree(workdir, ignore_errors=True)
            app = workdir / "app"
            app.mkdir(parents=True)
            bundles.unpack(built.path, app)
            version = (app / ".python-version").read_text().strip()
            step.result(f"release {release_id}: {built.path.name} unpacked; Python {version}")
        with narrator.step("install", "installing requirements (offline)") as step:
            venv, reused = self._dependencies(app, version)
            how = "requirements unchanged, reused" if reused else "installed from the wheelhouse"
            step.result(f"release {release_id}: {venv.name} {how}")
        with narrator.step("release", "running the Procfile's release process") as step:
            self._run_release(workdir, venv, env)
            step.result(f"release {release_id}: release process succeeded (migrations applied)")
        return Release(
            id=release_id,
            bundle_sha256=built.sha256,
            bundle_bytes=built.size_bytes,
            fingerprint=fingerprint,
            python=version,
            env=env,
            health_path=config.health_check_path,
            venv=str(venv),
        )

    def _dependencies(self, app: Path, version: str) -> tuple[Path, bool]:
        """The virtualenv for these exact requirements, and whether it was reused: reused
        when unchanged, like a buildpack's dependency cache; otherwise built from the
        wheelhouse, offline."""
        requirements = tree_digest({"requirements.txt": app / "requirements.txt"})
        venv = self.root / "venvs" / f"py{version}-{requirements}"
        done = venv / ".complete"
        if done.exists():
            return venv, True
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted run
        self._install(app, venv, version)
        done.touch()
        return venv, False

    def _install(self, app: Path, venv: Path, version: str) -> None:
        python = shutil.which(f"python{version}")
        if python is None:
            raise SandboxError(
                f"the bundle asks for Python {version} (.python-version) and this machine has "
                f"no python{version}: install it, or change app/.python-version together with "
                "the stack's platformPattern"
            )
        wheels = wheelhouse.dependency_wheels(
            wheelhouse.Platform.linux(version, platform.machine())
        )
        _run([python, "-m", "venv", "--without-pip", str(venv)], "create the virtualenv", 120)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "--disable-pip-version-check",
                "--python",
                str(venv / "bin" / "python"),
                "install",
                "--no-index",
                "--find-links",
                str(wheels),
                "--require-hashes",
                "--only-binary=:all:",
                "-r",
                str(app / "requirements.txt"),
            ],
            "install the bundle's requirements",
            INSTALL_TIMEOUT_S,
        )

    def _run_release(self, workdir: Path, venv: Path, env: dict[str, str]) -> None:
        log = workdir / "release.log"
        with log.open("wb") as sink:
            try:
                result = subprocess.run(
                    _honcho("start", "release"),
                    cwd=workdir / "app",
                    env={**env, "PATH": _path(venv)},
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=RELEASE_TIMEOUT_S,
                    umask=0o077,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise SandboxError(
                    f"release {workdir.name}: the release process ran over {RELEASE_TIMEOUT_S}s "
                    f"and was stopped; the previous release keeps serving. Log: {log}"
                ) from None
        if result.returncode != 0:
            raise SandboxError(
                f"release {workdir.name}: the Procfile's release process failed "
                f"(exit {result.returncode}); the web process was not started and the previous "
                f"release keeps serving. Log {log}:\n{_tail(log)}"
            )

    def _start_web(self, release: Release, console: Console) -> Web:
        """Start `web:` on a fresh port and wait until healthy, or stop it and raise."""
        workdir = self.release_dir(release.id)
        port = free_port()
        log = workdir / "web.log"
        pid, started = processes.spawn(
            _honcho("start", "--port", str(port), "web"),
            cwd=workdir / "app",
            env={**release.env, "PATH": _path(Path(release.venv))},
            log=log,
        )
        web = Web(release=release.id, pid=pid, started=started, port=port)
        path = release.health_path
        with _narrator(console).step("health", f"waiting for {path} on port {port}") as step:
            problem = _wait_healthy(web, path, self.health_timeout)
            if problem is not None:
                processes.stop(pid, started)
                raise SandboxError(
                    f"release {release.id}: {web.url}{path} never answered 200 ({problem}); "
                    f"stopped it, the previous release keeps serving. Log {log}:\n{_tail(log)}"
                )
            step.result(f"release {release.id}: web (pid {pid}) answers {path} on port {port}")
        return web

    def _live_web(self, state: State) -> Web | None:
        web = state.web
        return web if web is not None and processes.alive(web.pid, web.started) else None

    def _endpoint(self, web: Web) -> Endpoint:
        return Endpoint(
            target=TargetName.PAAS,
            url=web.url,
            extra={"release": web.release, "pid": web.pid, "instance": self.instance},
        )

    def _prune(self, state: State) -> None:
        """Keep the newest releases (and always the serving one), and the virtualenvs they
        use; drop failed leftovers."""
        state.prune(self.keep_releases)
        self._store.save(state)
        kept = state.releases
        for parent, keep in (
            (self.root / "releases", {r.id for r in kept}),
            (self.root / "venvs", {Path(r.venv).name for r in kept}),
        ):
            for path in parent.iterdir() if parent.is_dir() else ():
                if path.name not in keep:
                    shutil.rmtree(path, ignore_errors=True)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _narrator(console: Console) -> Narrator:
    return Narrator(console, "paas")


def _honcho(*args: str) -> list[str]:
    """The Procfile runner, from the toolkit's environment (never from the app's)."""
    return [sys.executable, "-m", "honcho", "--no-colour", *args]


def _path(venv: Path) -> str:
    """The release's virtualenv first, then the system: like a buildpack's PATH."""
    return f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"


def _fingerprint(bundle_sha256: str, env: dict[str, str]) -> str:
    """Same bundle, same settings: same release. The commit id is left out on purpose: an
    unrelated commit does not change what the bundle runs."""
    settings = {k: v for k, v in env.items() if k != "SHIPWAYS_GIT_SHA"}
    return recipe_digest({"bundle": bundle_sha256, "env": settings}, length=64)


def _run(command: list[str], what: str, timeout: int) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(f"could not {what}: still running after {timeout}s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise SandboxError(f"could not {what} (exit {result.returncode}):\n{tail}")


def _wait_healthy(web: Web, path: str, timeout: float) -> str | None:
    """None once `path` answers 200; else why not. Bounded in time and attempts."""

    def exited() -> str | None:
        return None if processes.alive(web.pid, web.started) else "the web process exited"

    try:
        wait_for_http(f"{web.url}{path}", timeout, interval=0.25, give_up=exited)
    except SandboxError as exc:
        return str(exc)
    return None


def _tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])
