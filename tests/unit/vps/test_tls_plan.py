"""Whether provisioning asks Let's Encrypt now, or serves the self-signed certificate until
the domain's DNS points at the server: the decision, no server and no DNS server."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from shipways_fabric.provision import TlsPlan, resolve, tls_plan

pytestmark = pytest.mark.unit

SERVER = "198.51.100.10"


def _plan(
    domain: str | None = "api.example.com",
    *,
    have_letsencrypt: bool = False,
    domain_addresses: frozenset[str] = frozenset({SERVER}),
) -> TlsPlan:
    return tls_plan(
        domain,
        have_letsencrypt=have_letsencrypt,
        domain_addresses=set(domain_addresses),
        server=SERVER,
        server_addresses={SERVER},
    )


def test_without_a_domain_the_self_signed_certificate_is_the_certificate() -> None:
    plan = _plan(None, domain_addresses=frozenset())
    assert (plan.action, plan.certificate, plan.notice) == ("self-signed", "self-signed", None)


def test_a_domain_pointing_at_the_server_gets_its_certificate() -> None:
    plan = _plan()
    assert (plan.action, plan.certificate, plan.notice) == ("obtain", "letsencrypt", None)


def test_one_matching_address_among_several_is_enough() -> None:
    assert _plan(domain_addresses=frozenset({"2001:db8::1", SERVER})).action == "obtain"


@pytest.mark.parametrize(
    "addresses",
    [frozenset(), frozenset({"203.0.113.99"})],
    ids=["no-record-yet", "still-the-old-server"],
)
def test_a_domain_not_pointing_here_waits_and_says_what_to_do(addresses: frozenset[str]) -> None:
    """A server created in this same `up`: certbot would fail, so it is not run."""
    plan = _plan(domain_addresses=addresses)
    assert (plan.action, plan.certificate) == ("wait-for-dns", "pending")
    assert plan.notice is not None
    assert f"at {SERVER}" in plan.notice and "`pulumi up` again" in plan.notice
    assert (", ".join(sorted(addresses)) or "no address") in plan.notice


def test_an_obtained_certificate_is_kept_without_asking_dns() -> None:
    plan = _plan(have_letsencrypt=True, domain_addresses=frozenset())
    assert (plan.action, plan.certificate) == ("keep-letsencrypt", "letsencrypt")


def test_resolve_returns_every_address_and_nothing_for_an_unknown_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake(name: str, *_args: Any, **_kwargs: Any) -> list[Any]:
        if name == "nowhere.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("198.51.100.10", 0)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 0, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert resolve("api.example.com") == {"198.51.100.10", "2001:db8::1"}
    assert resolve("nowhere.invalid") == set()


def test_an_ip_address_resolves_to_itself() -> None:
    assert resolve("127.0.0.1") == {"127.0.0.1"}
