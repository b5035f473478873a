"""`status` and `logs`: what a server runs now, read as the deploy user (no root needed)."""

from __future__ import annotations

import json
from typing import Any

from fabric import Connection

from shipways_fabric.deploy import as_deploy_user, current_release, releases_on
from shipways_fabric.remote import Remote, server_name
from shipways_fabric.settings import Settings, settings_from


def status(conn: Connection, settings: Settings | dict[str, Any]) -> dict[str, Any]:
    """Current release, releases kept, state of the services, the last audit records."""
    settings = settings_from(settings)
    remote = Remote(as_deploy_user(conn, settings))
    lay = settings.layout
    current = current_release(remote, lay)
    units = [lay.socket_unit, lay.service, "nginx.service", "postgresql.service"]
    services = {}
    for unit in units:
        active = remote.out(f"systemctl is-active {unit} || true")
        enabled = remote.out(f"systemctl is-enabled {unit} 2>/dev/null || true")
        services[unit] = f"{active}, {enabled}"
    records = remote.out(f"tail -n 5 {lay.audit_log} 2>/dev/null || true")
    return {
        "host": server_name(conn),
        "current": current,
        "releases": releases_on(remote, lay),
        "services": services,
        "last_deploys": [json.loads(line) for line in records.splitlines() if line.strip()],
    }


def logs(
    conn: Connection, settings: Settings | dict[str, Any], follow: bool = False, lines: int = 50
) -> None:
    """Print the app service's journal (and keep following it with `follow`) on stdout."""
    settings = settings_from(settings)
    deploy_conn = as_deploy_user(conn, settings)
    command = f"sudo -n {settings.layout.journal} --lines {int(lines)}"
    deploy_conn.run(command + (" --follow" if follow else ""), hide=False, in_stream=False)
