"""Regression tests for the VPS security findings, on what provision renders and runs.

Each test names the finding it guards: the TLS profile, sshd's algorithms, root never working
inside a folder the deploy user owns, the metadata service closed to the app, and the app's
own non-login account.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography import x509
from shipways_fabric import templates
from shipways_fabric.provision import _directories, app_user_command, self_signed_command
from shipways_fabric.remote import Remote, RemoteError
from shipways_fabric.settings import settings_from

from infra import paths
from infra.proof import vps_scanners

pytestmark = pytest.mark.unit

SETTINGS = settings_from({"tlsNames": ["localhost", "127.0.0.1"]})
IMAGE_SSHD = paths.ROOT / "infra/sandbox/dockerfiles/systemd/sshd-hardening.conf"
IMAGE_HOSTKEYS = paths.ROOT / "infra/sandbox/dockerfiles/systemd/ssh-hostkeys.service"
MODERN_KEX = {
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
}
ETM_MACS = {
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "umac-128-etm@openssh.com",
}


def _site() -> str:
    return templates.nginx_site(
        SETTINGS, certificate="/c.pem", certificate_key="/k.pem", redirect_http=False
    )


def _https_directives() -> dict[str, str]:
    https = _site().split("listen 443", 1)[1]
    found = {}
    for line in https.splitlines():
        match = re.match(r"^\s*(ssl_\w+) (.+);$", line)
        if match:
            found[match[1]] = match[2]
    return found


# --- TLS: Mozilla's intermediate profile ------------------------------------------------


def test_nginx_tls_is_mozilla_intermediate() -> None:
    tls = _https_directives()
    assert tls["ssl_protocols"] == "TLSv1.2 TLSv1.3"
    assert tls["ssl_ecdh_curve"] == "X25519:prime256v1:secp384r1"  # no X448, no secp521r1
    assert tls["ssl_prefer_server_ciphers"] == "off"
    assert tls["ssl_session_timeout"] == "1d"
    assert tls["ssl_session_cache"].startswith("shared:")
    assert tls["ssl_session_tickets"] == "off"
    suites = tls["ssl_ciphers"].split(":")
    for suite in suites:
        assert suite.startswith("ECDHE-"), suite  # forward secrecy
        assert suite.endswith(("-GCM-SHA256", "-GCM-SHA384", "-CHACHA20-POLY1305")), suite
        for weak in ("CBC", "CCM", "ARIA", "CAMELLIA", "SHA1", "RSA-AES"):
            assert weak not in suite.replace("ECDHE-RSA-", "ECDHE-"), suite
    assert len(suites) == 6


def test_cipher_list_expands_to_aead_suites_only() -> None:
    """OpenSSL itself reads the list: every suite it enables is ECDHE with GCM or ChaCha20."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl here; the host check runs it on the server")
    listing = subprocess.run(
        ["openssl", "ciphers", "-v", "-tls1_2", _https_directives()["ssl_ciphers"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split() for line in listing.splitlines() if "TLSv1.2" in line]
    assert rows
    for name, _version, kx, _au, enc, *_ in rows:
        assert kx == "Kx=ECDH" and ("GCM" in enc or "CHACHA20" in enc), name


def test_self_signed_certificate_lives_at_most_365_days(tmp_path: Path) -> None:
    """Run provision's own openssl command and read the certificate it makes."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl here")
    crt, key = tmp_path / "c.pem", tmp_path / "k.pem"
    command = self_signed_command(("localhost", "127.0.0.1"), str(crt), str(key))
    assert "-days 365 " in command
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= timedelta(days=365), lifetime
    assert key.stat().st_mode & 0o077 == 0


# --- sshd: modern algorithms only, nothing forwarded -------------------------------------


def _sshd_options(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("where", ["fabric template", "local VPS image"])
def test_sshd_offers_only_modern_algorithms_and_forwards_nothing(where: str) -> None:
    if where == "fabric template":
        text = templates.system_files(SETTINGS, ("admin", "deploy"))["sshd"].content
    else:
        text = IMAGE_SSHD.read_text()
    sshd = _sshd_options(text)
    assert set(sshd["KexAlgorithms"][0].split(",")) == MODERN_KEX
    assert sshd["HostKeyAlgorithms"] == ["ssh-ed25519"]
    assert set(sshd["MACs"][0].split(",")) == ETM_MACS
    ciphers = sshd["Ciphers"][0].split(",")
    assert ciphers[:3] == [
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
    ]
    assert all(c.endswith(("@openssh.com", "-ctr")) for c in ciphers), ciphers
    for option in (
        "X11Forwarding",
        "AllowAgentForwarding",
        "AllowTcpForwarding",
        "AllowStreamLocalForwarding",
        "PermitTunnel",
    ):
        assert sshd[option] == ["no"], option
    if where == "fabric template":
        assert sshd["HostKey"] == ["/etc/ssh/ssh_host_ed25519_key"]  # no RSA, no ECDSA key


def test_local_vps_generates_an_ed25519_host_key_only() -> None:
    unit = IMAGE_HOSTKEYS.read_text()
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(start.removeprefix("ExecStart="))
    assert argv[argv.index("-t") + 1] == "ed25519" and "-A" not in argv


def test_fabric_can_still_talk_to_the_hardened_sshd() -> None:
    """paramiko (Fabric's SSH) shares a key exchange, cipher, MAC and host key type with it."""
    sshd = _sshd_options(templates.system_files(SETTINGS, ("deploy",))["sshd"].content)
    ours = paramiko.Transport
    assert set(sshd["KexAlgorithms"][0].split(",")) & set(ours._preferred_kex)
    ciphers = set(sshd["Ciphers"][0].split(","))
    assert ciphers & set(ours._preferred_ciphers)
    assert set(sshd["MACs"][0].split(",")) & set(ours._preferred_macs)
    assert "ssh-ed25519" in ours._preferred_keys


# --- root never works in a folder the deploy user owns -----------------------------------


@dataclass
class _Result:
    stdout: str = ""
    stderr: str = ""
    return_code: int = 0


@dataclass
class _Sftp:
    def putfo(self, *_: Any) -> None:
        return None


@dataclass
class _FakeServer:
    """A Fabric connection double: records every command and answers from `answer`."""

    answer: Callable[[str], str]
    commands: list[str] = field(default_factory=list)
    user: str = "admin"
    host: str = "vps.example"
    port: int = 22

    def run(self, command: str, **_: Any) -> _Result:
        self.commands.append(command)
        return _Result(stdout=self.answer(command))

    def sftp(self) -> _Sftp:
        return _Sftp()


def _server(owners: dict[str, str], existing: str | None = None) -> _FakeServer:
    """Folders with their `uid mode`; `existing` is the sha/meta of the file already there."""

    def answer(command: str) -> str:
        if command.startswith("mktemp"):
            return "/tmp/shipways-upload"
        if "stat -c '%u %a %n'" in command:
            return "\n".join(f"{owner} {path}" for path, owner in owners.items())
        if "sha256sum" in command:
            return existing or ""
        return ""

    return _FakeServer(answer)


def _root_commands(server: _FakeServer) -> list[str]:
    return [c for c in server.commands if c.startswith("sudo -n -- ")]


def test_root_refuses_to_write_inside_a_folder_the_deploy_user_owns() -> None:
    server = _server({"/": "0 755", "/srv": "0 755", "/srv/app": "1000 750"})
    remote = Remote(server)  # type: ignore[arg-type]
    with pytest.raises(RemoteError, match="refusing to write as root in /srv/app"):
        remote.ensure_file("/srv/app/app.env", "X=1\n")
    assert not [c for c in _root_commands(server) if "/srv/app/app.env" in c]


def test_root_refuses_a_folder_others_may_write_to() -> None:
    server = _server({"/": "0 755", "/etc": "0 757"})
    with pytest.raises(RemoteError, match="mode 757"):
        Remote(server).ensure_file("/etc/x.conf", "x\n")  # type: ignore[arg-type]


def test_root_replaces_its_files_without_following_symlinks() -> None:
    """The backup copy of a managed file never writes through a planted link."""
    server = _server({"/": "0 755", "/etc": "0 755", "/etc/app": "0 750"}, "0" * 64 + " a:b:644")
    Remote(server).ensure_file("/etc/app/app.env", "X=1\n", validate="true")  # type: ignore[arg-type]
    copies = [c for c in server.commands if "cp " in c and ".shipways-old" in c]
    assert copies, server.commands
    for command in copies:
        assert "cp -p" not in command
        assert "--no-dereference" in command and "--remove-destination" in command


def test_files_in_a_users_folder_are_written_by_that_user_never_root() -> None:
    server = _server({}, "0" * 64 + " deploy:deploy:600")
    remote = Remote(server)  # type: ignore[arg-type]
    remote.ensure_file(
        "/home/deploy/.ssh/authorized_keys",
        "ssh-ed25519 AAAA k\n",
        owner="deploy",
        group="deploy",
        mode=0o600,
        as_owner=True,
    )
    touching = [c for c in server.commands if "/home/deploy" in c]
    assert touching and not [c for c in touching if c.startswith("sudo -n -- ")], touching
    assert all("sudo -n -u deploy" in c for c in touching), touching


def test_provision_makes_the_deploy_users_folders_as_that_user() -> None:
    server = _server({"/": "0 755", "/srv": "0 755", "/etc": "0 755"})
    _directories(Remote(server), SETTINGS)  # type: ignore[arg-type]
    lay = SETTINGS.layout
    for inside in (lay.releases, lay.shared, lay.wheel_cache):
        made = [c for c in server.commands if inside in c and ("mkdir" in c or "install" in c)]
        assert made and all(c.startswith("sudo -n -u deploy -- ") for c in made), made
    root_made = [c for c in _root_commands(server) if "install -d" in c]
    assert {shlex.split(shlex.split(c)[-1])[-1] for c in root_made} <= {
        lay.base,
        lay.config_dir,
        lay.log_dir,
        lay.tls_dir,
        lay.acme_root,
    }


def test_files_that_moved_out_of_the_deploy_users_folder_are_removed_by_deploy() -> None:
    """A server provisioned before the move loses its old copies (the database password)."""
    server = _server({"/": "0 755", "/srv": "0 755", "/etc": "0 755"})
    _directories(Remote(server), SETTINGS)  # type: ignore[arg-type]
    removed = [c for c in server.commands if "rm -f /srv/shipways/shared/" in c]
    assert len(removed) == 3, server.commands
    assert all(c.startswith("sudo -n -u deploy -- ") for c in removed)
    assert any("/srv/shipways/shared/.env" in c for c in removed)


def test_root_managed_app_files_live_in_a_root_owned_folder() -> None:
    lay = SETTINGS.layout
    managed = templates.app_files(SETTINGS) + templates.helper_files(SETTINGS)
    for item in managed:
        assert not item.path.startswith(lay.base + "/"), item.path
    db_sync = next(f for f in managed if f.path == lay.db_sync).content
    assert f"ENV_FILE={lay.config_dir}/database.env" in db_sync
    assert 'chown --no-dereference "root:$GROUP" "$ENV_FILE"' in db_sync
    assert "OWNER=deploy" not in db_sync


# --- the metadata service (and the host key in user data) out of the app's reach ---------


def test_firewall_closes_the_metadata_service_to_non_root(tmp_path: Path) -> None:
    rules = templates.system_files(SETTINGS, ())["firewall"].content
    output = rules.split("chain output {", 1)[1]
    assert "type filter hook output priority filter; policy accept;" in output
    assert "meta skuid != 0 ip daddr 169.254.169.254 reject" in output
    assert "meta skuid != 0 ip6 daddr fd00:ec2::254 reject" in output
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed here; the syntax check runs on the server")
    path = tmp_path / "nftables.conf"
    path.write_text(rules)
    check = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("unit", ["shipways.service", "shipways-candidate.service"])
def test_app_units_deny_the_metadata_service(unit: str) -> None:
    files = {f.path: f for f in templates.app_files(SETTINGS)}
    text = files[f"/etc/systemd/system/{unit}"].content
    assert "\nIPAddressAllow=localhost\nIPAddressDeny=any\n" in text  # metadata included


# --- the app's own account, apart from deploy ---------------------------------------------


def test_app_user_is_a_system_account_without_login_or_home() -> None:
    argv = shlex.split(app_user_command(SETTINGS))
    assert argv[0] == "useradd" and argv[-1] == "shipways-app"
    assert argv[argv.index("--shell") + 1] == "/usr/sbin/nologin"
    assert "--no-create-home" in argv and "--system" in argv
    assert argv[argv.index("--home-dir") + 1] == "/nonexistent"


def test_the_app_account_owns_the_socket_and_runs_the_units() -> None:
    files = {f.path: f for f in templates.app_files(SETTINGS)}
    socket = files["/etc/systemd/system/shipways.socket"].content
    assert "\nSocketUser=shipways-app\n" in socket
    for unit in ("shipways.service", "shipways-candidate.service"):
        text = files[f"/etc/systemd/system/{unit}"].content
        assert "\nUser=shipways-app\nGroup=shipways-app\n" in text
        assert "User=deploy" not in text
    config = files[SETTINGS.layout.gunicorn_config]
    assert (config.owner, config.group, config.mode) == ("root", "shipways-app", 0o640)


def test_sudo_rules_stay_with_deploy_and_only_fixed_operations() -> None:
    rules = next(f for f in templates.helper_files(SETTINGS) if f.path.startswith("/etc/sudoers"))
    grants = [line for line in rules.content.splitlines() if "NOPASSWD" in line]
    assert [g.split()[0] for g in grants] == ["deploy"]  # the app account has no rule
    assert "shipways-app" not in rules.content.split("Cmnd_Alias", 1)[1]


def test_deploy_learns_the_running_release_without_reading_the_apps_process() -> None:
    """The master's cwd is private to the app user: the live unit notes its release instead."""
    files = {f.path: f for f in templates.app_files(SETTINGS)}
    live = files["/etc/systemd/system/shipways.service"].content
    note = "ExecStartPre=+/bin/sh -c 'umask 022 && readlink -f /srv/shipways/current > "
    assert note + "/run/shipways/running-release'" in live
    assert "ExecStartPre" not in files["/etc/systemd/system/shipways-candidate.service"].content


# --- the scanners' allow-list ---------------------------------------------------------------


def test_allowlist_gives_a_reason_for_every_entry() -> None:
    allow = vps_scanners.load_allowlist()
    assert set(allow) == set(vps_scanners.SCANNERS)
    assert all(len(r.split()) >= 5 for entries in allow.values() for r in entries.values())


def test_allowlist_refuses_an_entry_without_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text("sslyze:\n  certificate_path_validation: ok\n")
    with pytest.raises(vps_scanners.ScanError, match="needs a reason"):
        vps_scanners.load_allowlist(path)


def test_only_allow_listed_findings_are_explained_and_stale_entries_show() -> None:
    report = vps_scanners.ScanReport(
        "sslyze",
        "127.0.0.1:443",
        15,
        [vps_scanners.Finding("a", "x"), vps_scanners.Finding("b", "y")],
        {"a": "a reason in a sentence", "gone": "a fixed finding's old reason"},
    )
    assert [f.id for f in report.explained] == ["a"]
    assert [f.id for f in report.unexplained] == ["b"]
    assert report.stale == ["gone"]
    assert report.to_json()["unexplained"] == ["b: y"]


def test_systemd_analyze_sees_the_rendered_units_all_explained(tmp_path: Path) -> None:
    """systemd-analyze (offline) on the units provision writes: nothing unexplained."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (package systemd)")
    units = vps_scanners.render_units(SETTINGS, tmp_path)
    assert sorted(u.name for u in units) == ["shipways-candidate.service", "shipways.service"]
    checked, findings = vps_scanners.systemd_analyze(units, "shipways")
    report = vps_scanners.ScanReport(
        "systemd-analyze",
        "units",
        checked,
        findings,
        vps_scanners.load_allowlist()["systemd-analyze"],
    )
    assert checked > 100
    assert report.unexplained == [] and report.stale == [], report.to_json()
