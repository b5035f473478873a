"""testinfra checks of a provisioned VPS, over SSH as the sudo-capable admin user.

Run by `shipways verify vps` against the local VPS, and usable against a real server:

    uv run pytest infra/targets/vps/checks --hosts=ssh://admin@HOST --ssh-config=CONFIG

Environment: SHIPWAYS_VPS_APP (app name, default shipways), SHIPWAYS_VPS_DEPLOY_USER (deploy).
The app's own account is APP-app (provision's naming).
Each check reads the server's own state (effective sshd settings, live nftables rules, the
app process's real mounts and privileges), not the files provision wrote.
"""

from __future__ import annotations

import os
import re

import pytest
from testinfra.host import Host

APP = os.environ.get("SHIPWAYS_VPS_APP", "shipways")
DEPLOY = os.environ.get("SHIPWAYS_VPS_DEPLOY_USER", "deploy")
APP_USER = f"{APP[:28]}-app"
VAR = APP.replace("-", "_")
BASE = f"/srv/{APP}"
RELEASE = re.compile(r"^\d{8}T\d{6}Z-[a-z0-9-]{1,24}$")


def _root(host: Host, command: str) -> str:
    with host.sudo():
        return str(host.check_output(command))


def _main_pid(host: Host) -> int:
    pid = int(host.check_output(f"systemctl show -p MainPID --value {APP}.service"))
    assert pid > 0, f"{APP}.service has no main process"
    return pid


@pytest.mark.parametrize(
    "unit", ["nginx.service", f"{APP}.socket", f"{APP}.service", "postgresql.service"]
)
def test_service_active_and_enabled(host: Host, unit: str) -> None:
    service = host.service(unit)
    assert service.is_running, f"{unit} is not active"
    assert service.is_enabled, f"{unit} is not enabled (would not come back after a reboot)"


def test_gunicorn_master_and_workers_run_as_the_app_user(host: Host) -> None:
    pid = _main_pid(host)
    master = host.check_output(f"ps -o user= -p {pid}").strip()
    workers = host.check_output(f"ps -o user= --ppid {pid}").split()
    assert master == APP_USER
    assert workers, "gunicorn has no workers"
    assert set(workers) == {APP_USER}, f"workers run as {set(workers)}"


def test_app_user_cannot_log_in_and_has_no_home_or_sudo(host: Host) -> None:
    user = host.user(APP_USER)
    assert user.exists and user.shell == "/usr/sbin/nologin", user.shell
    assert not host.file(user.home).exists, f"{APP_USER} has a home: {user.home}"
    assert "sudo" not in user.groups
    listing = _root(host, f"sudo -l -U {APP_USER}")
    assert "may run the following" not in listing, listing
    assert APP_USER not in _root(host, "sshd -T | grep -i '^allowusers'")


def test_app_user_can_read_but_not_change_its_code(host: Host) -> None:
    with host.sudo(APP_USER):
        assert host.run(f"test -r {BASE}/current/release.env").rc == 0
        assert host.run(f"test -w {BASE}/current/release.env").rc != 0
        assert host.run(f"touch {BASE}/current/planted").rc != 0
        assert host.run(f"ls {BASE}/shared").rc != 0  # the deploy user's workspace


def test_app_process_is_sandboxed(host: Host) -> None:
    """The hardening is in force, not just written down: read-only /, no home, no privileges."""
    pid = _main_pid(host)
    status = _root(host, f"cat /proc/{pid}/status")
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), "NoNewPrivileges is not in force"
    assert re.search(r"^Seccomp:\s+2$", status, re.M), "no system call filter in force"
    assert re.search(r"^CapEff:\s+0+$", status, re.M), "the app holds capabilities"
    mounts = {}
    for line in _root(host, f"cat /proc/{pid}/mountinfo").splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")
    assert "ro" in mounts["/"], "ProtectSystem=strict is not in force: / is writable"
    assert "/home" in mounts, "ProtectHome is not in force"
    assert "/tmp" in mounts, "PrivateTmp is not in force"  # noqa: S108 - a mount point


def test_nginx_configuration_is_valid(host: Host) -> None:
    with host.sudo():
        result = host.run("nginx -t")
    assert result.rc == 0, result.stderr


def test_only_ssh_http_https_listen_publicly(host: Host) -> None:
    """80/443 (nginx) and 22 listen; PostgreSQL only on loopback; gunicorn on no TCP port."""
    listeners = _root(host, "ss -Hltnp").splitlines()
    public = set()
    for line in listeners:
        local, process = line.split()[3], line
        address, _, port = local.rpartition(":")
        if address.strip("[]") in {"127.0.0.1", "::1"}:
            assert port == "5432", f"unexpected loopback listener: {line}"
            continue
        public.add(int(port))
        assert "python" not in process and "gunicorn" not in process, f"app on TCP: {line}"
    assert public == {22, 80, 443}, f"public TCP ports: {sorted(public)}"


def test_app_reachable_only_through_its_unix_socket(host: Host) -> None:
    sock = host.file(f"/run/{APP}/gunicorn.sock")
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == (APP_USER, "www-data", 0o660)


def test_postgresql_listens_on_loopback_only(host: Host) -> None:
    lines = _root(host, "ss -Hltn sport = :5432").splitlines()
    assert lines, "PostgreSQL is not listening"
    for line in lines:
        assert line.split()[3].rpartition(":")[0].strip("[]") in {"127.0.0.1", "::1"}, line


def test_sshd_is_hardened(host: Host) -> None:
    effective = dict(
        line.split(" ", 1) for line in _root(host, "sshd -T").splitlines() if " " in line
    )
    assert effective["permitrootlogin"] == "no"
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["pubkeyauthentication"] == "yes"
    assert effective["x11forwarding"] == "no"
    assert DEPLOY in effective.get("allowusers", "").split()
    for forwarding in (
        "allowtcpforwarding",
        "allowagentforwarding",
        "allowstreamlocalforwarding",
        "permittunnel",
    ):
        assert effective[forwarding] == "no", forwarding


def test_sshd_offers_only_modern_algorithms(host: Host) -> None:
    """What sshd really offers (sshd -T), and the host keys it really loads: ed25519 only."""
    effective = dict(
        line.split(" ", 1) for line in _root(host, "sshd -T").splitlines() if " " in line
    )
    kex = set(effective["kexalgorithms"].split(","))
    assert kex <= {
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
    }, kex
    assert effective["hostkeyalgorithms"] == "ssh-ed25519"
    macs = effective["macs"].split(",")
    assert macs and all(m.endswith("-etm@openssh.com") and "sha1" not in m for m in macs), macs
    ciphers = effective["ciphers"].split(",")
    assert not [c for c in ciphers if "cbc" in c or "3des" in c], ciphers
    host_keys = [
        line.split(" ", 1)[1]
        for line in _root(host, "sshd -T").splitlines()
        if line.startswith("hostkey ")
    ]
    assert host_keys == ["/etc/ssh/ssh_host_ed25519_key"], host_keys


def test_nginx_tls_is_mozilla_intermediate(host: Host) -> None:
    config = _root(host, "nginx -T 2>/dev/null")
    assert re.search(r"^\s*ssl_protocols TLSv1\.2 TLSv1\.3;", config, re.M)
    assert re.search(r"^\s*ssl_ecdh_curve X25519:prime256v1:secp384r1;", config, re.M)
    assert re.search(r"^\s*ssl_prefer_server_ciphers off;", config, re.M)
    assert re.search(r"^\s*ssl_session_tickets off;", config, re.M)
    ciphers = re.search(r"^\s*ssl_ciphers ([^;]+);", config, re.M)
    assert ciphers, "no ssl_ciphers: OpenSSL's defaults accept CBC, CCM, ARIA and CAMELLIA"
    # What OpenSSL on the server expands the list to: forward-secret AEAD suites only.
    for line in host.check_output(f"openssl ciphers -v '{ciphers.group(1)}'").splitlines():
        _name, _version, kx, _au, enc = line.split()[:5]
        assert kx in {"Kx=ECDH", "Kx=any"}, line
        assert "GCM" in enc or "CHACHA20" in enc, line


def test_self_signed_certificate_lives_at_most_365_days(host: Host) -> None:
    crt = f"/etc/ssl/{APP}/selfsigned.crt"
    dates = dict(
        line.split("=", 1)
        for line in host.check_output(
            f"openssl x509 -in {crt} -noout -startdate -enddate"
        ).splitlines()
    )
    start = int(host.check_output(f"date -d '{dates['notBefore']}' +%s"))
    end = int(host.check_output(f"date -d '{dates['notAfter']}' +%s"))
    assert (end - start) <= 365 * 86400, f"valid {(end - start) / 86400:.0f} days"


def test_metadata_service_is_closed_to_the_app_and_other_users(host: Host) -> None:
    rules = _root(host, f"nft list table inet {VAR}_firewall")
    assert re.search(r"meta skuid != 0 ip daddr 169\.254\.169\.254 reject", rules), rules
    # The app itself may reach loopback only (PostgreSQL), the metadata address included.
    deny = host.check_output(f"systemctl show -p IPAddressDeny --value {APP}.service")
    allow = host.check_output(f"systemctl show -p IPAddressAllow --value {APP}.service")
    assert set(deny.split()) == {"0.0.0.0/0", "::/0"}, deny
    assert set(allow.split()) <= {"127.0.0.0/8", "::1/128"}, allow
    # The rule is live: a non-root account is refused at once (root is not).
    probe = "curl -sS --max-time 3 -o /dev/null http://169.254.169.254/latest/meta-data/ 2>&1"
    with host.sudo(DEPLOY):
        refused = host.run(probe)
    assert refused.rc == 7 and "Couldn't connect" in refused.stdout + refused.stderr, refused


def test_firewall_drops_everything_but_ssh_http_https(host: Host) -> None:
    rules = _root(host, f"nft list table inet {VAR}_firewall")
    assert "hook input priority filter; policy drop;" in rules
    assert re.search(r"tcp dport \{ 22, 80, 443 \} accept", rules), rules
    assert host.service("nftables.service").is_enabled


def test_unattended_security_upgrades_on(host: Host) -> None:
    assert host.package("unattended-upgrades").is_installed
    periodic = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled, f"{timer} is not enabled"


def test_release_layout_and_current_link(host: Host) -> None:
    with host.sudo():  # /srv/APP is private to the deploy user
        current = host.file(f"{BASE}/current")
        assert current.is_symlink
        target = current.linked_to
        assert target.startswith(f"{BASE}/releases/")
        assert RELEASE.match(os.path.basename(target)), target
        assert host.file(f"{target}/venv/bin/python").exists
        for path in (BASE, f"{BASE}/releases", f"{BASE}/shared"):
            assert host.file(path).user == DEPLOY
        assert host.file(BASE).mode == 0o750


def test_env_file_is_private_and_root_owned(host: Host) -> None:
    with host.sudo():
        folder = host.file(f"/etc/{APP}")
        assert (folder.user, folder.group, folder.mode) == ("root", APP_USER, 0o750)
        env = host.file(f"/etc/{APP}/database.env")
        assert (env.user, env.group, env.mode) == ("root", APP_USER, 0o640)
        assert env.contains("^DATABASE_URL=postgresql://")


def test_deploy_user_has_only_narrow_sudo_rules(host: Host) -> None:
    rules = _root(host, f"sudo -l -U {DEPLOY}")
    allowed = rules.split("may run the following commands", 1)[1]
    assert "NOPASSWD: ALL" not in allowed and "(ALL) ALL" not in allowed, allowed
    assert f"/usr/local/sbin/{APP}-ctl" in allowed


def test_logs_are_rotated_and_bounded(host: Host) -> None:
    assert host.file(f"/etc/logrotate.d/{APP}").contains(f"/var/log/{APP}/")
    assert host.file(f"/etc/systemd/journald.conf.d/{APP}.conf").contains("SystemMaxUse=")
    audit = host.file(f"/var/log/{APP}/deploys.log")
    assert audit.exists and audit.user == "root" and audit.mode == 0o644
