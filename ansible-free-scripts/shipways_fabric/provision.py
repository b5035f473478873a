"""`provision`: turn a fresh Debian 12 server into a hardened host for one app. Idempotent.

Runs as a sudo-capable login user (Debian's cloud images: `admin`), never as root: root
login is switched off here, after the deploy user's key has been proven to work, so the
server can always be provisioned again. Each step looks before it changes anything and
reports what it changed; a second run on the same server reports nothing.
"""

from __future__ import annotations

import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Literal

import paramiko
from fabric import Connection

from shipways_fabric.connect import as_user, public_key_of
from shipways_fabric.remote import Progress, Remote, RemoteError
from shipways_fabric.settings import Settings, settings_from
from shipways_fabric.templates import (
    ManagedFile,
    app_files,
    helper_files,
    nginx_site,
    nginx_templates,
    system_files,
)
from shipways_fabric.write_token import install as install_write_token

PACKAGES = (
    "nginx",
    "python3-venv",
    "postgresql",
    "nftables",
    "unattended-upgrades",
    "curl",
    "openssl",
    "ca-certificates",
    "logrotate",
    "sudo",
)
UPGRADE_TIMERS = ("apt-daily.timer", "apt-daily-upgrade.timer")
CERT_DAYS = 365  # Mozilla's intermediate profile: certificates live at most 366 days
RENEW_BEFORE_S = 30 * 24 * 3600
MOVED_TO_CONFIG_DIR = (".env", "app.env", "gunicorn.conf.py")  # once under /srv/APP/shared
_APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600"


class ProvisionError(RuntimeError):
    """Provisioning stopped; the message says on which host, at which step and what to do."""


# What the server's HTTPS serves after provisioning. "pending": a domain is configured but
# does not resolve to this server yet, so the self-signed certificate stands in for now.
Certificate = Literal["self-signed", "letsencrypt", "pending"]


@dataclass
class ProvisionResult:
    host: str
    changed: list[str] = field(default_factory=list)
    certificate: Certificate = "self-signed"
    notice: str | None = None  # what the operator should do next, if anything


def provision(
    conn: Connection,
    settings: Settings | dict[str, object],
    *,
    progress: Progress | None = None,
    write_token: str | None = None,
) -> ProvisionResult:
    """Bring `conn`'s server to the desired state; return what had to change.

    `write_token` is the bearer token writes need (a secret: never in `settings`, which are
    plain data); without one the server keeps its own, or gets a new one on first provision.
    """
    settings = settings_from(settings)
    nginx_templates(settings)  # before touching the server
    remote = Remote(conn, progress)
    try:
        _preflight(remote)
        _packages(remote, settings)
        _deploy_user(remote, settings)
        _app_user(remote, settings)
        _directories(remote, settings)
        _files(remote, helper_files(settings))
        remote.ensure_service("postgresql.service")
        _database(remote, settings)
        token_changed = install_write_token(remote, settings.layout, write_token)
        _app_service(remote, settings, restart=token_changed)
        tls = _nginx(remote, settings)
        _firewall(remote, settings)
        _upgrades_and_logs(remote, settings)
        _sshd(remote, settings)
    except RemoteError as exc:
        raise ProvisionError(str(exc)) from exc
    remote.say(f"provisioned ({len(remote.changed)} change(s))")
    return ProvisionResult(remote.where, remote.changed, tls.certificate, tls.notice)


def _preflight(remote: Remote) -> None:
    if remote.conn.user == "root":
        raise ProvisionError(
            f"{remote.where}: log in as a sudo-capable user other than root (Debian's "
            "cloud images: admin). provision turns root login off, so a root login would "
            "lock itself out of the next run."
        )
    if not remote.ok("sudo -n true"):
        raise ProvisionError(
            f"{remote.host}: this user cannot run sudo without a password; give it "
            f"passwordless sudo (e.g. /etc/sudoers.d/90-{remote.conn.user}) and retry"
        )
    release = remote.out(". /etc/os-release && echo $ID $VERSION_ID")
    if release != "debian 12":
        raise ProvisionError(
            f"{remote.where}: provision targets Debian 12 (bookworm); this server runs {release!r}"
        )


def packages_for(settings: Settings) -> tuple[str, ...]:
    return PACKAGES + (("certbot",) if settings.domain else ())


def _packages(remote: Remote, settings: Settings) -> None:
    wanted = packages_for(settings)
    listing = remote.out(
        "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' " + " ".join(wanted) + " 2>/dev/null"
        " || true"
    )
    installed = {line.split()[0] for line in listing.splitlines() if line.endswith(" installed")}
    missing = [p for p in wanted if p not in installed]
    if not missing:
        return
    remote.say(f"installing {' '.join(missing)} (apt, may take minutes)")
    remote.run(f"{_APT} update", sudo=True, timeout=900, what="apt-get update")
    remote.run(
        f"{_APT} install --no-install-recommends {' '.join(missing)}",
        sudo=True,
        timeout=1800,
        what=f"apt-get install {' '.join(missing)}",
    )
    remote.change(f"packages: installed {', '.join(missing)}")


def _deploy_user(remote: Remote, settings: Settings) -> None:
    user = settings.deploy_user
    if not remote.ok(f"id -u {user}"):
        remote.run(f"useradd --create-home --user-group --shell /bin/bash {user}", sudo=True)
        remote.change(f"user {user}: created (no password, key login only)")
    home = remote.out(f"getent passwd {user} | cut -d: -f6")
    keys = settings.deploy_public_keys or (public_key_of(remote.conn),)
    remote.ensure_dir(f"{home}/.ssh", owner=user, group=user, mode=0o700, as_owner=True)
    remote.ensure_file(
        f"{home}/.ssh/authorized_keys",
        "".join(f"{k.strip()}\n" for k in keys),
        owner=user,
        group=user,
        mode=0o600,
        as_owner=True,
    )


def app_user_command(settings: Settings) -> str:
    """The app's own account: a system user with no shell, no home and no password."""
    return (
        "useradd --system --user-group --no-create-home --home-dir /nonexistent "
        f"--shell /usr/sbin/nologin {settings.layout.app_user}"
    )


def _app_user(remote: Remote, settings: Settings) -> None:
    """The account gunicorn runs as; the deploy user joins its group to read the config."""
    app_user, deploy_user = settings.layout.app_user, settings.deploy_user
    if not remote.ok(f"id -u {app_user}"):
        remote.run(app_user_command(settings), sudo=True)
        remote.change(f"user {app_user}: created (runs the app; no login, no home)")
    if app_user not in remote.out(f"id -nG {deploy_user}").split():
        remote.run(f"usermod --append --groups {app_user} {deploy_user}", sudo=True)
        remote.change(f"user {deploy_user}: joined group {app_user} (reads the app's config)")


def _directories(remote: Remote, settings: Settings) -> None:
    """/srv/APP: the deploy user's; the app's group may only read (releases) what it runs."""
    lay, user, app_group = settings.layout, settings.deploy_user, settings.layout.app_user
    remote.ensure_dir(lay.base, owner=user, group=app_group, mode=0o750)
    remote.ensure_dir(lay.releases, owner=user, group=app_group, mode=0o750, as_owner=True)
    for path in (lay.shared, lay.wheel_cache):
        remote.ensure_dir(path, owner=user, group=user, mode=0o750, as_owner=True)
    remote.ensure_dir(lay.config_dir, owner="root", group=app_group, mode=0o750)
    # Servers provisioned before the app's files moved to config_dir: the old copies (the
    # database password among them) are removed, by their owner.
    for name in MOVED_TO_CONFIG_DIR:
        old = f"{lay.shared}/{name}"
        if remote.ok(f"test -e {old} -o -L {old}", user=user):
            remote.run(f"rm -f {old}", user=user)
            remote.change(f"{old}: removed (now in {lay.config_dir})")
    remote.ensure_dir(lay.log_dir, owner="root", group="adm", mode=0o755)
    remote.ensure_dir(lay.tls_dir, owner="root", group="root", mode=0o755)
    remote.ensure_dir(lay.acme_root, owner="root", group="root", mode=0o755)


def _files(remote: Remote, files: list[ManagedFile], validate: str | None = None) -> bool:
    changed = False
    for item in files:
        changed |= remote.ensure_file(
            item.path,
            item.content,
            owner=item.owner,
            group=item.group,
            mode=item.mode,
            precheck=item.precheck,
            validate=validate,
        )
    return changed


def _database(remote: Remote, settings: Settings) -> None:
    output = remote.out(settings.layout.db_sync, sudo=True, timeout=120, what="database set-up")
    for line in output.splitlines():
        if line.startswith("changed: "):
            remote.change(f"database: {line.removeprefix('changed: ')}")


def _app_service(remote: Remote, settings: Settings, *, restart: bool = False) -> None:
    """Units and gunicorn settings; running services pick up what changed (`restart`: a
    credential changed, which systemd hands over only at start)."""
    lay = settings.layout
    files = app_files(settings)
    config_changed = _files(remote, files[:2])
    units_changed = _files(remote, files[2:])
    if units_changed:
        remote.run("systemctl daemon-reload", sudo=True)
    remote.ensure_service(lay.socket_unit, active=False)
    remote.ensure_service(lay.service, active=False)
    if not remote.ok(f"test -e {lay.current}/release.env"):
        return  # nothing deployed yet: deploy starts the service
    remote.ensure_service(lay.socket_unit)
    running = remote.ok(f"systemctl is-active --quiet {lay.service}")
    if running and (units_changed or restart):
        remote.run(f"{lay.ctl} restart", sudo=True, timeout=120, what="restart the app")
        why = "unit" if units_changed else "write token"
        remote.change(f"{lay.service}: restarted for its new {why}")
    elif running and config_changed:
        remote.run(f"{lay.ctl} reload", sudo=True, timeout=120, what="reload the app")
        remote.change(f"{lay.service}: reloaded for its new settings")
    elif not running:
        remote.ensure_service(lay.service)


def _self_signed(remote: Remote, settings: Settings) -> tuple[str, str]:
    """A self-signed certificate for the configured names (renewed before it expires)."""
    lay = settings.layout
    names = settings.certificate_names(remote.conn.host)
    crt, key = lay.self_signed_cert, lay.self_signed_key
    # Kept while it has over 30 days left and no more than CERT_DAYS (an older, longer-lived
    # certificate is replaced).
    current = remote.out(
        f"test -f {crt} && openssl x509 -in {crt} -noout -checkend {RENEW_BEFORE_S} >/dev/null"
        f" && ! openssl x509 -in {crt} -noout -checkend {(CERT_DAYS + 1) * 86400} >/dev/null"
        f" && openssl x509 -in {crt} -noout -ext subjectAltName | tail -n +2 || true"
    )
    have = {n.strip().replace("IP Address:", "IP:") for n in current.split(",") if n.strip()}
    if have == {_san(n) for n in names} and remote.ok(f"test -f {key}", sudo=True):
        return crt, key
    remote.run(
        self_signed_command(names, crt, key),
        sudo=True,
        what="create the self-signed certificate",
    )
    remote.change(f"TLS: self-signed certificate for {', '.join(names)}")
    return crt, key


def self_signed_command(names: tuple[str, ...], crt: str, key: str) -> str:
    """openssl making a P-256 certificate for `names`, valid CERT_DAYS, key private to root."""
    san = ",".join(_san(n) for n in names)
    subject = shlex.quote(f"/CN={names[0]}")
    return (
        "umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        f"-nodes -days {CERT_DAYS} -subj {subject} -addext {shlex.quote('subjectAltName=' + san)} "
        f"-keyout {key}.new -out {crt}.new 2>&1 && chmod 644 {crt}.new && chmod 600 {key}.new "
        f"&& mv -f {key}.new {key} && mv -f {crt}.new {crt}"
    )


def _san(name: str) -> str:
    is_ip = name.replace(".", "").isdigit() or ":" in name
    return f"IP:{name}" if is_ip else f"DNS:{name}"


def _letsencrypt_paths(settings: Settings) -> tuple[str, str]:
    live = f"/etc/letsencrypt/live/{settings.domain}"
    return f"{live}/fullchain.pem", f"{live}/privkey.pem"


def certbot_command(settings: Settings) -> str:
    """Obtain the domain's certificate through the webroot nginx already serves."""
    assert settings.domain and settings.letsencrypt_email
    return (
        "certbot certonly --webroot --non-interactive --agree-tos --no-eff-email "
        f"--webroot-path {settings.layout.acme_root} --domain {shlex.quote(settings.domain)} "
        f"--email {shlex.quote(settings.letsencrypt_email)} --keep-until-expiring"
    )


@dataclass(frozen=True)
class TlsPlan:
    """What to do about the certificate, decided before touching certbot."""

    action: Literal["self-signed", "keep-letsencrypt", "obtain", "wait-for-dns"]
    notice: str | None = None

    @property
    def certificate(self) -> Certificate:
        """What HTTPS serves once the plan has run."""
        return _SERVED[self.action]


_SERVED: dict[str, Certificate] = {
    "self-signed": "self-signed",
    "keep-letsencrypt": "letsencrypt",
    "obtain": "letsencrypt",
    "wait-for-dns": "pending",
}


def resolve(name: str) -> set[str]:
    """Every address `name` resolves to from here; none when it does not resolve."""
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return set()
    return {str(info[4][0]) for info in found}


def tls_plan(
    domain: str | None,
    *,
    have_letsencrypt: bool,
    domain_addresses: set[str],
    server: str,
    server_addresses: set[str],
) -> TlsPlan:
    """Let's Encrypt only validates a domain that points at this server. A server created
    in the same `pulumi up` has a new address no DNS record names yet: certbot would fail
    the whole update, so it keeps the self-signed certificate and says what to do instead.
    """
    if not domain:
        return TlsPlan("self-signed")
    if have_letsencrypt:
        return TlsPlan("keep-letsencrypt")
    if domain_addresses & server_addresses:
        return TlsPlan("obtain")
    seen = ", ".join(sorted(domain_addresses)) or "no address"
    return TlsPlan(
        "wait-for-dns",
        f"TLS: {domain} resolves to {seen}, not to this server ({server}); serving the "
        f"self-signed certificate for now. Point {domain}'s DNS A/AAAA record at {server}, "
        "then run `pulumi up` again once it resolves: that run obtains the Let's Encrypt "
        "certificate.",
    )


def _nginx(remote: Remote, settings: Settings) -> TlsPlan:
    """The site, TLS included; `nginx -t` vets every change before nginx reloads."""
    self_signed = _self_signed(remote, settings)
    certificate = self_signed
    have_letsencrypt = False
    if settings.domain:
        le_cert, le_key = _letsencrypt_paths(settings)
        have_letsencrypt = remote.ok(f"test -f {le_cert}", sudo=True)
        if have_letsencrypt:
            certificate = (le_cert, le_key)
    asks_dns = bool(settings.domain) and not have_letsencrypt
    plan = tls_plan(
        settings.domain,
        have_letsencrypt=have_letsencrypt,
        domain_addresses=resolve(settings.domain) if asks_dns and settings.domain else set(),
        server=remote.conn.host,
        server_addresses=resolve(remote.conn.host) if asks_dns else set(),
    )
    changed = _write_site(remote, settings, certificate)
    if plan.action == "obtain":
        # nginx now serves the ACME webroot on port 80: ask Let's Encrypt, then switch to it.
        remote.run(certbot_command(settings), sudo=True, timeout=300, what="certbot")
        remote.change(f"TLS: Let's Encrypt certificate for {settings.domain}")
        changed |= _write_site(remote, settings, _letsencrypt_paths(settings))
    if plan.notice:
        remote.say(plan.notice)
    if settings.domain:
        hook = system_files(settings, ())["certbot_hook"]
        _files(remote, [hook])
        remote.ensure_service("certbot.timer")
    remote.ensure_service("nginx.service")
    if changed:
        remote.run("nginx -t -q && systemctl reload nginx", sudo=True, what="reload nginx")
    return plan


def _write_site(remote: Remote, settings: Settings, certificate: tuple[str, str]) -> bool:
    lay = settings.layout
    site = nginx_site(
        settings,
        certificate=certificate[0],
        certificate_key=certificate[1],
        redirect_http=bool(settings.domain) and "letsencrypt" in certificate[0],
    )
    changed = remote.ensure_absent("/etc/nginx/sites-enabled/default")
    enabled = remote.ok(f"test -L {lay.nginx_enabled}", sudo=True)
    changed |= remote.ensure_file(
        lay.nginx_site, site, validate="nginx -t -q" if enabled else None, label="nginx site"
    )
    if not enabled:
        remote.ensure_link(lay.nginx_enabled, lay.nginx_site)
        check = remote.run("nginx -t", sudo=True, check=False)
        if check.return_code != 0:
            remote.run(f"rm -f {lay.nginx_enabled}", sudo=True)
            raise ProvisionError(
                f"{remote.where}: the rendered nginx site fails `nginx -t`; it was "
                f"disabled again:\n{check.stderr or check.stdout}"
            )
        changed = True
    return changed


def _firewall(remote: Remote, settings: Settings) -> None:
    rules = system_files(settings, ())["firewall"]
    changed = _files(remote, [rules])
    table = f"inet {settings.layout.var}_firewall"
    remote.ensure_service("nftables.service", active=False)
    if changed or not remote.ok(f"nft list table {table} >/dev/null", sudo=True):
        remote.run("systemctl restart nftables.service", sudo=True, what="load the firewall")
        if not changed:
            remote.change(f"firewall: table {table} loaded")


def _upgrades_and_logs(remote: Remote, settings: Settings) -> None:
    files = system_files(settings, ())
    _files(remote, [files["upgrades"], files["logrotate"]])
    for timer in UPGRADE_TIMERS:
        remote.ensure_service(timer, unmask=True)
    if _files(remote, [files["journald"]]):
        remote.run("systemctl restart systemd-journald.service", sudo=True)


def _sshd(remote: Remote, settings: Settings) -> None:
    """Keys only, no root, only the two accounts; proven to let both back in before it stays."""
    login_users = tuple(dict.fromkeys((remote.conn.user, settings.deploy_user)))
    wanted = system_files(settings, login_users)["sshd"]
    current = remote.out(f"cat {wanted.path} 2>/dev/null || true", sudo=True)
    if current.strip() == wanted.content.strip():
        return
    _login_works(remote, settings.deploy_user, before=True)
    backup = remote.out(f"cat {wanted.path} 2>/dev/null || true", sudo=True)
    _files(remote, [wanted], validate="sshd -t")
    remote.run("systemctl reload ssh.service", sudo=True, what="reload sshd")
    try:
        for user in login_users:
            _login_works(remote, user, before=False)
    except ProvisionError:
        # This session survives the reload: put the old rules back before anyone is locked out.
        if backup:
            remote.ensure_file(wanted.path, backup + "\n")
        else:
            remote.run(f"rm -f {wanted.path}", sudo=True)
        remote.run("systemctl reload ssh.service", sudo=True)
        raise


def _login_works(remote: Remote, user: str, *, before: bool, attempts: int = 10) -> None:
    """A fresh login as `user` with the key succeeds.

    After a reload sshd re-executes itself; a login in that instant is refused, so a few
    attempts a second apart are made before concluding that the new settings lock it out.
    """
    for attempt in range(1, attempts + 1):
        conn = as_user(remote.conn, user)
        try:
            conn.run("true", hide=True, in_stream=False)
            return
        except paramiko.AuthenticationException as exc:
            failure: Exception = exc  # a refused key: retrying will not help
            break
        except (paramiko.SSHException, OSError) as exc:
            failure = exc
            if attempt < attempts:
                time.sleep(1.0)
        finally:
            conn.close()
    when = "before hardening sshd" if before else "after hardening sshd (rolled back)"
    raise ProvisionError(
        f"{remote.where}: {user} cannot log in with the key {when}: {failure}. "
        "Check the key in the settings (deploy_public_keys) and the pinned host key."
    ) from failure
