"""Port-binding rules, cgroup detection and container spec hashing, without Docker."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from infra.sandbox.containers import (
    cgroup_version,
    ensure_container,
    free_port,
    spec_hash,
    systemd_run_kwargs,
    validate_ports,
)
from infra.sandbox.errors import SandboxError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "ports",
    [
        {"80/tcp": ("127.0.0.1", 8080)},
        {"80/tcp": ("127.0.0.1",)},
        {"80/tcp": [("127.0.0.1", 8080), ("127.0.0.1", 8081)]},
        {},
        None,
    ],
)
def test_loopback_bindings_are_accepted(ports: dict[str, object] | None) -> None:
    validate_ports(ports)


@pytest.mark.parametrize(
    "binding",
    [8080, None, ("0.0.0.0", 8080), ("", 8080), ("::", 8080), [("127.0.0.1", 1), 8080]],
)
def test_bindings_beyond_loopback_are_rejected_with_the_fix(binding: object) -> None:
    with pytest.raises(SandboxError) as err:
        validate_ports({"22/tcp": binding})
    assert "'22/tcp'" in str(err.value)
    assert "('127.0.0.1', HOST_PORT)" in str(err.value)


class _NoDocker:
    """Fails the test if ensure_container touches the engine before validating."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"Docker client used ({name}) before validation")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ports": {"80/tcp": 8080}}, "beyond loopback"),
        ({"network_mode": "host"}, "network_mode='host'"),
        ({"publish_all_ports": True}, "publish_all_ports"),
    ],
)
def test_ensure_container_rejects_exposure_before_calling_docker(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SandboxError, match=message):
        ensure_container(_NoDocker(), "x", image="img", labels={}, **kwargs)  # type: ignore[arg-type]


def test_cgroup_v2_is_detected_from_controllers_file(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cgroup_version(cgroup_root=tmp_path) == 2
    kwargs = systemd_run_kwargs(cgroup_root=tmp_path)
    assert kwargs["cgroupns"] == "host"
    assert kwargs["volumes"] == {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}}
    assert set(kwargs["tmpfs"]) == {"/run", "/run/lock"}
    assert not {"privileged", "cap_add"} & set(kwargs)


def test_cgroup_v1_with_systemd_hierarchy_is_supported(tmp_path: Path) -> None:
    for controller in ("cpu", "memory", "systemd", "unified"):
        (tmp_path / controller).mkdir()
    assert cgroup_version(cgroup_root=tmp_path) == 1
    kwargs = systemd_run_kwargs(cgroup_root=tmp_path)
    assert kwargs["volumes"]["/sys/fs/cgroup"]["mode"] == "rw"
    assert kwargs["stop_signal"] == "SIGRTMIN+3"


def test_cgroup_v1_without_systemd_hierarchy_says_how_to_fix(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    with pytest.raises(SandboxError, match="name=systemd"):
        systemd_run_kwargs(cgroup_root=tmp_path)


class _EngineInfo:
    def __init__(self, version: str) -> None:
        self.version = version

    def info(self) -> dict[str, str]:
        return {"CgroupVersion": self.version}


def test_engine_reported_cgroup_version_wins_over_local_files(tmp_path: Path) -> None:
    """Docker Desktop / remote engines: the daemon's host decides, not this filesystem."""
    (tmp_path / "cgroup.controllers").write_text("cpu\n")
    assert cgroup_version(_EngineInfo("1"), cgroup_root=tmp_path) == 1
    assert cgroup_version(_EngineInfo("2"), cgroup_root=tmp_path / "absent") == 2
    assert cgroup_version(_EngineInfo(""), cgroup_root=tmp_path) == 2
    kwargs = systemd_run_kwargs(_EngineInfo("1"), cgroup_root=tmp_path / "absent")
    assert kwargs["cgroupns"] == "host"


def test_spec_hash_changes_with_what_defines_the_container() -> None:
    ports = {"ports": {"22/tcp": ("127.0.0.1", 1)}}
    base = spec_hash("sha256:a", {"shipways.target": "vps"}, ports)
    assert base == spec_hash("sha256:a", {"shipways.target": "vps"}, ports)
    assert base != spec_hash("sha256:b", {"shipways.target": "vps"}, {"ports": {}})
    assert base != spec_hash(
        "sha256:a", {"shipways.target": "vps"}, {"ports": {"22/tcp": ("127.0.0.1", 2)}}
    )
    assert base != spec_hash(
        "sha256:a", {"shipways.target": "k8s"}, {"ports": {"22/tcp": ("127.0.0.1", 1)}}
    )


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
