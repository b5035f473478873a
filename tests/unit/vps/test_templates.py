"""The files provision puts on a server, rendered here and checked for what they promise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from shipways_app import auth
from shipways_fabric import templates, write_token
from shipways_fabric.settings import Settings, settings_from

pytestmark = pytest.mark.unit

SETTINGS = settings_from({"tlsNames": ["localhost", "127.0.0.1"]})


def _files(settings: Settings = SETTINGS) -> dict[str, templates.ManagedFile]:
    files = templates.app_files(settings) + templates.helper_files(settings)
    files += list(templates.system_files(settings, ("admin", "deploy")).values())
    return {f.path: f for f in files}


def _site(**kwargs: object) -> str:
    options = {"certificate": "/c.pem", "certificate_key": "/k.pem", "redirect_http": False}
    return templates.nginx_site(SETTINGS, **{**options, **kwargs})  # type: ignore[arg-type]


def _directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("unit", ["shipways.service", "shipways-candidate.service"])
def test_app_units_are_sandboxed_and_run_as_the_app_user(unit: str) -> None:
    d = _directives(_files()[f"/etc/systemd/system/{unit}"].content)
    assert d["Type"] == ["notify"] and d["User"] == d["Group"] == ["shipways-app"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "SystemCallErrorNumber": "EPERM",
    }.items():
        assert d[key] == [value], key
    assert "ReadWritePaths" not in d  # nothing on disk is writable for the app
    assert d["EnvironmentFile"] == ["/etc/shipways/app.env", "/etc/shipways/database.env"]


@pytest.mark.parametrize("unit", ["shipways.service", "shipways-candidate.service"])
def test_app_units_get_the_write_token_as_a_systemd_credential(unit: str) -> None:
    """Root's 0600 file, copied by systemd into the service's $CREDENTIALS_DIRECTORY under
    the name the app looks for; no unit or environment file names the token itself."""
    d = _directives(_files()[f"/etc/systemd/system/{unit}"].content)
    assert d["LoadCredential"] == [f"{auth.CREDENTIAL_NAME}:/etc/credstore/shipways.write-token"]
    assert SETTINGS.layout.write_token_file == "/etc/credstore/shipways.write-token"
    assert write_token.CREDENTIAL == auth.CREDENTIAL_NAME
    assert not any("WRITE_TOKEN" in f.content for f in _files().values())


def test_live_unit_reloads_with_hup_and_candidate_uses_the_side_socket() -> None:
    files = _files()
    live = _directives(files["/etc/systemd/system/shipways.service"].content)
    side = _directives(files["/etc/systemd/system/shipways-candidate.service"].content)
    assert live["ExecReload"] == ["/bin/kill -s HUP $MAINPID"]
    assert live["Requires"] == ["shipways.socket"] and live["KillMode"] == ["mixed"]
    assert live["ExecStart"][0].startswith("/srv/shipways/current/venv/bin/python -m gunicorn")
    assert side["ExecStart"][0].endswith("--bind unix:/run/shipways-candidate/gunicorn.sock")
    assert side["Environment"] == [
        "SHIPWAYS_RELEASE_DIR=/srv/shipways/candidate",
        "WEB_CONCURRENCY=1",
    ]
    assert "@chown" in side["SystemCallFilter"] and "@chown" not in live["SystemCallFilter"]


def test_socket_only_nginx_and_the_app_can_connect() -> None:
    d = _directives(_files()["/etc/systemd/system/shipways.socket"].content)
    assert d["ListenStream"] == ["/run/shipways/gunicorn.sock"]
    assert (d["SocketUser"], d["SocketGroup"], d["SocketMode"]) == (
        ["shipways-app"],
        ["www-data"],
        ["0660"],
    )


def test_gunicorn_config_reads_the_release_it_runs(tmp_path: Path) -> None:
    """Execute the rendered config as gunicorn would, against a release directory."""
    release = tmp_path / "release"
    release.mkdir()
    (release / "release.env").write_text(
        "APP_MODULE=pkg.mod:app\nSHIPWAYS_GIT_SHA=20260101T000000Z-abc\n# comment\n"
    )
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(_files()["/etc/shipways/gunicorn.conf.py"].content)
    probe = (
        "import runpy, json, sys; c = runpy.run_path(sys.argv[1]); "
        "print(json.dumps({k: c[k] for k in ('wsgi_app', 'raw_env', 'workers', 'worker_class')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(config)],
        env={**os.environ, "SHIPWAYS_RELEASE_DIR": str(release), "WEB_CONCURRENCY": "3"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"wsgi_app": "pkg.mod:app"' in out
    assert '"raw_env": ["SHIPWAYS_GIT_SHA=20260101T000000Z-abc"]' in out
    assert '"workers": 3' in out and "uvicorn_worker.UvicornWorker" in out


def test_nginx_site_proxies_to_the_socket_with_hardened_defaults() -> None:
    site = _site()
    assert "server unix:/run/shipways/gunicorn.sock max_fails=0;" in site
    assert "proxy_next_upstream error;" in site


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_nginx_tries_the_socket_once_more_than_there_are_workers(workers: int) -> None:
    """Each stopping worker can drop one attempt during a reload: one more always lands."""
    site = templates.nginx_site(
        SETTINGS.model_copy(update={"web_concurrency": workers}),
        certificate="/c.pem",
        certificate_key="/k.pem",
        redirect_http=False,
    )
    assert site.count("server unix:/run/shipways/gunicorn.sock max_fails=0 backup;") == workers
    assert f"proxy_next_upstream_tries {workers + 1};" in site
    assert site.count("server_tokens off;") == 2
    assert "limit_req_zone $shipways_rate_key zone=shipways_requests:10m rate=50r/s;" in site
    assert "limit_req zone=shipways_requests burst=100 nodelay;" in site
    assert "limit_req_status 429;" in site
    assert "client_max_body_size 1m;" in site and "gzip on;" in site
    assert "log_format shipways_json escape=json" in site
    assert "access_log /var/log/nginx/shipways.access.log shipways_json;" in site
    for timeout in ("proxy_connect_timeout 5s;", "proxy_read_timeout 35s;"):
        assert timeout in site
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site  # replaced, not appended
    assert re.search(r"ssl_protocols TLSv1\.2 TLSv1\.3;", site)
    assert "127.0.0.1/32 1;" in site and "::1/128 1;" in site  # rate-limit exemptions


def test_hsts_only_over_https_and_http_redirects_only_with_a_trusted_certificate() -> None:
    plain, https = _site().split("listen 443", 1)
    assert "Strict-Transport-Security" not in plain.split("server {", 2)[-1]
    assert "add_header Strict-Transport-Security $shipways_hsts always;" in https
    assert "return 301" not in _site()
    redirected = _site(redirect_http=True).split("listen 443", 1)[0]
    assert "return 301 https://$host$request_uri;" in redirected
    assert "/.well-known/acme-challenge/" in redirected


def test_security_headers_never_duplicate_the_apps() -> None:
    site = _site()
    for header, var in (
        ("X-Content-Type-Options", "$shipways_xcto"),
        ("X-Frame-Options", "$shipways_xfo"),
        ("Content-Security-Policy", "$shipways_csp"),
    ):
        assert f"add_header {header} {var} always;" in site
    assert 'map $upstream_http_x_frame_options $shipways_xfo { "" "DENY"; default ""; }' in site


def test_sudoers_grant_only_the_fixed_operations() -> None:
    rules = _files()["/etc/sudoers.d/shipways"]
    assert rules.mode == 0o440 and rules.precheck == "visudo -cq -f {path}"
    grant = [line for line in rules.content.splitlines() if line.startswith("deploy ")]
    assert grant == ["deploy ALL=(root) NOPASSWD: SHIPWAYS_CTL, SHIPWAYS_LOGS, SHIPWAYS_AUDIT"]
    assert " ALL\n" not in rules.content and "NOPASSWD: ALL" not in rules.content
    assert "/usr/local/sbin/shipways-ctl reload, /usr/local/sbin/shipways-ctl restart" in (
        rules.content
    )
    assert '/usr/local/sbin/shipways-audit ""' in rules.content  # no arguments at all


def test_sshd_keys_only_no_root_two_accounts() -> None:
    sshd = _files()["/etc/ssh/sshd_config.d/00-shipways.conf"].content
    for line in (
        "PermitRootLogin no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AuthenticationMethods publickey",
        "AllowUsers admin deploy",
        "X11Forwarding no",
    ):
        assert f"\n{line}\n" in sshd


def test_firewall_drops_all_but_ssh_http_https(tmp_path: Path) -> None:
    rules = _files()["/etc/nftables.conf"]
    assert "policy drop;" in rules.content
    assert "tcp dport { 22, 80, 443 } accept" in rules.content
    assert "flush ruleset" not in rules.content  # other tables (e.g. Docker's) survive
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed here; the syntax check runs on the server")
    path = tmp_path / "nftables.conf"
    path.write_text(rules.content)
    check = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_unattended_upgrades_and_log_retention() -> None:
    files = _files()
    upgrades = files["/etc/apt/apt.conf.d/20auto-upgrades"].content
    assert 'APT::Periodic::Unattended-Upgrade "1";' in upgrades
    assert 'APT::Periodic::Update-Package-Lists "1";' in upgrades
    assert "/var/log/shipways/*.log {" in files["/etc/logrotate.d/shipways"].content
    assert "SystemMaxUse=500M" in files["/etc/systemd/journald.conf.d/shipways.conf"].content


def test_app_env_holds_no_secret_and_extra_values() -> None:
    settings = settings_from({"env": {"SHIPWAYS_LOG_LEVEL": "DEBUG"}})
    env = templates.app_env(settings)
    assert "SHIPWAYS_TARGET=vps\n" in env and "SHIPWAYS_LOG_LEVEL=DEBUG\n" in env
    assert "DATABASE_URL" not in env
    managed = {f.path: f for f in templates.app_files(settings)}["/etc/shipways/app.env"]
    assert (managed.owner, managed.group, managed.mode) == ("root", "shipways-app", 0o640)


@pytest.fixture
def journal_script(tmp_path: Path) -> Path:
    """The rendered journal wrapper, with a fake `journalctl` that prints its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "journalctl"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    script = tmp_path / "journal.sh"
    script.write_text(_files()["/usr/local/sbin/shipways-journal"].content)
    return script


def _journal(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{script.parent / 'bin'}:/usr/bin:/bin"}
    return subprocess.run(["sh", str(script), *args], env=env, capture_output=True, text=True)


def test_journal_wrapper_reads_only_the_app_units(journal_script: Path) -> None:
    out = _journal(journal_script, "--lines", "7", "--follow").stdout.split()
    assert out == [
        "--no-pager",
        "--output=short-iso",
        "--unit=shipways.service",
        "--lines=7",
        "--follow",
    ]
    side = _journal(journal_script, "--candidate").stdout.split()
    assert "--unit=shipways-candidate.service" in side and "--unit=shipways.service" not in side


@pytest.mark.parametrize("args", [["--lines", "5; rm -rf /"], ["--unit=ssh.service"], ["-f"]])
def test_journal_wrapper_refuses_other_arguments(journal_script: Path, args: list[str]) -> None:
    result = _journal(journal_script, *args)
    assert result.returncode == 2 and not result.stdout


def test_audit_stamps_time_and_account_itself(tmp_path: Path) -> None:
    log = tmp_path / "deploys.log"
    script = tmp_path / "audit.py"
    source = _files()["/usr/local/sbin/shipways-audit"].content
    script.write_text(source.replace('LOG = "/var/log/shipways/deploys.log"', f'LOG = "{log}"'))
    forged = '{"event": "deploy", "time": "1999-01-01", "account": "root", "release": "r1"}'
    env = {"SUDO_USER": "deploy", "PATH": os.environ["PATH"]}
    subprocess.run(["python3", "-I", str(script)], input=forged, env=env, check=True, text=True)
    bad = subprocess.run(
        ["python3", "-I", str(script)], input="not json", env=env, text=True, capture_output=True
    )
    record = log.read_text().splitlines()
    assert len(record) == 1 and bad.returncode != 0
    assert '"account": "deploy"' in record[0] and "1999" not in record[0]
    assert '"release": "r1"' in record[0]


def test_a_domain_brings_lets_encrypt() -> None:
    from shipways_fabric.provision import certbot_command, packages_for

    settings = settings_from({"domain": "api.example.com", "letsencryptEmail": "ops@example.com"})
    assert "certbot" in packages_for(settings) and "certbot" not in packages_for(SETTINGS)
    command = certbot_command(settings)
    for part in (
        "certbot certonly --webroot --non-interactive --agree-tos",
        "--webroot-path /var/www/letsencrypt",
        "--domain api.example.com",
        "--email ops@example.com",
        "--keep-until-expiring",
    ):
        assert part in command
    assert settings.server_names == ("api.example.com",)
    hook = templates.system_files(settings, ())["certbot_hook"]
    assert hook.path == "/etc/letsencrypt/renewal-hooks/deploy/shipways-reload-nginx.sh"
    assert "nginx -t -q" in hook.content and "systemctl reload nginx" in hook.content


def test_host_templates_ship_in_the_package_and_the_nginx_site_in_nginx() -> None:
    from importlib.resources import files

    from infra.paths import NGINX_DIR

    shipped = {p.name for p in files("shipways_fabric").joinpath("templates").iterdir()}
    assert {"gunicorn.service.j2", "sshd.conf.j2", "sudoers.j2", "ctl.sh.j2"} <= shipped
    assert templates.DEFAULT_NGINX_TEMPLATES == NGINX_DIR
    assert sorted(p.name for p in NGINX_DIR.iterdir()) == ["site.conf.j2"]


def test_the_nginx_templates_directory_comes_from_the_settings(tmp_path: Path) -> None:
    (tmp_path / "site.conf.j2").write_text("server_name {{ settings.server_names[0] }};\n")
    own = settings_from({"nginxTemplates": str(tmp_path), "domain": None})
    site = templates.nginx_site(own, certificate="/c", certificate_key="/k", redirect_http=False)
    assert site == "server_name localhost;\n"
    missing = settings_from({"nginxTemplates": str(tmp_path / "absent")})
    with pytest.raises(templates.TemplateError, match="set `nginxTemplates` in the settings"):
        templates.nginx_site(missing, certificate="/c", certificate_key="/k", redirect_http=False)
