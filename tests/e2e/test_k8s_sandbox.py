"""The k8s pods on Docker: contract + testinfra, the rendered spec enforced, releases, CLI.

One sandbox per module (its own container names, network and front door port), removed
at the end. Tests run in file order: the release/rollback tests come last. Traffic during
releases is tested in test_k8s_zero_downtime.py.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from infra import cli
from infra.config import STACKS_DIR, memory_bytes, read_stack
from infra.paths import APP_DIR
from infra.targets import Endpoint
from infra.targets.k8s import manifests
from infra.targets.k8s import sandbox as k8s_sandbox
from infra.targets.k8s.image import AppImage, ensure_app_image, layers, new_layers
from infra.targets.k8s.sandbox import K8sSandbox
from infra.verify import run_checks

pytestmark = pytest.mark.e2e

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed k8s stack file, plus a variant with a different setting (a new release)."""
    directory = tmp_path_factory.mktemp("stacks")
    committed = yaml.safe_load((STACKS_DIR / "Pulumi.k8s.yaml").read_text())
    (directory / "Pulumi.k8s.yaml").write_text(yaml.safe_dump(committed))
    committed["config"]["shipways:webConcurrency"] = 1
    (directory / "Pulumi.k8s-next.yaml").write_text(yaml.safe_dump(committed))
    return directory


@pytest.fixture(scope="module")
def box(stacks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[K8sSandbox]:
    results = tmp_path_factory.mktemp("results") / "results.json"
    previous = os.environ.get("SHIPWAYS_RESULTS")
    os.environ["SHIPWAYS_RESULTS"] = str(results)
    sandbox = K8sSandbox(f"shipways-test-k8s-{uuid.uuid4().hex[:6]}")
    try:
        yield sandbox
    finally:
        sandbox.down(QUIET)
        if previous is None:
            os.environ.pop("SHIPWAYS_RESULTS", None)
        else:
            os.environ["SHIPWAYS_RESULTS"] = previous


@pytest.fixture(scope="module")
def endpoint(box: K8sSandbox, stacks: Path) -> Endpoint:
    return box.up(QUIET, stack=read_stack("k8s", stacks))


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env()


def test_contract_and_pod_checks_pass(box: K8sSandbox, endpoint: Endpoint) -> None:
    checks = box.checks(endpoint)
    assert checks.instances == 2  # the replicas behind the front door
    report = run_checks(
        endpoint.url,
        expect_target="k8s",
        instances=checks.instances,
        extra_modules=checks.modules,
        extra_args=checks.pytest_args,
        env=checks.env,
        write_token=box.token(),
    )
    failed = [f"{r.nodeid}: {r.message}" for r in report.results if r.outcome != "passed"]
    assert report.ok, failed
    auth = [r for r in report.results if "token" in r.nodeid.lower()]
    assert auth and all(r.outcome == "passed" for r in auth), auth
    pod_checks = [r for r in report.results if "test_pod.py" in r.nodeid]
    assert len(pod_checks) == 6 and all(r.outcome == "passed" for r in pod_checks)
    assert report.passed > 40


def test_every_pod_reads_the_token_from_its_secret_file_and_nowhere_else(
    box: K8sSandbox, endpoint: Endpoint, client: docker.DockerClient
) -> None:
    """The token is in no pod's environment, image or log: each replica has the Secret's
    file, read-only, and a write with it goes through the front door."""
    token = box.token()
    assert token and len(token) >= 43
    pods = [client.containers.get(str(name)) for name in endpoint.extra["pods"]]
    assert len(pods) >= 2
    for pod in pods:
        env = pod.attrs["Config"]["Env"]
        assert f"WRITE_TOKEN_FILE={manifests.WRITE_TOKEN_FILE}" in env
        assert not any(token in item for item in env), f"{pod.name}: token in its env"
        mounted = [m for m in pod.attrs["Mounts"] if m["Destination"] == manifests.WRITE_TOKEN_FILE]
        assert len(mounted) == 1 and mounted[0]["RW"] is False
        inside = pod.exec_run(["cat", manifests.WRITE_TOKEN_FILE])
        assert inside.exit_code == 0 and inside.output.decode().strip() == token
        assert token.encode() not in pod.logs()
        image = client.images.get(pod.image.id)
        assert token not in json.dumps(image.attrs), "token baked into the image"
    headers = {"Authorization": f"Bearer {token}"}
    for index in range(4):  # the front door spreads these over the replicas
        product = {"name": f"k8s-token-{uuid.uuid4().hex[:8]}-{index}", "price": 1}
        created = httpx.post(f"{endpoint.url}/products", json=product,
                             headers=headers, timeout=10, trust_env=False)  # fmt: skip
        assert created.status_code == 201, created.text
    for pod in pods:
        assert token.encode() not in pod.logs()


def test_url_is_loopback_and_up_is_idempotent(
    box: K8sSandbox, endpoint: Endpoint, stacks: Path
) -> None:
    assert endpoint.url.startswith("http://127.0.0.1:")
    again = box.up(QUIET, stack=read_stack("k8s", stacks))
    assert again.url == endpoint.url
    assert again.extra["container"] == endpoint.extra["container"]
    assert box.endpoint() == endpoint


def test_container_enforces_the_rendered_pod_spec(
    box: K8sSandbox, endpoint: Endpoint, client: docker.DockerClient
) -> None:
    assert len(endpoint.extra["pods"]) == 2  # the stack's replicas
    attrs = client.containers.get(endpoint.extra["pods"][0]).attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["Privileged"] is False
    assert host["Memory"] == host["MemorySwap"] == memory_bytes("256Mi")
    assert host["NanoCpus"] == 500_000_000
    assert list(host["Tmpfs"]) == ["/tmp"]
    assert not host["PortBindings"]  # only the front door publishes a port
    assert list(attrs["NetworkSettings"]["Networks"]) == [box.network]
    assert client.networks.get(box.network).attrs["Internal"] is True  # no egress
    env = attrs["Config"]["Env"]
    assert env.count("SHIPWAYS_TARGET=k8s") == 1
    assert f"DATABASE_URL_FILE={manifests.DATABASE_URL_FILE}" in env
    assert not [e for e in env if e.startswith("DATABASE_URL=") or "postgresql" in e]
    [secret] = [m for m in attrs["Mounts"] if m["Destination"] == manifests.DATABASE_URL_FILE]
    assert secret["RW"] is False
    assert oct(os.stat(secret["Source"]).st_mode & 0o777) == oct(0o440)
    image = client.images.get(attrs["Image"]).attrs["Config"]
    assert attrs["Config"]["Entrypoint"] == image["Entrypoint"]  # the image's own command
    assert attrs["Config"]["Cmd"] == image["Cmd"] and image["Cmd"][0] == "gunicorn"


def test_image_is_labelled_healthchecked_and_has_no_build_tools(
    endpoint: Endpoint, client: docker.DockerClient
) -> None:
    image = client.images.get(endpoint.extra["image"])
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001"
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert config["Cmd"][0] == "gunicorn"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.0.0"
    assert labels["org.opencontainers.image.revision"] not in ("", "unknown")
    assert "org.opencontainers.image.source" in labels
    probe = (
        "for t in gcc cc make pip pip3; do command -v $t || true; done; "
        "ls /opt/venv/bin; ls -d /build 2>/dev/null || true"
    )
    output = client.containers.run(
        image.id, entrypoint=["/bin/sh", "-c", probe], remove=True, network_disabled=True
    ).decode()
    lines = output.split()
    assert not any(line.endswith(("/gcc", "/cc", "/make", "/pip", "/pip3")) for line in lines)
    assert "gunicorn" in lines and "pip" not in lines and "/build" not in lines


def test_a_code_only_change_rebuilds_only_the_code_layer(client: docker.DockerClient) -> None:
    # Two builds made here, each with a change no earlier run made: the second must reuse
    # every layer of the first but the code, whatever images earlier runs left or pruned.
    code = "shipways_app/__init__.py"
    original = (APP_DIR / code).read_bytes()

    def build() -> AppImage:
        marker = f"\n# e2e: a code-only change {uuid.uuid4().hex}\n".encode()
        return ensure_app_image(client, overrides={code: original + marker})

    first = build()
    first_layers = layers(client, first.id)  # the next build prunes the superseded image
    second = build()
    try:
        assert first.built and second.built and first.id != second.id
        assert new_layers(first_layers, layers(client, second.id)) == 1
    finally:
        client.images.remove(second.id, force=True)


def test_cli_up_json_status_and_verify(
    box: K8sSandbox, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the registry builds the CLI's sandbox from this class: hand it the test's instance
    monkeypatch.setattr(k8s_sandbox, "K8sSandbox", lambda *_args: box)
    runner = CliRunner()
    up = runner.invoke(cli.app, ["up", "k8s", "--json"])
    assert up.exit_code == 0, up.output
    assert json.loads(up.stdout) == endpoint.as_json()
    assert set(endpoint.as_json()) >= {"target", "url"}
    status = runner.invoke(cli.app, ["status", "k8s", "--json"])
    assert json.loads(status.stdout)["serving"] == endpoint.extra["revision"]
    verify = runner.invoke(cli.app, ["verify", "k8s", "--json"])
    assert verify.exit_code == 0, verify.output
    [report] = json.loads(verify.stdout)
    assert report["instances"] == 2 and report["ok"] is True
    shared = [r for r in report["results"] if "every_read_on_every_instance" in r["nodeid"]]
    assert [r["outcome"] for r in shared] == ["passed"]  # reads reached both pods


def test_new_release_replaces_the_pods_and_rollback_restores_them(
    box: K8sSandbox, endpoint: Endpoint, stacks: Path, client: docker.DockerClient
) -> None:
    second = box.up(QUIET, stack=read_stack("k8s-next", stacks))
    assert second.url == endpoint.url
    assert set(second.extra["pods"]).isdisjoint(endpoint.extra["pods"])
    for pod in endpoint.extra["pods"]:
        assert client.containers.get(pod).status == "exited"  # kept for rollback
    assert httpx.get(f"{second.url}/healthz", timeout=5).status_code == 200
    restored = box.rollback(QUIET, release=None)
    assert restored == endpoint.extra["revision"]
    now = box.endpoint()
    assert now is not None and now.extra["pods"] == endpoint.extra["pods"]
    assert now.url == endpoint.url
    assert httpx.get(f"{now.url}/readyz", timeout=5).status_code == 200
    for pod in second.extra["pods"]:
        assert client.containers.get(pod).status == "exited"


def test_down_removes_every_container(box: K8sSandbox, client: docker.DockerClient) -> None:
    assert box.down(QUIET) is True
    label = f"{k8s_sandbox.INSTANCE_LABEL}={box.instance}"
    assert client.containers.list(all=True, filters={"label": label}) == []
    assert client.networks.list(names=[box.network]) == []
    assert client.volumes.list(filters={"name": f"{box.instance}-pgdata"}) == []
    assert box.endpoint() is None
    assert box.down(QUIET) is False
