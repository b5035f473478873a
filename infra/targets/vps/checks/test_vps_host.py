"""testinfra checks of a provisioned VPS, over SSH as the sudo-capable admin user.

Run by `shipways verify vps` against the local VPS, and usable against a real server:

    uv run pytest infra/targets/vps/checks --hosts=ssh://admin@HOST --ssh-config=CONFIG

Environment: SHIPWAYS_VPS_APP (app name, default shipways), SHIPWAYS_VPS_DEPLOY_USER (deploy).
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


def test_gunicorn_master_and_workers_run_as_deploy_user(host: Host) -> None:
    pid = _main_pid(host)
    master = host.check_output(f"ps -o user= -p {pid}").strip()
    workers = host.check_output(f"ps -o user= --ppid {pid}").split()
    assert master == DEPLOY
    assert workers, "gunicorn has no workers"
    assert set(workers) == {DEPLOY}, f"workers run as {set(workers)}"


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
    assert (sock.user, sock.group, sock.mode) == (DEPLOY, "www-data", 0o660)


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


def test_env_file_is_private(host: Host) -> None:
    with host.sudo():
        env = host.file(f"{BASE}/shared/.env")
        assert (env.user, env.group, env.mode) == (DEPLOY, DEPLOY, 0o600)
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
