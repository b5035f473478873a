"""The sandbox foundation for real: engine, registry-free images, a systemd "VPS in a box".

One systemd container per module (2-core machine); names start with `shipways-test-` so a
running demo is never touched. Images are reused across runs by their recipe hash, so only
the first run on a machine pays for debootstrap.
"""

from __future__ import annotations

import io
import socket
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import paramiko
import pytest
from docker.models.containers import Container

from infra.sandbox import (
    SandboxError,
    build_image,
    ensure_base_image,
    ensure_container,
    ensure_engine,
    ensure_systemd_image,
    exec_checked,
    free_port,
    published_port,
    remove_container,
    systemd_run_kwargs,
    wait_for_http,
    wait_for_systemd,
)
from infra.sandbox.containers import SPEC_LABEL

# A brand-new machine builds both images first (about 1-3 minutes on 2 busy cores).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

VPS_NAME = "shipways-test-sandbox-vps"
HTTP_NAME = "shipways-test-sandbox-http"
PY_PROBE = "import ssl, sys, venv; print(sys.version_info[:2], ssl.OPENSSL_VERSION)"
LABELS = {"shipways.target": "test", "shipways.sandbox": "test-sandbox"}


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return ensure_engine()


@pytest.fixture(scope="module")
def base_image(client: docker.DockerClient) -> str:
    return ensure_base_image(client)


@pytest.fixture(scope="module")
def vps(client: docker.DockerClient) -> Iterator[Container]:
    image = ensure_systemd_image(client)
    container = ensure_container(
        client,
        VPS_NAME,
        image=image,
        labels=LABELS,
        recreate=True,  # a leftover from a crashed run must not leak its state in
        ports={"22/tcp": ("127.0.0.1", free_port())},
        **systemd_run_kwargs(client),
    )
    wait_for_systemd(container, timeout=90)
    yield container
    remove_container(client, VPS_NAME)


def test_engine_answers(client: docker.DockerClient) -> None:
    assert client.ping() is True
    assert ensure_engine().ping() is True  # a second call reuses the running engine


def test_base_image_runs_python_and_is_reused(client: docker.DockerClient, base_image: str) -> None:
    assert base_image.startswith("shipways/debian12:base-")
    started = time.monotonic()
    assert ensure_base_image(client) == base_image
    assert time.monotonic() - started < 5, "an unchanged recipe must reuse the stored image"
    out = client.containers.run(
        base_image,
        ["python3", "-c", PY_PROBE],
        remove=True,
    ).decode()
    assert out.startswith("(3, 11) OpenSSL 3")
    image = client.images.get(base_image)
    assert image.labels["shipways.image"] == "base"
    assert "shipways.managed" not in image.labels  # would mark every container as ours
    assert "LANG=C.UTF-8" in image.attrs["Config"]["Env"]


def test_base_image_keeps_apt_lists_and_host_identity_out(
    client: docker.DockerClient, base_image: str
) -> None:
    out = client.containers.run(
        base_image,
        [
            "sh",
            "-c",
            "ls /var/lib/apt/lists | wc -l; ls /var/cache/apt/archives/*.deb 2>/dev/null | wc -l;"
            " wc -c < /etc/machine-id",
        ],
        remove=True,
    ).decode()
    assert out.split() == ["0", "0", "0"]


def test_systemd_is_pid1_with_sshd_active(vps: Container) -> None:
    assert exec_checked(vps, ["ps", "-p", "1", "-o", "comm="]).strip() == "systemd"
    assert exec_checked(vps, ["systemctl", "is-system-running"]).strip() == "running"
    assert exec_checked(vps, ["systemctl", "is-active", "ssh.service"]).strip() == "active"
    assert vps.attrs["HostConfig"]["Privileged"] is False


def test_vps_box_has_no_passwords_and_ships_sudo(vps: Container) -> None:
    assert exec_checked(vps, ["passwd", "--status", "root"]).split()[1] == "L"
    assert exec_checked(vps, ["sshd", "-T"]).count("passwordauthentication no") == 1
    exec_checked(vps, ["sudo", "--version"])


def test_ports_are_published_on_loopback_only(vps: Container) -> None:
    vps.reload()
    bindings = vps.attrs["NetworkSettings"]["Ports"]["22/tcp"]
    assert bindings and {b["HostIp"] for b in bindings} == {"127.0.0.1"}
    port = published_port(vps, 22)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert sock.recv(64).startswith(b"SSH-2.0-OpenSSH")


def test_host_keys_are_generated_per_container(vps: Container, client: docker.DockerClient) -> None:
    image = client.images.get(vps.image.id)
    probe = client.containers.run(
        image.id, ["sh", "-c", "ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l"], remove=True
    )
    assert probe.decode().strip() == "0", "the image must not ship SSH host keys"
    assert "ssh_host_ed25519_key" in exec_checked(vps, ["ls", "/etc/ssh"])


def test_ssh_accepts_keys_and_refuses_passwords(vps: Container) -> None:
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(_fresh_ed25519_private_key(vps)))
    port = published_port(vps, 22)
    with paramiko.SSHClient() as ssh:
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        ssh.connect(
            "127.0.0.1",
            port=port,
            username="root",
            pkey=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
        _, stdout, _ = ssh.exec_command("id -u && python3 -c 'print(6*7)'", timeout=10)
        assert stdout.read().decode().split() == ["0", "42"]
    with paramiko.SSHClient() as ssh:
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        with pytest.raises(paramiko.AuthenticationException):
            ssh.connect(
                "127.0.0.1",
                port=port,
                username="root",
                password="root",
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
            )


def test_exec_checked_runs_as_user_and_reports_failures(vps: Container) -> None:
    assert exec_checked(vps, ["id", "-un"], user="nobody").strip() == "nobody"
    with pytest.raises(SandboxError, match=r"exited with 3:\n.*boom"):
        exec_checked(vps, ["sh", "-c", "echo boom; exit 3"])


def test_stopped_vps_boots_again_when_reused(vps: Container, client: docker.DockerClient) -> None:
    """The CI case: the engine restarted and left the box stopped; `ensure` brings it back."""
    keys_before = exec_checked(vps, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
    vps.stop(timeout=20)
    again = ensure_container(
        client,
        VPS_NAME,
        image=vps.image.tags[0],
        labels=LABELS,
        ports={"22/tcp": ("127.0.0.1", published_port_from_config(vps))},
        **systemd_run_kwargs(client),
    )
    assert again.id == vps.id
    assert wait_for_systemd(again, timeout=90) == "running"
    assert exec_checked(again, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]) == keys_before


def published_port_from_config(container: Container) -> int:
    """Host port requested at creation (readable while the container is stopped)."""
    container.reload()
    return int(container.attrs["HostConfig"]["PortBindings"]["22/tcp"][0]["HostPort"])


def _fresh_ed25519_private_key(vps: Container) -> str:
    """Generate a key pair inside the box and authorise it for root; return the private key."""
    exec_checked(
        vps,
        'sh -c \'rm -f /tmp/k /tmp/k.pub && ssh-keygen -q -t ed25519 -N "" -f /tmp/k'
        " && install -d -m 700 /root/.ssh && install -m 600 /tmp/k.pub /root/.ssh/authorized_keys'",
    )
    private = exec_checked(vps, ["cat", "/tmp/k"])
    exec_checked(vps, ["rm", "-f", "/tmp/k", "/tmp/k.pub"])
    return private


def test_ensure_container_is_idempotent(client: docker.DockerClient, base_image: str) -> None:
    port = free_port()
    spec = {
        "image": base_image,
        "labels": LABELS,
        "command": ["python3", "-m", "http.server", "8000"],
        "ports": {"8000/tcp": ("127.0.0.1", port)},
    }
    remove_container(client, HTTP_NAME)
    try:
        first = ensure_container(client, HTTP_NAME, **spec)  # type: ignore[arg-type]
        assert first.labels["shipways.managed"] == "true"
        assert first.labels["shipways.sandbox"] == "test-sandbox"
        response = wait_for_http(f"http://127.0.0.1:{port}/", timeout=30)
        assert "Directory listing" in response.text

        assert ensure_container(client, HTTP_NAME, **spec).id == first.id  # type: ignore[arg-type]

        first.stop(timeout=1)
        restarted = ensure_container(client, HTTP_NAME, **spec)  # type: ignore[arg-type]
        assert restarted.id == first.id and restarted.status == "running"

        changed = ensure_container(
            client,
            HTTP_NAME,
            **{**spec, "environment": {"X": "1"}},  # type: ignore[arg-type]
        )
        assert changed.id != first.id
        assert changed.labels[SPEC_LABEL] != first.labels[SPEC_LABEL]
    finally:
        assert remove_container(client, HTTP_NAME) is True
    assert remove_container(client, HTTP_NAME) is False


def test_failed_build_reports_the_failing_step(
    client: docker.DockerClient, base_image: str, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\nRUN echo about-to-fail && exit 3\n")
    with pytest.raises(SandboxError) as err:
        build_image(client, tmp_path, "shipways/test-sandbox:broken")
    message = str(err.value)
    assert "returned a non-zero code: 3" in message
    assert "about-to-fail" in message


def test_wait_for_systemd_explains_a_container_that_exits(
    client: docker.DockerClient, base_image: str
) -> None:
    name = "shipways-test-sandbox-exits"
    container = ensure_container(
        client, name, image=base_image, labels=LABELS, recreate=True, command=["true"]
    )
    try:
        container.wait(timeout=30)
        with pytest.raises(SandboxError, match="stopped while booting"):
            wait_for_systemd(container, timeout=5)
    finally:
        remove_container(client, name)


def test_build_image_from_a_tar_stream(client: docker.DockerClient, base_image: str) -> None:
    dockerfile = f"FROM {base_image}\nLABEL shipways.test=tar-context\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    lines: list[str] = []
    image = build_image(client, buf, "shipways/test-sandbox:tar", progress=lines.append)
    try:
        assert image.labels["shipways.test"] == "tar-context"
        assert image.labels["shipways.image"] == "shipways/test-sandbox:tar"
        assert any("Successfully built" in line for line in lines)
        buf.seek(0)
        cold: list[str] = []
        build_image(client, buf, "shipways/test-sandbox:tar", progress=cold.append, nocache=True)
        assert cold and not any("Using cache" in line for line in cold)
    finally:
        client.images.remove("shipways/test-sandbox:tar")


def test_foreign_container_with_the_same_name_is_never_touched(
    client: docker.DockerClient, base_image: str
) -> None:
    name = "shipways-test-sandbox-foreign"
    foreign = client.containers.create(base_image, ["true"], name=name)
    try:
        with pytest.raises(SandboxError, match="not created by shipways"):
            ensure_container(client, name, image=base_image, labels=LABELS, command=["true"])
        with pytest.raises(SandboxError, match="not created by shipways"):
            remove_container(client, name)
        foreign.reload()  # still there
    finally:
        foreign.remove(force=True)
