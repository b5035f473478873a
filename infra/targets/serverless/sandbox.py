"""`shipways up serverless`: the stack's Lambda zip, run under AWS's runtime client, locally.

What Lambda and API Gateway do for the stack, done on Docker, one step per line:

1. zip       the deployment zip from the stack's own builder (`artifact.cached_zip`), for
             the container's Python (Debian 12's 3.11) and the engine's CPU; both printed.
2. runtime   the runtime image: Debian base, Lambda's sandbox user, `awslambdaric`, the
             harness (`runtime_api.py`, `gateway.py`); reused while unchanged.
3. release   the release image: the zip unpacked into /var/task (root-owned, read-only).
4. database  a private Docker network (no egress) and a PostgreSQL server on it
             (`infra.sandbox.postgres`), standing in for the stack's database; its URL is a
             read-only file (the stack's function reads it from Secrets Manager at init).
5. gateway   the API Gateway stage (`gateway.py`): one 127.0.0.1 address until `down`.
6. publish   a new version when the code or the configuration (the stack's `env`) changed,
             as Lambda's PublishVersion does: `concurrency` instance containers
             (`service.instance_run`), each with its own init, run when the gateway first
             sends it a request.
7. migrate   the release step, as the stack's: the new version invoked directly with
             `{"shipways": "migrate"}` (once per release; the app holds a PostgreSQL
             advisory lock while it migrates), then with a `GET /readyz` event.
8. switch    the `live` alias moves to the new version in one step; requests in flight
             finish on the old one, whose instances stop once it has none (kept for rollback).
             With the stack's `trafficShifting` it moves in CodeDeploy's steps instead, on a
             local time scale (`shift_minute_s` seconds per CodeDeploy minute), and goes back
             by itself when the new version's 5xx trip the stack's alarm.

A version that fails to init, to migrate or to be ready is refused: it is unpublished, its
instances removed, and the alias never moved, so the previous version served throughout.
State (releases and their versions): `infra.paths.state_dir("serverless", <instance>)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from pydantic import Field
from rich.console import Console

from infra import results
from infra.artifacts.source import app_with_changes
from infra.config import LoadedStack, ServerlessConfig, TargetName, narrow
from infra.paths import state_dir
from infra.sandbox import releases, tokens
from infra.sandbox.containers import remove_container
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import Progress, SandboxError
from infra.sandbox.narrate import Narrator
from infra.sandbox.networks import ensure_private_network, remove_network
from infra.sandbox.postgres import ensure_postgres, remove_postgres
from infra.targets import BuiltArtifact, Checks, Endpoint, NotSupported
from infra.targets.serverless import service, spec
from infra.targets.serverless.artifact import (
    LOCAL_SYSTEM,
    Architecture,
    ArtifactError,
    LambdaZip,
    ZipTarget,
    build_zip,
    cached_zip,
    zip_with_changes,
)
from infra.targets.serverless.images import ensure_runtime_image, ensure_task_image
from infra.targets.serverless.shift import LOCAL_MINUTE_S
from infra.targets.serverless.switch import Switcher

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
DEFAULT_REGION = "us-east-1"
DEFAULT_CONCURRENCY = 3  # instances per version when the stack sets no reservedConcurrency
LOCAL_MAX_CONCURRENCY = 4  # what this machine can hold: a higher cap is clipped, and said
DATABASE = "shipways_serverless"
LABEL = "shipways.serverless"


class Release(releases.Release):
    """One version: a zip, unpacked into its own image, and the app's environment variables
    (both are what a Lambda version freezes); `id` is `release_id` of the two."""

    image: str
    zip_sha256: str
    zip_bytes: int
    unzipped_bytes: int
    built_for: str
    environment: dict[str, str] = Field(default_factory=dict)
    version: str = ""  # the Lambda version number it was published as


def release_id(zip_sha256: str, environment: Mapping[str, str]) -> str:
    """The same code with the same configuration is the same release (and version)."""
    configuration = json.dumps(environment, sort_keys=True)
    return hashlib.sha256(f"{zip_sha256}\n{configuration}".encode()).hexdigest()[:12]


class State(releases.History[Release]):
    """Kept releases, the current one, and the config `up` was given (rollback switches with
    it, reading no stack file)."""

    config: ServerlessConfig | None = None
    region: str = DEFAULT_REGION
    last_version: int = 0


class ServerlessSandbox:
    """Local Lambda execution environments behind a local API Gateway, for one function."""

    name = TargetName.SERVERLESS
    proves = (
        "the zip the stack's builder makes (here for Debian's Python 3.11 and this CPU, not "
        "the stack's runtime) initialises and serves the contract under AWS's own runtime "
        "client, as uid 993 with a read-only /var/task, only /tmp writable and Lambda's "
        "memory cap, on several instances (each its own init and cold start, up to the "
        "concurrency cap) sharing one PostgreSQL, behind one payload-2.0 API Gateway "
        "address; releases publish a version, migrate it once, check it ready and move the "
        "alias with no failed request (or shift it in CodeDeploy's weighted steps, rolling "
        "back on the stack's 5xx alarm); only AWS proves IAM, Secrets Manager, VPC access, "
        "the managed runtime's OS and Lambda's own placement and scaling"
    )

    def __init__(
        self,
        instance: str = "shipways-serverless",
        keep_releases: int = 3,
        *,
        app_changes: Mapping[str, bytes] | None = None,
        shift_minute_s: float = LOCAL_MINUTE_S,
    ) -> None:
        self.instance = instance
        self.shift_minute_s = shift_minute_s
        self.keep_releases = keep_releases
        # Files of the zip replaced (zip path -> content): a release with a code change
        # without editing the working tree.
        self.app_changes = app_changes
        self.last_build_s: float | None = None

    @property
    def network(self) -> str:
        return f"{self.instance}-net"

    @property
    def state_file(self) -> Path:
        return state_dir("serverless", self.instance) / "state.json"

    @property
    def _store(self) -> releases.StateFile[State]:
        return releases.StateFile(self.state_file, State, lock=f"serverless-{self.instance}")

    @property
    def secrets_dir(self) -> Path:
        return state_dir("serverless", self.instance, "secrets")

    def token(self) -> str | None:
        return tokens.read(self.secrets_dir)

    def _token_file(self) -> Path:
        """The write token for the function, handed over as the database URL's file is.

        In AWS the function reads it from Secrets Manager at init (WRITE_TOKEN_SECRET_ARN);
        the instances cannot reach AWS, so here the file is bind-mounted read-only into each
        instance under /run/secrets - outside /var/task, since the zip (an artifact) must never
        hold it. Kept across releases: one token per deployment.
        """
        return service.hand_to_function(tokens.ensure(self.secrets_dir))

    # -- Sandbox protocol ----------------------------------------------------------------

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        config = narrow(stack.config, ServerlessConfig)
        region = stack.aws_region or DEFAULT_REGION
        narrator = _narrator(console)
        client = ensure_engine(progress=narrator.note)
        started = time.perf_counter()
        with self._store.locked() as state:
            package = self._build(narrator, config, local_target(client))
            release = self._release_image(narrator, client, package, config)
            switcher = self._switcher(narrator, client, config, region)
            kept = state.find(release.id)
            if kept is not None and kept.id == state.current and switcher.serves(kept.version):
                narrator.say("switch", f"version {kept.version} ({kept.id}) already serves")
                return self._endpoint_of(switcher, kept)
            if kept is not None:
                # The same code and configuration: its version, published again.
                release.version = kept.version
            else:
                state.last_version += 1
                release.version = str(state.last_version)
            previous = state.serving()
            replacing = previous is not None
            switcher.switch(release, previous, migrate=True, shift=True)
            state.config, state.region = config, region
            state.record(release)
            self._prune(client, state)
            self._store.save(state)
        metric = "warm_deploy_seconds" if replacing else "cold_deploy_seconds"
        results.record("serverless", metric, time.perf_counter() - started, "s", "shipways up")
        results.record("serverless", "zip_mib", package.zipped_bytes / 2**20, "MiB", "shipways up")
        return self._endpoint_of(switcher, release)

    def rollback(self, console: Console, *, release: str | None) -> str:
        """Move the `live` alias back to an earlier version: what Lambda's rollback is."""
        narrator = _narrator(console)
        store = self._store
        with store.locked() as state:
            if state.config is None or not state.current:
                raise NotSupported(f"{self.instance} has no releases; run `shipways up serverless`")
            chosen = state.rollback_target(release)
            client = ensure_engine(progress=narrator.note)
            try:
                client.images.get(chosen.image)
            except ImageNotFound:
                raise NotSupported(
                    f"release {chosen.id}'s image {chosen.image} was removed; `shipways up "
                    "serverless` builds the current code again"
                ) from None
            started = time.perf_counter()
            switcher = self._switcher(narrator, client, state.config, state.region)
            switcher.switch(chosen, state.serving(), migrate=False)
            state.current = chosen.id
            store.save(state)
        seconds = time.perf_counter() - started
        results.record("serverless", "rollback_seconds", seconds, "s", "shipways rollback")
        narrator.say("rollback", f"version {chosen.version} ({chosen.id}) serves again")
        return chosen.id

    def down(self, console: Console) -> bool:
        """Remove instances, gateway, database (with its data), network and state."""
        narrator = _narrator(console)
        client = ensure_engine(progress=narrator.note)
        found = client.containers.list(
            all=True, filters={"label": f"{LABEL}.instance={self.instance}"}
        )
        for container in found:
            narrator.say("down", f"removing {container.name}")
            container.remove(force=True, v=True)
        removed = bool(found)
        if remove_postgres(client, self.instance):
            narrator.say("down", "removing the PostgreSQL stand-in and its data")
            removed = True
        removed = remove_network(client, self.network) or removed
        with self._store.locked() as state:
            for release in state.releases:
                _remove_image(client, release.image)
        with contextlib.suppress(FileNotFoundError):
            for path in sorted(self.state_file.parent.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
        return removed

    def endpoint(self) -> Endpoint | None:
        try:
            client = ensure_engine()
        except SandboxError:
            return None
        state = self._store.load()
        serving = state.serving()
        gateway = _running(client, service.gateway_name(self.instance))
        if serving is None or gateway is None or state.config is None:
            return None
        switcher = self._switcher(None, client, state.config, state.region, start=False)
        return self._endpoint_of(switcher, serving)

    def checks(self, endpoint: Endpoint) -> Checks:
        instances = endpoint.extra.get("instances")
        if not isinstance(instances, list) or not instances:
            raise NotSupported("serverless is not running; start it with `shipways up`")
        return Checks(
            modules=[CHECKS_DIR / "test_lambda_environment.py"],
            # The instance that ran the release steps: its runtime has initialised.
            pytest_args=[f"--hosts=docker://{instances[0]}"],
            env={
                "SHIPWAYS_LAMBDA_MEMORY_MB": str(endpoint.extra.get("memory_mb", "")),
                "SHIPWAYS_LAMBDA_FUNCTION": str(endpoint.extra.get("function", "")),
            },
        )

    def status(self, console: Console) -> dict[str, Any]:
        state = self._store.load()
        endpoint = self.endpoint()
        return {
            "instance": self.instance,
            "url": endpoint.url if endpoint else None,
            "current_release": state.current,
            "releases": [
                {
                    "id": r.id,
                    "version": r.version,
                    "zip_mib": round(r.zip_bytes / 2**20, 2),
                    "built_for": r.built_for,
                }
                for r in state.releases
            ],
            **({"function": endpoint.extra} if endpoint else {}),
        }

    def logs(self, console: Console, *, follow: bool, lines: int) -> None:
        """The serving version's instances' logs (START/END/REPORT), then the gateway's."""
        endpoint = self.endpoint()
        if endpoint is None:
            raise NotSupported(f"{self.instance} is not running; start it with `shipways up`")
        client = ensure_engine()
        names = [*endpoint.extra["instances"], service.gateway_name(self.instance)]
        if follow:
            first = client.containers.get(names[0])
            for chunk in first.logs(tail=lines, stream=True, follow=True):
                console.print(bytes(chunk).decode(errors="replace").rstrip(), markup=False)
            return
        for name in names:
            console.out(f"==> {name} <==")
            text = bytes(client.containers.get(name).logs(tail=lines)).decode(errors="replace")
            console.print(text.rstrip(), markup=False, highlight=False)

    # -- steps -----------------------------------------------------------------------------

    def _build(self, narrator: Narrator, config: ServerlessConfig, target: ZipTarget) -> LambdaZip:
        stack_target = ZipTarget.for_lambda(config.runtime, config.architecture)
        with narrator.step("zip", f"building the Lambda zip for {target.label}") as step:
            try:
                cache = state_dir("serverless", "build")
                cached = set(cache.glob("*.zip"))
                handler = config.app.lambda_handler
                package = cached_zip(cache, target, step.note, handler)
                self.last_build_s = None if package.path in cached else step.elapsed
                if self.app_changes:
                    changed = state_dir("serverless", self.instance, "zips")
                    package = zip_with_changes(package, self.app_changes, changed)
            except ArtifactError as exc:
                raise SandboxError(str(exc)) from exc
            step.result(
                f"{package.zipped_bytes / 2**20:.1f} MiB zipped, "
                f"{package.unzipped_bytes / 2**20:.1f} MiB unzipped, {package.files} files; "
                f"largest: {package.largest(3)}"
            )
        if stack_target != target:
            narrator.note(
                f"built for {target.label}; the stack builds the same packages for "
                f"{stack_target.label} (same builder, other Python/CPU inputs)"
            )
        return package

    def build_artifact(
        self, work: Path, progress: Progress, *, stack: LoadedStack, changes: Mapping[str, bytes]
    ) -> BuiltArtifact:
        """The zip `up` would run, for the same local Python and CPU, built by the stack's zip
        builder from a copy of the app with `changes` (not `zip_with_changes`, which patches
        a built zip and so builds nothing)."""
        app = narrow(stack.config, ServerlessConfig).app
        changed = {**(self.app_changes or {}), **changes}
        source = app_with_changes(changed, work / "app", app.directory)
        target = local_target(ensure_engine(progress=progress))
        try:
            handler = app.lambda_handler
            package = build_zip(work / "lambda.zip", target, progress, handler, app_dir=source)
        except ArtifactError as exc:
            raise SandboxError(str(exc)) from exc
        return BuiltArtifact(f"serverless zip ({target.label})", "zip", str(package.path))

    def _release_image(
        self,
        narrator: Narrator,
        client: docker.DockerClient,
        package: LambdaZip,
        config: ServerlessConfig,
    ) -> Release:
        environment = spec.app_environment(config, has_database=True, git_sha=spec.git_sha())
        with narrator.step("release", "zip unpacked into /var/task") as step:
            runtime = ensure_runtime_image(client, package.target, progress=step.note)
            image = ensure_task_image(client, runtime, package, progress=step.note)
            release = Release(
                id=release_id(package.sha256, environment),
                image=image,
                environment=environment,
                zip_sha256=package.sha256,
                zip_bytes=package.zipped_bytes,
                unzipped_bytes=package.unzipped_bytes,
                built_for=package.target.label,
            )
            step.result(f"{release.id} ({image})")
        return release

    def _switcher(
        self,
        narrator: Narrator | None,
        client: docker.DockerClient,
        config: ServerlessConfig,
        region: str,
        *,
        start: bool = True,
    ) -> Switcher:
        """The network, database and gateway of this instance (started unless `start` is
        False), and what switches releases behind the gateway."""
        progress = narrator.note if narrator else None
        concurrency = min(config.reserved_concurrency or DEFAULT_CONCURRENCY, LOCAL_MAX_CONCURRENCY)
        if narrator is not None and (config.reserved_concurrency or 0) > LOCAL_MAX_CONCURRENCY:
            narrator.note(
                f"reservedConcurrency {config.reserved_concurrency}: at most "
                f"{LOCAL_MAX_CONCURRENCY} instances per version here"
            )
        environment = lambda_environment(config, region)
        labels = {f"{LABEL}.instance": self.instance}
        secret = self.secrets_dir / "database-url"
        routes = state_dir("serverless", self.instance, "routes")
        runtime_image = ensure_runtime_image(client, local_target(client), progress)
        if start:
            assert narrator is not None
            with narrator.step("database", "private network + PostgreSQL stand-in") as step:
                ensure_private_network(client, self.network, labels=labels)
                database = ensure_postgres(
                    client,
                    self.instance,
                    network=self.network,
                    database=DATABASE,
                    labels=labels,
                    progress=step.note,
                )
                service.write_secret_file(secret, database.url)
                step.result(f"{database.container}, database {database.name} (URL as a file)")
            with narrator.step("gateway", "the API Gateway stage") as step:
                if remove_container(client, self.instance):  # the earlier one-container layout
                    step.note(f"removed {self.instance}: one instance, its own address")
                gateway = service.ensure_gateway(
                    client,
                    self.instance,
                    image=runtime_image,
                    network=self.network,
                    routes_dir=routes,
                    environment={
                        k: environment[k] for k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION")
                    },
                    timeout_s=config.timeout_s,
                    labels={**labels, f"{LABEL}.role": "gateway"},
                    progress=step.note,
                )
                step.result(f"{gateway.url} (stays until `shipways down serverless`)")
        else:
            gateway = service.find_gateway(client, self.instance, routes)
        return Switcher(
            client=client,
            gateway=gateway,
            instance=self.instance,
            network=self.network,
            function=spec.function_name(config),
            config=config,
            environment=environment,
            secret_files={"DATABASE_URL_FILE": secret, "WRITE_TOKEN_FILE": self._token_file()},
            concurrency=concurrency,
            labels=labels,
            narrator=narrator,
            minute_s=self.shift_minute_s,
        )

    def _endpoint_of(self, switcher: Switcher, release: Release) -> Endpoint:
        config = switcher.config
        return Endpoint(
            target=TargetName.SERVERLESS,
            url=switcher.gateway.url,
            extra={
                "invoke_url": switcher.gateway.invoke_url,
                # The gateway: the app answers on loopback in its network namespace.
                "container": switcher.gateway.container.name,
                "instances": switcher.instance_names(release.version),
                "function": spec.function_name(config),
                "version": release.version,
                "release": release.id,
                "zip_sha256": release.zip_sha256,
                "built_for": release.built_for,
                "memory_mb": config.memory_mb,
                "timeout_s": config.timeout_s,
                "concurrency": switcher.concurrency,
            },
        )

    def _prune(self, client: docker.DockerClient, state: State) -> None:
        """Keep the newest releases; remove the instances and images only dropped ones used."""
        for old in state.prune(self.keep_releases):
            version = [f"{LABEL}.instance={self.instance}", f"{LABEL}.version={old.version}"]
            for container in client.containers.list(all=True, filters={"label": version}):
                container.remove(force=True)
            if old.image not in {r.image for r in state.releases}:
                _remove_image(client, old.image)


def local_target(client: docker.DockerClient) -> ZipTarget:
    """The zip inputs the local container can run: its Python, the engine's CPU."""
    machine = str(client.info().get("Architecture") or platform.machine())
    architecture: Architecture = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
    return ZipTarget(LOCAL_SYSTEM, architecture)


def lambda_environment(config: ServerlessConfig, region: str) -> dict[str, str]:
    """The variables Lambda sets for every function.

    AWS_LAMBDA_LOG_STREAM_NAME is per instance: the harness sets it when it starts a runtime;
    AWS_LAMBDA_FUNCTION_VERSION and the app's own variables are the version's, set by
    `Switcher` from the release. The database URL is not here: it is a file
    (`service.write_secret_file`).
    """
    python = LOCAL_SYSTEM.python_version
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name(config),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name(config),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": service.RUNTIME_API,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "_HANDLER": config.app.lambda_handler,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "PYTHONPATH": "/var/runtime",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }


def _running(client: docker.DockerClient, name: str) -> Container | None:
    try:
        container = client.containers.get(name)
    except NotFound:
        return None
    return container if container.status == "running" else None


def _remove_image(client: docker.DockerClient, image: str) -> None:
    with contextlib.suppress(ImageNotFound, APIError):  # gone, or used by another instance
        client.images.remove(image)


def _narrator(console: Console) -> Narrator:
    return Narrator(console, "serverless")
