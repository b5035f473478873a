"""Every file provision puts on a server, rendered from Jinja2 templates.

The host's own files (systemd units, gunicorn settings, sshd, nftables, sudoers, helper
scripts) are templates inside this package (`shipways_fabric/templates/`), so they ship with
it. The nginx site lives in the repository's `nginx/` directory, where people look for it;
`Settings.nginx_templates` points elsewhere. Rendering is pure (settings in, text out), so
unit tests check the exact files a server gets without a server, and provision only decides
where they go and what to do when they change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from shipways_fabric.settings import Layout, Settings

MANAGED = "Managed by shipways (ansible-free-scripts `provision`); local edits are overwritten."
OPEN_PORTS = (22, 80, 443)
# ansible-free-scripts/shipways_fabric/templates.py -> the repository's nginx/
DEFAULT_NGINX_TEMPLATES = Path(__file__).resolve().parents[2] / "nginx"
NGINX_SITE = "site.conf.j2"


class TemplateError(RuntimeError):
    """The nginx templates are not where the settings say; the message says what to set."""


def nginx_templates(settings: Settings) -> Path:
    """The directory the nginx site template is read from."""
    directory = settings.nginx_templates or DEFAULT_NGINX_TEMPLATES
    if not (directory / NGINX_SITE).is_file():
        raise TemplateError(
            f"no nginx site template at {directory / NGINX_SITE}; set `nginxTemplates` in the "
            "settings to the directory holding site.conf.j2 (the repository's nginx/)"
        )
    return directory


@cache
def _environment(nginx_dir: Path) -> Environment:
    return Environment(
        loader=ChoiceLoader(
            [PackageLoader("shipways_fabric", "templates"), FileSystemLoader(nginx_dir)]
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - config files and scripts, not HTML
    )


def render(template: str, settings: Settings, **context: object) -> str:
    """Render one template with the settings, their layout and `context`."""
    environment = _environment(settings.nginx_templates or DEFAULT_NGINX_TEMPLATES)
    return environment.get_template(template).render(
        managed=MANAGED,
        app=settings.app_name,
        settings=settings,
        layout=settings.layout,
        **context,
    )


@dataclass(frozen=True)
class ManagedFile:
    """A file provision keeps in a given state on the server."""

    path: str
    content: str
    owner: str = "root"
    group: str = "root"
    mode: int = 0o644
    precheck: str | None = None  # run on the staged copy ({path}) before it replaces anything


def db_name(settings: Settings) -> str:
    """PostgreSQL role and database name: the app name, in identifier-friendly spelling."""
    return settings.layout.var


def helper_files(settings: Settings) -> list[ManagedFile]:
    """Root-owned scripts the deploy user may run through sudo, and the sudo rules themselves."""
    lay = settings.layout
    return [
        ManagedFile(lay.ctl, render("ctl.sh.j2", settings), mode=0o755),
        ManagedFile(lay.journal, render("journal.sh.j2", settings), mode=0o755),
        ManagedFile(lay.audit, render("audit.py.j2", settings), mode=0o755),
        ManagedFile(
            lay.db_sync, render("db-sync.sh.j2", settings, db_name=db_name(settings)), mode=0o700
        ),
        ManagedFile(
            f"/etc/sudoers.d/{settings.app_name}",
            render("sudoers.j2", settings),
            mode=0o440,
            precheck="visudo -cq -f {path}",
        ),
    ]


def app_env(settings: Settings) -> str:
    """Non-secret app environment (the database password lives in database.env instead)."""
    values = {"SHIPWAYS_TARGET": "vps", **settings.env}
    lines = [f"# {MANAGED}"] + [f"{k}={v}" for k, v in sorted(values.items())]
    return "\n".join(lines) + "\n"


def app_files(settings: Settings, writable_paths: tuple[str, ...] = ()) -> list[ManagedFile]:
    """gunicorn's settings and the systemd units of the live and the candidate service."""
    lay: Layout = settings.layout
    service = {"writable_paths": writable_paths}
    return [
        ManagedFile(lay.app_env_file, app_env(settings), group=lay.app_user, mode=0o640),
        ManagedFile(
            lay.gunicorn_config,
            render("gunicorn.conf.py.j2", settings, workers=settings.web_concurrency),
            group=lay.app_user,
            mode=0o640,
        ),
        ManagedFile(
            f"/etc/systemd/system/{lay.socket_unit}", render("gunicorn.socket.j2", settings)
        ),
        ManagedFile(
            f"/etc/systemd/system/{lay.service}",
            render(
                "gunicorn.service.j2",
                settings,
                candidate=False,
                release_dir=lay.current,
                workers=settings.web_concurrency,
                **service,
            ),
        ),
        ManagedFile(
            f"/etc/systemd/system/{lay.candidate_service}",
            render(
                "gunicorn.service.j2",
                settings,
                candidate=True,
                release_dir=lay.candidate,
                workers=1,
                **service,
            ),
        ),
    ]


def nginx_site(
    settings: Settings, *, certificate: str, certificate_key: str, redirect_http: bool
) -> str:
    nginx_templates(settings)  # a missing directory is named, not a bare TemplateNotFound
    return render(
        NGINX_SITE,
        settings,
        certificate=certificate,
        certificate_key=certificate_key,
        redirect_http=redirect_http,
    )


def system_files(settings: Settings, login_users: tuple[str, ...]) -> dict[str, ManagedFile]:
    """Firewall, sshd, unattended upgrades and log retention, by role."""
    app = settings.app_name
    return {
        "firewall": ManagedFile(
            "/etc/nftables.conf",
            render("nftables.conf.j2", settings, open_ports=OPEN_PORTS),
            mode=0o755,
            precheck="nft -c -f {path}",
        ),
        "sshd": ManagedFile(
            f"/etc/ssh/sshd_config.d/00-{app}.conf",
            render("sshd.conf.j2", settings, login_users=login_users),
        ),
        "upgrades": ManagedFile(
            "/etc/apt/apt.conf.d/20auto-upgrades", render("auto-upgrades.j2", settings)
        ),
        "logrotate": ManagedFile(f"/etc/logrotate.d/{app}", render("logrotate.j2", settings)),
        "journald": ManagedFile(
            f"/etc/systemd/journald.conf.d/{app}.conf", render("journald.conf.j2", settings)
        ),
        "certbot_hook": ManagedFile(
            f"/etc/letsencrypt/renewal-hooks/deploy/{app}-reload-nginx.sh",
            render("certbot-reload.sh.j2", settings),
            mode=0o755,
        ),
    }
