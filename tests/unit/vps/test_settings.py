"""Settings: what the tasks accept, rejected with the key and the fix named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from shipways_fabric.settings import Settings, read_settings, settings_from

from infra.config import VpsConfig
from infra.targets.vps.settings import fabric_settings

pytestmark = pytest.mark.unit


def test_defaults_and_layout() -> None:
    settings = settings_from({})
    lay = settings.layout
    assert (lay.base, lay.current, lay.env_file) == (
        "/srv/shipways",
        "/srv/shipways/current",
        "/etc/shipways/database.env",
    )
    # What root writes lives in a root-owned folder, never under the deploy user's /srv/APP.
    for path in (lay.env_file, lay.app_env_file, lay.gunicorn_config):
        assert path.startswith(lay.config_dir + "/") and not path.startswith(lay.base)
    assert lay.app_user == "shipways-app" != settings.deploy_user
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
    assert settings.layout.app_user == "my-api-app"
    long_name = settings_from({"appName": "a" * 32}).layout.app_user
    assert len(long_name) <= 32 and long_name.endswith("-app")  # useradd's limit


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
        ({"deployUser": "shipways-app"}, "deployUser: 'shipways-app' is reserved"),
        ({"deployUser": "root"}, "deployUser: 'root' is reserved"),
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
    settings = fabric_settings(config, health_timeout_s=5)
    assert settings.deploy_public_keys == ("ssh-ed25519 AAAAkey ops@example",)
    assert settings.tls_names == ("198.51.100.7",)
    assert (settings.releases_to_keep, settings.web_concurrency) == (7, 3)
    assert settings.health_timeout_s == 5
    assert settings.certificate_names("198.51.100.7") == ("198.51.100.7",)


def test_certificate_names_without_domain_cover_the_host() -> None:
    settings = settings_from({"tlsNames": ["localhost", "127.0.0.1"]})
    assert settings.server_names == ("localhost", "127.0.0.1")
    assert settings.certificate_names("203.0.113.9") == ("localhost", "127.0.0.1", "203.0.113.9")


@pytest.mark.parametrize(
    "values",
    [
        {"app_name": "abc", "web_concurrency": 1, "releases_to_keep": 2},
        {"app_name": "a" + "b" * 30 + "c", "web_concurrency": 32, "releases_to_keep": 50},
    ],
)
def test_every_stack_config_maps_onto_valid_fabric_settings(values: dict[str, object]) -> None:
    """The Fabric package restates the bounds it accepts; the stack's bounds fit inside."""
    config = VpsConfig(host="198.51.100.7", **values)  # type: ignore[arg-type]
    settings = fabric_settings(config)
    assert settings.model_dump(include=set(values)) == values


def test_a_settings_file_reads_like_the_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("appName: my-api\nwebConcurrency: 3\nenv:\n  GREETING: hi\n")
    settings = read_settings(path)
    assert (settings.app_name, settings.web_concurrency, settings.env) == (
        "my-api",
        3,
        {"GREETING": "hi"},
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- appName\n", "expected a mapping of settings"),
        ("releasesToKeep: 1\n", "releasesToKeep: Input should be greater than or equal to 2"),
        ("appName: [\n", "cannot read settings"),
    ],
)
def test_a_bad_settings_file_is_named_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        read_settings(path)
