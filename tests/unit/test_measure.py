"""Where the load comes from: a container's own loopback (no port proxy) when this user may
enter its network namespace, its published port otherwise, a host process's URL as it is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from infra import measure
from infra.targets import Endpoint, TargetName

pytestmark = pytest.mark.unit


class FakeContainer:
    name = "shipways-vps"
    attrs: ClassVar[dict[str, Any]] = {
        "State": {"Pid": 4242},
        "NetworkSettings": {
            "Ports": {
                "22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40022"}],
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40080"}],
                "443/tcp": None,
            }
        },
    }

    def reload(self) -> None:
        pass


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> None:
    client = SimpleNamespace(containers=SimpleNamespace(get=lambda name: FakeContainer()))
    monkeypatch.setattr(measure, "ensure_engine", lambda: client)


VPS = Endpoint(target=TargetName.VPS, url="http://127.0.0.1:40080", extra={"container": "x"})


def test_a_container_is_loaded_on_its_own_loopback(
    engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(measure, "can_enter_netns", lambda: True)
    where = measure.reach(VPS)
    assert (where.url, where.netns_pid, where.published) == ("http://127.0.0.1:80", 4242, False)
    assert "network namespace" in where.why


def test_without_root_the_published_port_is_used_and_said(
    engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(measure, "can_enter_netns", lambda: False)
    where = measure.reach(VPS)
    assert (where.url, where.netns_pid, where.published) == (VPS.url, None, True)
    assert "published port" in where.why


def test_a_host_process_is_loaded_where_it_listens() -> None:
    paas = Endpoint(target=TargetName.PAAS, url="http://127.0.0.1:40123", extra={"pid": 7})
    where = measure.reach(paas)
    assert (where.url, where.netns_pid, where.published) == (paas.url, None, False)


def test_a_port_the_container_does_not_publish_is_an_error() -> None:
    with pytest.raises(LookupError, match="publishes nothing on host port 1"):
        measure.inner_port(FakeContainer(), 1)  # type: ignore[arg-type]
