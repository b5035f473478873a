"""What the tasks need to know about one app on one server, and where everything lives there.

`Settings` is plain, JSON-able data (the Pulumi component stores it in its state and hands it
to a provider process), validated here because anyone may call the tasks: `fab` with a
settings file, the shipways toolkit (which maps its stack config onto these settings), or
another program. How to reach the server (host, user, key, pinned host keys) is not in here:
that is the `fabric.Connection` the caller passes, so the same settings serve every host.

`Layout` derives every path and unit name from the app name in one place, so templates,
tasks and testinfra checks cannot disagree about them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

# The app name becomes a user-visible path (/srv/NAME), systemd unit, sudoers file, nginx
# zone and PostgreSQL role: lower-case letters, digits and inner dashes only.
AppName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
WebConcurrency = Annotated[int, Field(ge=1, le=32)]
# The live release and at least one to roll back to.
ReleasesToKeep = Annotated[int, Field(ge=2, le=50)]
UserName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,30}$")]
# A host name or IP address that may appear in nginx's server_name and a certificate.
_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})*$")
_SIZE = re.compile(r"^[1-9][0-9]{0,4}[km]?$")
# Values both systemd's EnvironmentFile and a POSIX shell read the same way.
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@,+=%-]*$")


class Settings(BaseModel):
    """One app's settings on a VPS. Keys accept the stack file's camelCase spelling too."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    app_name: AppName = "shipways"
    environment: str = "demo"
    web_concurrency: WebConcurrency = 2
    releases_to_keep: ReleasesToKeep = 5
    domain: str | None = None
    letsencrypt_email: str | None = None
    deploy_user: UserName = "deploy"
    # Keys allowed to log in as the deploy user; empty: the key the connection logs in with.
    deploy_public_keys: tuple[str, ...] = ()
    # Names the self-signed certificate is valid for when there is no domain (host, IPs).
    tls_names: tuple[str, ...] = ()
    client_max_body_size: str = "1m"
    rate_limit_per_second: Annotated[int, Field(ge=1, le=100_000)] = 50
    rate_limit_burst: Annotated[int, Field(ge=0, le=100_000)] = 100
    # Clients never rate limited (the server itself, monitoring); CIDR blocks.
    rate_limit_exempt: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    health_path: str = "/readyz"
    # A JSON endpoint reporting `git_sha`; deploy waits until it names the new release.
    version_path: str | None = "/version"
    health_timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    # Extra, non-secret environment for the app (secrets belong in /etc/<app>/ on the server).
    env: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")], str] = Field(
        default_factory=dict
    )
    # Directory holding the nginx site template (site.conf.j2); default: the repository's
    # nginx/ next to ansible-free-scripts/. The other host templates ship in this package.
    nginx_templates: Path | None = None

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str | None) -> str | None:
        if value is not None and (not _NAME.match(value) or value.startswith("*")):
            raise ValueError(f"{value!r} is not a host name like api.example.com")
        return value

    @field_validator("tls_names")
    @classmethod
    def _check_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is neither a host name nor an IP address")
        return value

    @field_validator("rate_limit_exempt")
    @classmethod
    def _check_exempt(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(str(ipaddress.ip_network(v, strict=False)) for v in value)
        except ValueError as exc:
            raise ValueError(f"not a CIDR block: {exc}") from None

    @field_validator("client_max_body_size")
    @classmethod
    def _check_size(cls, value: str) -> str:
        if not _SIZE.match(value):
            raise ValueError(f"{value!r} is not an nginx size like 512k or 1m")
        return value

    @field_validator("health_path", "version_path")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"/[A-Za-z0-9/_.-]*", value):
            raise ValueError(f"{value!r} is not a URL path like /readyz")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _PLAIN_VALUE.match(item):
                raise ValueError(
                    f"{key}: {item!r} has characters systemd and the shell would read "
                    "differently (spaces, quotes, $); use letters, digits and _./:@,+=%-"
                )
        return value

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        if self.domain and not self.letsencrypt_email:
            raise ValueError("letsencryptEmail: required when `domain` is set (certbot needs it)")
        if self.deploy_user in {self.layout.app_user, "root"}:
            raise ValueError(
                f"deployUser: {self.deploy_user!r} is reserved (the app runs as "
                f"{self.layout.app_user}, apart from the login that deploys); pick another name"
            )
        return self

    @property
    def layout(self) -> Layout:
        return Layout(self.app_name, self.deploy_user)

    @property
    def server_names(self) -> tuple[str, ...]:
        """What nginx answers to and the certificate covers."""
        if self.domain:
            return (self.domain,)
        return self.tls_names or ("localhost",)

    def certificate_names(self, host: str) -> tuple[str, ...]:
        """Subject names of the self-signed certificate: the configured names plus `host`."""
        names = list(self.server_names if not self.domain else ())
        if host not in names:
            names.append(host)
        return tuple(names)


def settings_from(data: dict[str, Any] | Settings) -> Settings:
    """Settings from plain data (camelCase or snake_case keys)."""
    if isinstance(data, Settings):
        return data
    return Settings.model_validate(data)


def read_settings(path: Path) -> Settings:
    """Settings from a YAML (or JSON) file holding one mapping of the keys above.

    Raises ValueError naming the file, the key and what is wrong with it.
    """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read settings ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, like `appName: my-api`")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ValueError(f"{path}: {problems}") from None


CREDSTORE = "/etc/credstore"  # systemd's conventional home of service credentials


@dataclass(frozen=True)
class Layout:
    """Every path and unit name on the server, derived from the app name."""

    app: str
    deploy_user: str

    @property
    def base(self) -> str:
        return f"/srv/{self.app}"

    @property
    def releases(self) -> str:
        return f"{self.base}/releases"

    @property
    def shared(self) -> str:
        return f"{self.base}/shared"

    @property
    def current(self) -> str:
        return f"{self.base}/current"

    @property
    def candidate(self) -> str:
        return f"{self.base}/candidate"

    @property
    def app_user(self) -> str:
        """The account the app runs as: no login, no home, no sudo, apart from the deploy user.

        Its group (same name) may read the app's configuration; the deploy user is a member so
        its release command (migrations) gets the same environment. useradd caps names at 32.
        """
        return f"{self.app[:28]}-app"

    @property
    def config_dir(self) -> str:
        """Root-owned home of the files provision manages for the app (never under /srv:
        root never writes inside a folder the deploy user owns)."""
        return f"/etc/{self.app}"

    @property
    def env_file(self) -> str:
        return f"{self.config_dir}/database.env"

    @property
    def write_token_file(self) -> str:
        """Root's alone (0600 in a 0700 folder): systemd hands it to the service as the
        `write-token` credential (LoadCredential=), the app never reads it here."""
        return f"{CREDSTORE}/{self.app}.write-token"

    @property
    def app_env_file(self) -> str:
        return f"{self.config_dir}/app.env"

    @property
    def gunicorn_config(self) -> str:
        return f"{self.config_dir}/gunicorn.conf.py"

    @property
    def wheel_cache(self) -> str:
        return f"{self.shared}/wheelcache"

    @property
    def lock_file(self) -> str:
        return f"{self.shared}/deploy.lock"

    @property
    def service(self) -> str:
        return f"{self.app}.service"

    @property
    def socket_unit(self) -> str:
        return f"{self.app}.socket"

    @property
    def candidate_service(self) -> str:
        return f"{self.app}-candidate.service"

    @property
    def socket_path(self) -> str:
        return f"/run/{self.app}/gunicorn.sock"

    @property
    def running_release_file(self) -> str:
        """The release the live gunicorn master started from (the unit writes it at start)."""
        return f"/run/{self.app}/running-release"

    @property
    def candidate_socket(self) -> str:
        return f"/run/{self.app}-candidate/gunicorn.sock"

    @property
    def ctl(self) -> str:
        return f"/usr/local/sbin/{self.app}-ctl"

    @property
    def journal(self) -> str:
        return f"/usr/local/sbin/{self.app}-journal"

    @property
    def audit(self) -> str:
        return f"/usr/local/sbin/{self.app}-audit"

    @property
    def db_sync(self) -> str:
        return f"/usr/local/sbin/{self.app}-db-sync"

    @property
    def log_dir(self) -> str:
        return f"/var/log/{self.app}"

    @property
    def audit_log(self) -> str:
        return f"{self.log_dir}/deploys.log"

    @property
    def tls_dir(self) -> str:
        return f"/etc/ssl/{self.app}"

    @property
    def self_signed_cert(self) -> str:
        return f"{self.tls_dir}/selfsigned.crt"

    @property
    def self_signed_key(self) -> str:
        return f"{self.tls_dir}/selfsigned.key"

    @property
    def acme_root(self) -> str:
        return "/var/www/letsencrypt"

    @property
    def nginx_site(self) -> str:
        return f"/etc/nginx/sites-available/{self.app}.conf"

    @property
    def nginx_enabled(self) -> str:
        return f"/etc/nginx/sites-enabled/{self.app}.conf"

    @property
    def var(self) -> str:
        """The app name as it may appear in nginx variable and zone names."""
        return self.app.replace("-", "_")
