"""`shipways up serverless`: the stack's Lambda zip, run under AWS's runtime client, locally.

One step per line:

1. zip      build the deployment zip with the stack's own builder (`artifact.cached_zip`).
            Only its inputs differ: the Python is the container's (Debian 12's 3.11, not
            Lambda's python3.12) and the CPU is the Docker engine's. Both are printed.
2. runtime  the runtime image: Debian base, Lambda's sandbox user, `awslambdaric` in
            /var/runtime, the harness (`runtime_api.py`); reused while unchanged.
3. release  the release image: the zip unpacked into /var/task (root-owned, read-only).
4. start    one container shaped like a Lambda execution environment: read-only root file
            system with only /tmp (512 MB tmpfs) writable, uid 993, no capabilities, memory
            limit = memoryMb (no swap), one vCPU per 1,769 MB and at least one (Lambda's
            init burst; see `cpu_share`), 1024 processes and file descriptors, Lambda's
            environment variables. Published on 127.0.0.1 only: the HTTP API side and the
            Invoke API. The Runtime API stays inside.
5. health   the first request is the cold start (init runs on demand, as on Lambda); if it
            fails, the previous release's container is put back and the error is raised.

State (releases kept for `rollback`): `infra.paths.state_dir("serverless", <instance>)`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import Ulimit
from rich.console import Console

from infra import results
from infra.config import LoadedStack, ServerlessConfig, TargetName, narrow
from infra.paths import state_dir
from infra.sandbox import releases, tokens
from infra.sandbox.containers import (
    ensure_container,
    free_port,
    published_port,
    remove_container,
)
from infra.sandbox.engine import ensure_engine
from infra.sandbox.errors import SandboxError
from infra.sandbox.health import container_stopped, wait_for_http
from infra.sandbox.narrate import Narrator
from infra.targets import Checks, Endpoint, NotSupported
from infra.targets.serverless import spec
from infra.targets.serverless.artifact import (
    HANDLER,
    LOCAL_SYSTEM,
    Architecture,
    ArtifactError,
    LambdaZip,
    ZipTarget,
    cached_zip,
)
from infra.targets.serverless.images import (
    SANDBOX_UID,
    ensure_runtime_image,
    ensure_task_image,
)

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
HTTP_PORT = "8080/tcp"  # API Gateway's side
INVOKE_PORT = "9000/tcp"  # Lambda's Invoke API
RUNTIME_API = "127.0.0.1:9001"  # inside the container only
FULL_CPU_MB = 1769  # Lambda allots one vCPU per 1,769 MB (and a full one during init)
TMP_MB = 512  # Lambda's default ephemeral storage
LIMITS = 1024  # Lambda's process/thread and file descriptor limits
HEALTH_TIMEOUT_S = 90.0
DEFAULT_REGION = "us-east-1"
LABEL = "shipways.serverless"
# Stands in for Secrets Manager (see _token_file); a path, not a secret.
TOKEN_MOUNT = "/run/secrets/write-token"  # noqa: S105


class Release(releases.Release):
    """One zip, unpacked into its own image; `id` is the zip's SHA-256, shortened."""

    image: str
    zip_sha256: str
    zip_bytes: int
    unzipped_bytes: int
    built_for: str


class State(releases.History[Release]):
    """Kept releases, the current one, and the config `up` was given (rollback redeploys with
    it, reading no stack file)."""

    config: ServerlessConfig | None = None
    region: str = DEFAULT_REGION


class ServerlessSandbox:
    """A local Lambda execution environment behind a local API Gateway, for one zip."""

    name = TargetName.SERVERLESS
    proves = (
        "the zip the stack's builder makes (here for Debian's Python 3.11 and this CPU, not "
        "the stack's runtime) initialises once and serves the contract under AWS's own "
        "runtime client, as uid 993 with a read-only /var/task, only /tmp writable and "
        "Lambda's memory cap, behind a payload-2.0 API Gateway double; only AWS proves IAM, "
        "API Gateway, the managed runtime's OS and scaling out"
    )

    def __init__(self, instance: str = "shipways-serverless", keep_releases: int = 3) -> None:
        self.instance = instance
        self.keep_releases = keep_releases

    # -- state ---------------------------------------------------------------------------

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
        """The write token for the function, readable by the sandbox user only.

        In AWS the function reads it from Secrets Manager at init (WRITE_TOKEN_SECRET_ARN);
        the runtime API harness cannot reach AWS, so here the file is bind-mounted read-only
        at TOKEN_MOUNT - outside /var/task, since the zip (an artifact) must never hold it.
        """
        self.secrets_dir.chmod(0o700)  # on this machine: the operator's alone
        path = tokens.ensure(self.secrets_dir)
        try:
            os.chown(path, SANDBOX_UID, SANDBOX_UID)  # 0600, owned by the function's user
        except PermissionError:
            # Not root: the file cannot be handed to uid 993, so it becomes readable inside
            # the container (whose only user is the function) while the 0700 directory
            # keeps it from everyone else here.
            path.chmod(0o444)
        return path

    # -- Sandbox protocol ----------------------------------------------------------------

    def up(self, console: Console, *, stack: LoadedStack) -> Endpoint:
        config = narrow(stack.config, ServerlessConfig)
        region = stack.aws_region or DEFAULT_REGION
        narrator = _narrator(console)
        client = ensure_engine(progress=narrator.note)
        target = local_target(client)
        store = self._store
        with store.locked() as state:
            package = self._build(narrator, config, target)
            with narrator.step("runtime", "Debian base + awslambdaric + harness") as step:
                runtime = ensure_runtime_image(client, target, progress=step.note)
                step.result(runtime)
            with narrator.step("release", "zip unpacked into /var/task") as step:
                image = ensure_task_image(client, runtime, package, progress=step.note)
                release = Release(
                    id=package.sha256[:12],
                    image=image,
                    zip_sha256=package.sha256,
                    zip_bytes=package.zipped_bytes,
                    unzipped_bytes=package.unzipped_bytes,
                    built_for=package.target.label,
                )
                step.result(f"{release.id} ({image})")
            previous = state.serving()
            try:
                endpoint = self._deploy(narrator, client, config, region, release)
            except SandboxError:
                if previous is not None and previous.image != release.image:
                    narrator.say("restore", f"restoring the previous release {previous.id}")
                    self._deploy(narrator, client, config, region, previous)
                raise
            state.config, state.region = config, region
            state.record(release)
            self._prune(client, state)
            store.save(state)
        results.record("serverless", "zip_mib", package.zipped_bytes / 2**20, "MiB", "shipways up")
        return endpoint

    def down(self, console: Console) -> bool:
        narrator = _narrator(console)
        client = ensure_engine(progress=narrator.note)
        removed = remove_container(client, self.instance)
        with self._store.locked() as state:
            for release in state.releases:
                _remove_image(client, release.image)
            self.state_file.unlink(missing_ok=True)
            shutil.rmtree(self.secrets_dir, ignore_errors=True)  # the next up: a new token
        if removed:
            narrator.say("down", f"removed container {self.instance}")
        return removed

    def endpoint(self) -> Endpoint | None:
        container = self._container()
        if container is None or container.status != "running":
            return None
        return _endpoint(container)

    def checks(self, endpoint: Endpoint) -> Checks:
        return Checks(
            modules=[CHECKS_DIR / "test_lambda_environment.py"],
            pytest_args=[f"--hosts=docker://{self.instance}"],
            env={
                "SHIPWAYS_LAMBDA_MEMORY_MB": str(endpoint.extra.get("memory_mb", "")),
                "SHIPWAYS_LAMBDA_FUNCTION": str(endpoint.extra.get("function", "")),
            },
        )

    def status(self, console: Console) -> dict[str, Any]:
        state = self._store.load()
        container = self._container()
        endpoint = _endpoint(container) if container and container.status == "running" else None
        return {
            "instance": self.instance,
            "container": container.status if container else "absent",
            "url": endpoint.url if endpoint else None,
            "current_release": state.current,
            "releases": [
                {"id": r.id, "zip_mib": round(r.zip_bytes / 2**20, 2), "built_for": r.built_for}
                for r in state.releases
            ],
            **({"function": endpoint.extra} if endpoint else {}),
        }

    def logs(self, console: Console, *, follow: bool, lines: int) -> None:
        container = self._container()
        if container is None:
            raise NotSupported(f"{self.instance} is not running; start it with `shipways up`")
        if not follow:
            text = bytes(container.logs(tail=lines)).decode(errors="replace")
            console.print(text.rstrip(), markup=False, highlight=False)
            return
        for chunk in container.logs(tail=lines, stream=True, follow=True):
            console.print(bytes(chunk).decode(errors="replace").rstrip(), markup=False)

    def rollback(self, console: Console, *, release: str | None) -> str:
        """Serve an earlier release again: what moving Lambda's `live` alias back does."""
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
            self._deploy(narrator, client, state.config, state.region, chosen)
            state.current = chosen.id
            store.save(state)
        narrator.say("rollback", f"serving {chosen.id} again")
        return chosen.id

    # -- steps -----------------------------------------------------------------------------

    def _build(self, narrator: Narrator, config: ServerlessConfig, target: ZipTarget) -> LambdaZip:
        stack_target = ZipTarget.for_lambda(config.runtime, config.architecture)
        with narrator.step("zip", f"building the Lambda zip for {target.label}") as step:
            try:
                package = cached_zip(state_dir("serverless", "build"), target, step.note)
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

    def _deploy(
        self,
        narrator: Narrator,
        client: docker.DockerClient,
        config: ServerlessConfig,
        region: str,
        release: Release,
    ) -> Endpoint:
        ports = self._ports()
        labels = {
            f"{LABEL}.instance": self.instance,
            f"{LABEL}.release": release.id,
            f"{LABEL}.zip-sha256": release.zip_sha256,
            f"{LABEL}.built-for": release.built_for,
            f"{LABEL}.function": spec.function_name(config),
            f"{LABEL}.memory-mb": str(config.memory_mb),
            f"{LABEL}.timeout-s": str(config.timeout_s),
        }
        with narrator.step("start", f"starting {self.instance}") as step:
            container = ensure_container(
                client,
                self.instance,
                image=release.image,
                labels=labels,
                progress=step.note,
                command=[
                    "--http",
                    f"0.0.0.0:{HTTP_PORT.split('/')[0]}",
                    "--invoke",
                    f"0.0.0.0:{INVOKE_PORT.split('/')[0]}",
                    "--timeout",
                    str(config.timeout_s),
                    "--",
                    "python3",
                    "-m",
                    "awslambdaric",
                    HANDLER,
                ],
                environment={
                    **lambda_environment(config, region, release.built_for),
                    "WRITE_TOKEN_FILE": TOKEN_MOUNT,
                },
                volumes={str(self._token_file()): {"bind": TOKEN_MOUNT, "mode": "ro"}},
                user=f"{SANDBOX_UID}:{SANDBOX_UID}",
                read_only=True,
                tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={TMP_MB}m,mode=1777"},  # noqa: S108
                mem_limit=f"{config.memory_mb}m",
                memswap_limit=f"{config.memory_mb}m",
                nano_cpus=cpu_share(config.memory_mb),
                pids_limit=LIMITS,
                ulimits=[Ulimit(name="nofile", soft=LIMITS, hard=LIMITS)],
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                init=True,
                ports={HTTP_PORT: ("127.0.0.1", ports[0]), INVOKE_PORT: ("127.0.0.1", ports[1])},
            )
            step.result(f"release {release.id} in {container.name}")
        endpoint = _endpoint(container)
        with narrator.step("health", "first request: cold start (init runs on demand)") as step:
            _wait_healthy(container, f"{endpoint.url}/healthz", release.id)
            step.result(f"first response (cold start) at {endpoint.url}")
        return endpoint

    def _ports(self) -> tuple[int, int]:
        """Keep the published ports of an existing container (a stable URL), else pick free."""
        container = self._container()
        if container is not None:
            try:
                return published_port(container, HTTP_PORT), published_port(container, INVOKE_PORT)
            except SandboxError:
                pass
        return free_port(), free_port()

    def _prune(self, client: docker.DockerClient, state: State) -> None:
        """Keep the newest releases; remove the images only dropped ones used."""
        for old in state.prune(self.keep_releases):
            if old.image not in {r.image for r in state.releases}:
                _remove_image(client, old.image)

    def _container(self) -> Container | None:
        try:
            return ensure_engine().containers.get(self.instance)
        except NotFound:
            return None


def local_target(client: docker.DockerClient) -> ZipTarget:
    """The zip inputs the local container can run: its Python, the engine's CPU."""
    machine = str(client.info().get("Architecture") or platform.machine())
    architecture: Architecture = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
    return ZipTarget(LOCAL_SYSTEM, architecture)


def cpu_share(memory_mb: int, host_cpus: int | None = None) -> int:
    """CPU for the container, in Docker's nano-CPUs: one vCPU per 1,769 MB, at least one.

    Lambda runs the init phase on a full vCPU and invocations on memory/1769 of one (more
    vCPUs above 1,769 MB). A container's quota cannot follow that switch from inside, so
    the local run keeps the init burst throughout: below 1,769 MB warm requests here get
    more CPU than on Lambda, and local warm latency is a lower bound (docs/serverless.md).
    """
    cpus = max(1.0, memory_mb / FULL_CPU_MB)
    return int(min(cpus, host_cpus or os.cpu_count() or 1) * 1e9)


def lambda_environment(config: ServerlessConfig, region: str, built_for: str) -> dict[str, str]:
    """The variables Lambda sets for every function, plus the app's own settings.

    AWS_LAMBDA_LOG_STREAM_NAME is per instance: the harness sets it when it starts a runtime.
    """
    python = LOCAL_SYSTEM.python_version
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name(config),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name(config),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": RUNTIME_API,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "_HANDLER": HANDLER,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "PYTHONPATH": "/var/runtime",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "SHIPWAYS_ZIP_BUILT_FOR": built_for,
        **spec.app_environment(has_database=False, git_sha=spec.git_sha()),
    }


def _endpoint(container: Container) -> Endpoint:
    labels = container.labels
    return Endpoint(
        target=TargetName.SERVERLESS,
        url=f"http://127.0.0.1:{published_port(container, HTTP_PORT)}",
        extra={
            "invoke_url": f"http://127.0.0.1:{published_port(container, INVOKE_PORT)}",
            "container": container.name,
            "function": labels.get(f"{LABEL}.function"),
            "release": labels.get(f"{LABEL}.release"),
            "zip_sha256": labels.get(f"{LABEL}.zip-sha256"),
            "built_for": labels.get(f"{LABEL}.built-for"),
            "memory_mb": int(labels.get(f"{LABEL}.memory-mb", "0")),
            "timeout_s": int(labels.get(f"{LABEL}.timeout-s", "0")),
        },
    )


def _wait_healthy(container: Container, url: str, release: str) -> None:
    """Poll `url` until 200, failing fast (with the logs) if the container stops."""
    try:
        wait_for_http(url, HEALTH_TIMEOUT_S, give_up=container_stopped(container))
    except SandboxError as exc:
        tail = bytes(container.logs(tail=30)).decode(errors="replace")
        raise SandboxError(
            f"release {release} did not become healthy: {exc}\n"
            f"Last lines of `docker logs {container.name}`:\n{tail}"
        ) from exc


def _remove_image(client: docker.DockerClient, image: str) -> None:
    with contextlib.suppress(ImageNotFound, APIError):  # gone, or used by another instance
        client.images.remove(image)


def _narrator(console: Console) -> Narrator:
    return Narrator(console, "serverless")
