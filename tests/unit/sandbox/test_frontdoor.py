"""The front door's upstream list: what nginx is told, and read back, for a set of backends."""

from __future__ import annotations

import pytest

from infra.sandbox import frontdoor
from infra.sandbox.errors import SandboxError

pytestmark = pytest.mark.unit


def test_backends_become_an_upstream_block_in_order() -> None:
    text = frontdoor.upstream_conf(["172.18.0.4:8000", "172.18.0.5:8000"])
    assert text == (
        "upstream backends {\n    server 172.18.0.4:8000;\n    server 172.18.0.5:8000;\n}\n"
    )
    assert frontdoor.parse_upstream(text) == ["172.18.0.4:8000", "172.18.0.5:8000"]


def test_no_backend_is_a_down_placeholder_that_answers_502() -> None:
    text = frontdoor.upstream_conf([])
    assert f"server {frontdoor.PLACEHOLDER} down;" in text
    assert frontdoor.parse_upstream(text) == []


def test_the_shipped_initial_upstream_has_no_backend() -> None:
    shipped = (frontdoor.DOCKERFILES / "frontdoor" / frontdoor.UPSTREAM_FILE).read_text()
    assert frontdoor.parse_upstream(shipped) == []
    assert "upstream backends {" in shipped


@pytest.mark.parametrize(
    ("backends", "message"),
    [
        (["172.18.0.4"], "ADDRESS:PORT"),
        (["172.18.0.4:8000; include /etc/passwd"], "ADDRESS:PORT"),
        (["pod:8000", "pod:8000"], "twice"),
    ],
)
def test_bad_backends_are_refused_before_nginx_sees_them(backends: list[str], message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        frontdoor.upstream_conf(backends)
