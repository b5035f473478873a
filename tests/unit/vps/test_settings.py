"""Settings: what the tasks accept, rejected with the key and the fix named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from shipways_fabric.settings import Settings, settings_for, settings_from

from infra.config import VpsConfig

pytestmark = pytest.mark.unit


def test_defaults_and_layout() -> None:
    settings = settings_from({})
    lay = settings.layout
    assert (lay.base, lay.current, lay.env_file) == (
        "/srv/shipways",
        "/srv/shipways/current",
        "/srv/shipways/shared/.env",
    )
    assert (lay.service, lay.socket_unit, lay.candidate_service) == (
        "shipways.service",
        "shipways.socket",
        "shipways-candidate.service",
    )
    assert settings.releases_to_keep == 5 and settings.deploy_user == "deploy"


def test_stack_spelling_is_accepted() -> None:
    settings = settings_from({"appName": "my-api", "webConcurrency": 4, "releasesToKeep": 3})
    assert (settings.app_name, settings.web_concurrency, settings.releases_to_keep) == (
        "my-api",
        4,
        3,
    )
    assert settings.layout.var == "my_api"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"domain": "api.example.com"}, "letsencryptEmail: required when `domain` is set"),
        ({"domain": "not a host"}, "is not a host name"),
        ({"rateLimitExempt": ["10.0.0.0/33"]}, "not a CIDR block"),
        ({"env": {"GREETING": "hello world"}}, "systemd and the shell would read"),
        ({"env": {"lower": "x"}}, "String should match pattern"),
        ({"clientMaxBodySize": "1g"}, "is not an nginx size"),
        ({"healthPath": "readyz"}, "is not a URL path"),
        ({"releasesToKeep": 1}, "greater than or equal to 2"),
        ({"hots": "typo"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_name_the_problem(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate(data)


def test_settings_for_a_stack_config() -> None:
    config = VpsConfig(
        host="198.51.100.7",
        ssh_public_key="ssh-ed25519 AAAAkey ops@example",
        releases_to_keep=7,
        web_concurrency=3,
    )
    settings = settings_for(config, health_timeout_s=5)
    assert settings.deploy_public_keys == ("ssh-ed25519 AAAAkey ops@example",)
    assert settings.tls_names == ("198.51.100.7",)
    assert (settings.releases_to_keep, settings.web_concurrency) == (7, 3)
    assert settings.health_timeout_s == 5
    assert settings.certificate_names("198.51.100.7") == ("198.51.100.7",)


def test_certificate_names_without_domain_cover_the_host() -> None:
    settings = settings_from({"tlsNames": ["localhost", "127.0.0.1"]})
    assert settings.server_names == ("localhost", "127.0.0.1")
    assert settings.certificate_names("203.0.113.9") == ("localhost", "127.0.0.1", "203.0.113.9")
