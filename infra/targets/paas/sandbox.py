"""`shipways up paas`: run the source bundle the way Elastic Beanstalk runs it, on this machine.

What the platform does for you, done visibly, one step per line:

1. bundle   build the bundle from `app/` (reproducible zip, see `bundle.py`)
2. unpack   it into a fresh release workspace (`releases/<id>/app`), never over a running one
3. install  its pinned requirements into a virtualenv, offline, from the wheelhouse
            (`pip --no-index --require-hashes`), with the Python `.python-version` names; like
            a buildpack's cache, unchanged requirements reuse the virtualenv built for them
4. environment  the private network, the PostgreSQL stand-in for RDS and the front door for
            the load balancer (`environment.py`), kept until `down`; the database URL is
            written to a 0600 file the app reads through DATABASE_URL_FILE
5. release  the Procfile's `release:` process (the migrations), once per release, like
            Beanstalk's leader-only container command; the app migrates under a PostgreSQL
            advisory lock. If it fails the release is refused and nothing else changes
6. deploy   the stack's deployment policy (`deployment.py`): new instances (`fleet.py`) start
            `web:` under honcho, pass the health check (`healthCheckPath`) and join the front
            door before an old instance drains; a new instance that never gets healthy refuses
            the release and the previous one keeps serving

The address is the front door's, one 127.0.0.1 port for the life of the sandbox.
State: `infra.paths.state_dir("paas", <instance>)`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
from pydantic import Field
from rich.console import Console

from infra import results
from infra.artifacts.revision import app_revision
from infra.artifacts.source import app_with_changes
from infra.config import LoadedStack, PaasConfig, TargetName, narrow
from infra.paths import state_dir
from infra.sandbox import frontdoor, releases, tokens
from infra.sandbox.digest import recipe_digest
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.narrate import Narrator
from infra.targets import BuiltArtifact, Checks, Endpoint, NotSupported
from infra.targets.paas import buildpack, fleet, processes, spec
from infra.targets.paas import bundle as bundles
from infra.targets.paas.deployment import Deployer
from infra.targets.paas.environment import SECRET_FILE, EnvironmentStandIn, netns_pid
from infra.targets.paas.fleet import APP_PORT, BIND_ALL, Web

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
STATE_ENV = "SHIPWAYS_PAAS_STATE"  # tells the testinfra checks where the state file is
HEALTH_TIMEOUT_S = 60.0
# Only these survive from the caller's environment: a platform starts processes clean.
PASSTHROUGH = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
__all__ = ["STATE_ENV", "PaasSandbox", "Release", "State", "Web"]


class Release(releases.Release):
    bundle_sha256: str
    bundle_bytes: int
    fingerprint: str  # bundle + runtime environment: equal fingerprints, nothing to deploy
    python: str
    env: dict[str, str]  # plain settings only; a rollback restarts with exactly these
    health_path: str
    venv: str  # the virtualenv built for this release's requirements and Python


class State(releases.History[Release]):
    """Kept releases, the current one, and the instances serving it (maybe exited)."""

    instances: list[Web] = Field(default_factory=list)
    front_door: str | None = None  # the sandbox's address, kept until `down`
    policy: str = "Immutable"  # the deployment policy of the last deploy (rollbacks reuse it)
    count: int = 1  # instances the environment keeps running


class PaasSandbox:
    """The local PaaS: releases of the bundle on instances behind a stable front door."""

    name = TargetName.PAAS
    proves = (
        "the exact zip Beanstalk would get installs offline from pinned wheels, migrates once "
        "per release under a database lock, runs on the stack's instance count behind one "
        "stable address sharing one PostgreSQL, and deploys with the stack's deployment policy "
        "(new instances healthy before old ones drain) with no failed request, refusing a "
        "broken release; only AWS proves Beanstalk's hooks, its nginx, the load balancer, "
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
        self.last_switch_s: float | None = None
        self.last_build_s: float | None = None

    # -- where things live -------------------------------------------------------------

    @property
    def root(self) -> Path:
        """Created by the first deploy, removed whole by `down`."""
        return state_dir("paas") / self.instance

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def secrets_dir(self) -> Path:
        """Stands in for the platform's secret store (0700): the database URL's and the write
        token's 0600 files, which every instance's processes read by path."""
        return self.root / "secrets"

    @property
    def secret_file(self) -> Path:
        """The database URL (0600, in a 0700 directory): the environment secret's stand-in."""
        return self.secrets_dir / SECRET_FILE

    def release_dir(self, release_id: str) -> Path:
        return self.root / "releases" / release_id

    @property
    def _store(self) -> releases.StateFile[State]:
        return releases.StateFile(self.state_file, State, lock=f"paas-{self.instance}")

    def load(self) -> State:
        return self._store.load()

    def _stand_in(self, client: docker.DockerClient) -> EnvironmentStandIn:
        return EnvironmentStandIn(client, self.instance, self.secrets_dir)

    # -- the Sandbox protocol ----------------------------------------------------------

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        config = narrow(stack.config, PaasConfig)
        with _narrator(console).step("bundle", "building the source bundle") as step:
            source = config.app.directory
            built = bundles.build(state_dir("paas", "bundles"), source, config.app_name)
            step.result(f"{built.path.name}: {len(built.files)} files, {built.size_bytes} bytes")
        # Nothing is cached: every bundle is built from the app's files, so this is a cold build.
        results.record("paas", "bundle_build_seconds", step.elapsed, "s", "shipways up")
        self.last_build_s = step.elapsed
        return self.deploy(built, config, console)

    def build_artifact(
        self, work: Path, progress: Progress, *, stack: LoadedStack, changes: Mapping[str, bytes]
    ) -> BuiltArtifact:
        """The source bundle `up` would upload, built from a copy of the app with `changes`."""
        config = narrow(stack.config, PaasConfig)
        source = app_with_changes(changes, work / "app", config.app.directory)
        try:
            built = bundles.build(work / "bundles", source, config.app_name)
        except bundles.BundleError as exc:
            raise SandboxError(str(exc)) from exc
        progress(f"built {built.path.name}: {len(built.files)} files, {built.size_bytes} bytes")
        return BuiltArtifact(f"paas bundle {built.path.name}", "zip", str(built.path))

    def deploy(
        self,
        built: bundles.Bundle,
        config: PaasConfig,
        console: Console,
        source: str = "shipways up",
    ) -> Endpoint:
        """Release `built` with `config`'s settings and deployment policy; the previous
        release serves until new instances are healthy, and keeps serving if they fail."""
        started = time.perf_counter()
        narrator = _narrator(console)
        count = spec.instance_count(config)
        policy = spec.deployment_option(config, "DeploymentPolicy")
        store = self._store
        with store.locked() as state:
            env = self._runtime_env(config)
            fingerprint = _fingerprint(built.sha256, env)
            live = self._live(state)
            serving = state.serving()
            if (
                len(live) == count
                and serving is not None
                and serving.fingerprint == fingerprint
                and {w.release for w in live} == {serving.id}
            ):
                narrator.say("release", f"{serving.id} already serves this bundle and config")
                return self._endpoint(state, live)
            release = self._prepare(state, built, fingerprint, env, config, console)
            fleet.require_root()
            with narrator.step("environment", "network, PostgreSQL and front door") as step:
                stand_in = self._stand_in(ensure_engine(step.progress))
                environment = stand_in.ensure(step.progress)
                state.front_door = environment.door.url
                for dead in (w for w in state.instances if w not in live):
                    stand_in.terminate_instance(dead.instance_id)  # its process died
                state.instances = live
                store.save(state)
                step.result(f"{environment.door.url} (stays until `shipways down paas`)")
            with narrator.step("release", "running the Procfile's release process") as step:
                buildpack.run_release(self.release_dir(release.id), Path(release.venv), env)
                step.result(f"release {release.id}: migrations applied (once, leader only)")
            what = f"{policy}: {count} instance(s) of {release.id}"
            with narrator.step("deploy", what) as step:
                deployer = Deployer(environment.door, self._terminater(stand_in), step.note)
                try:
                    switch = deployer.deploy(
                        policy,
                        live,
                        count,
                        lambda: self._launch(release, stand_in, step.note),
                        lambda web: self._launch(self._release_of(state, web), stand_in, step.note),
                    )
                except SandboxError as exc:
                    raise SandboxError(
                        f"release {release.id} refused: {exc}\nThe previous release keeps "
                        f"serving at the same address, {environment.door.url}."
                    ) from None
                step.result(f"{count} instance(s) healthy, switched in {switch.seconds:.1f}s")
            state.record(release)
            state.instances, state.policy, state.count = switch.serving, policy, count
            store.save(state)
            self._prune(state)
        seconds = time.perf_counter() - started
        self.last_switch_s = switch.seconds
        narrator.say("switch", f"release {release.id} serves at {state.front_door}")
        results.record("paas", "bundle_bytes", built.size_bytes, "B", source)
        results.record("paas", "bundle_to_healthy_seconds", seconds, "s", source)
        results.record("paas", "deployment_switch_seconds", round(switch.seconds, 2), "s", source)
        return self._endpoint(state, switch.serving)

    def down(self, console: Console) -> bool:
        root = self.root
        if not root.exists():
            return False
        say = _narrator(console).say
        with self._store.locked() as state:
            for web in state.instances:
                if processes.stop(web.pid, web.started):
                    say("down", f"stopped {web.instance_id} (release {web.release})")
            removed = self._stand_in(ensure_engine()).remove()
            if removed:
                say("down", f"removed {', '.join(removed)}")
            shutil.rmtree(state_dir("sandbox", self.instance))  # the database password's dir
            shutil.rmtree(root)
        say("down", f"removed {root} (releases, logs, secret)")
        return True

    def endpoint(self) -> Endpoint | None:
        state = self.load()
        live = self._live(state)
        return self._endpoint(state, live) if live else None

    def checks(self, endpoint: Endpoint) -> Checks:
        return Checks(
            modules=[CHECKS_DIR / "test_paas_local.py"],
            pytest_args=["--hosts=local://"],
            env={STATE_ENV: str(self.state_file)},
            instances=len(endpoint.extra.get("instance_ids", [])) or 1,  # behind the edge
        )

    def status(self, console: Console) -> dict[str, Any]:
        state = self.load()
        live = self._live(state)
        serving = state.serving() if live else None
        return {
            "instance": self.instance,
            "state": "running" if live else "stopped",
            "url": state.front_door if live else None,
            "release": serving.id if serving else None,
            "instances": [w.instance_id for w in live],
            "deployment_policy": state.policy,
            "bundle_sha256": serving.bundle_sha256 if serving else None,
            "bundle_bytes": serving.bundle_bytes if serving else None,
            "python": serving.python if serving else None,
            "releases": [r.id for r in state.releases],
            "memory_mib": round(self.memory_bytes(live) / 2**20, 1) if live else None,
            "database": f"PostgreSQL {self.instance}-postgres (private network)",
        }

    def logs(self, console: Console, *, follow: bool, lines: int) -> None:
        state = self.load()
        if not state.instances:
            raise NotSupported(f"paas ({self.instance}) has no release; run `shipways up paas`")
        web = state.instances[0]
        log = self.release_dir(web.release) / f"web-{web.instance_id}.log"
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
        """Serve an earlier kept release again, with the same deployment policy and front
        door (its release step is not re-run: migrations only move forward, so the older
        code must accept the newer schema)."""
        narrator = _narrator(console)
        store = self._store
        with store.locked() as state:
            target = state.rollback_target(release)
            live = self._live(state)
            if live and {w.release for w in live} == {target.id}:
                return target.id
            fleet.require_root()
            with narrator.step("rollback", f"{state.policy}: back to {target.id}") as step:
                stand_in = self._stand_in(ensure_engine(step.progress))
                environment = stand_in.ensure(step.progress)
                deployer = Deployer(environment.door, self._terminater(stand_in), step.note)
                switch = deployer.deploy(
                    state.policy,
                    live,
                    state.count,
                    lambda: self._launch(target, stand_in, step.note),
                    lambda web: self._launch(self._release_of(state, web), stand_in, step.note),
                )
                step.result(f"{target.id} serves again at {environment.door.url}")
            state.instances, state.current = switch.serving, target.id
            store.save(state)
        self.last_switch_s = switch.seconds
        results.record("paas", "rollback_seconds", round(switch.seconds, 2), "s", "shipways")
        return target.id

    def memory_bytes(self, webs: list[Web]) -> int:
        """Resident memory of every instance's gunicorn master and workers (the Procfile
        runner left out)."""
        pids = [
            pid
            for web in webs
            for pid in processes.descendants(web.pid)
            if b"gunicorn" in _cmdline(pid)
        ]
        return processes.resident_bytes(pids)

    # -- the steps ---------------------------------------------------------------------

    def token(self) -> str | None:
        return tokens.read(self.secrets_dir)

    def _runtime_env(self, config: PaasConfig) -> dict[str, str]:
        """What the platform puts in the processes' environment (PORT comes per process):
        the database URL and the write token as files' paths, never as values (the token is
        kept across releases: one per deployment)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return {
            **{k: os.environ[k] for k in PASSTHROUGH if k in os.environ},
            **spec.app_environment(config, sqlite_path=None),
            "DATABASE_URL_FILE": str(self.secret_file),
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
        """Unpack and install; raises before anything serves."""
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
            venv, reused = buildpack.dependencies(self.root / "venvs", app, version)
            how = "requirements unchanged, reused" if reused else "installed from the wheelhouse"
            step.result(f"release {release_id}: {venv.name} {how}")
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

    def _launch(self, release: Release, stand_in: EnvironmentStandIn, progress: Progress) -> Web:
        """A new instance serving `release`, healthy; or terminated again and SandboxError."""
        container, instance_id = stand_in.launch_instance(progress)
        workdir = self.release_dir(release.id)
        log = workdir / f"web-{instance_id}.log"
        pid, started = fleet.spawn(
            buildpack.honcho("start", "--port", str(APP_PORT), "web"),
            netns_pid=netns_pid(container),
            cwd=workdir / "app",
            # The edge reaches the app on the instance's address (no nginx on the instance).
            env={
                **release.env,
                "PATH": buildpack.path(Path(release.venv)),
                "WEB_BIND_HOST": BIND_ALL,
            },
            log=log,
        )
        web = Web(
            release=release.id,
            pid=pid,
            started=started,
            port=APP_PORT,
            instance_id=instance_id,
            address=stand_in.instance_address(container),
        )
        progress(f"{instance_id}: waiting for {release.health_path} (pid {pid})")
        problem = fleet.wait_healthy(web, release.health_path, self.health_timeout)
        if problem is not None:
            processes.stop(pid, started)
            stand_in.terminate_instance(instance_id)
            raise SandboxError(
                f"instance {instance_id} of release {release.id}: {problem}; it was "
                f"terminated. Log {log}:\n{buildpack.tail(log)}"
            )
        progress(f"{instance_id} ({web.backend}) passes {release.health_path}")
        return web

    def _terminater(self, stand_in: EnvironmentStandIn) -> Callable[[Web], None]:
        def terminate(web: Web) -> None:
            processes.stop(web.pid, web.started)
            stand_in.terminate_instance(web.instance_id)

        return terminate

    def _release_of(self, state: State, web: Web) -> Release:
        found = state.find(web.release)
        if found is None:
            raise SandboxError(f"release {web.release} of {web.instance_id} is no longer kept")
        return found

    def _live(self, state: State) -> list[Web]:
        return [w for w in state.instances if processes.alive(w.pid, w.started)]

    def _endpoint(self, state: State, webs: list[Web]) -> Endpoint:
        if state.front_door is None:
            raise NotSupported(f"paas ({self.instance}) has no front door; run `shipways up paas`")
        return Endpoint(
            target=TargetName.PAAS,
            url=state.front_door,
            extra={
                "release": webs[0].release,
                "pid": webs[0].pid,
                "pids": [w.pid for w in webs],
                "instance_ids": [w.instance_id for w in webs],
                # The front door: `infra.measure.reach` loads the app from its namespace.
                "container": frontdoor.container_name(self.instance),
                "instance": self.instance,
            },
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


def _fingerprint(bundle_sha256: str, env: dict[str, str]) -> str:
    """Same bundle, same settings: same release. The commit id is left out on purpose: an
    unrelated commit does not change what the bundle runs."""
    settings = {k: v for k, v in env.items() if k != "SHIPWAYS_GIT_SHA"}
    return recipe_digest({"bundle": bundle_sha256, "env": settings}, length=64)
