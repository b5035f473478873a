"""Third-party scanners against a real local VPS, and the deploy-user-to-root path closed.

One systemd container (`shipways-test-vps-scan`) is provisioned and deployed like a real
server; sslyze (Mozilla intermediate), ssh-audit and `systemd-analyze security` judge it, and
every finding must be explained by the committed allow-list. Then the deploy user plants a
symlink where root used to copy a file, and a new provision must not write through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import shipways_fabric
from rich.console import Console

from infra.config import read_stack
from infra.proof import vps_scanners
from infra.sandbox import ensure_engine, exec_checked
from infra.targets.vps.sandbox import ADMIN, Access, VpsSandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

INSTANCE = "shipways-test-vps-scan"
console = Console(stderr=True)


@pytest.fixture(scope="module")
def box() -> Iterator[VpsSandbox]:
    sandbox = VpsSandbox(INSTANCE, health_timeout_s=20)
    sandbox.down(console)  # a leftover from a crashed run: start from a fresh server
    sandbox.up(console, stack=read_stack("vps"))
    yield sandbox
    sandbox.down(console)


@pytest.fixture(scope="module")
def access(box: VpsSandbox) -> Access:
    found = box.access()
    assert found is not None
    return found


@pytest.fixture(scope="module")
def reports(
    box: VpsSandbox, access: Access, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, vps_scanners.ScanReport]:
    found = vps_scanners.scan_vps(
        host="127.0.0.1",
        https_port=access.https_port,
        ssh_port=access.ssh_port,
        settings=box.settings(),
        scratch=tmp_path_factory.mktemp("scan"),
    )
    for report in found:
        console.print(report.to_json())
    return {r.scanner: r for r in found}


def test_sslyze_finds_the_tls_setup_mozilla_intermediate(
    reports: dict[str, vps_scanners.ScanReport],
) -> None:
    report = reports["sslyze"]
    assert report.checked > 0
    assert report.unexplained == [], [str(f) for f in report.unexplained]
    # Only the self-signed certificate's trust is allow-listed: ciphers, curves, versions
    # and the certificate's lifespan are judged and pass.
    assert {f.id for f in report.findings} <= {"certificate_path_validation"}
    assert report.stale == []


def test_ssh_audit_fails_no_algorithm(reports: dict[str, vps_scanners.ScanReport]) -> None:
    report = reports["ssh-audit"]
    assert report.checked >= 4  # at least one key exchange, host key, cipher and MAC
    assert report.unexplained == [], [str(f) for f in report.unexplained]
    assert report.stale == [], report.stale
    # What stays is the curve25519 key exchange Fabric needs, warned about (no post-quantum
    # protection), never failed.
    assert not [f for f in report.findings if "fail:" in f.detail], report.findings


def test_systemd_analyze_exposure_is_all_explained(
    reports: dict[str, vps_scanners.ScanReport],
) -> None:
    report = reports["systemd-analyze"]
    assert report.checked > 100  # two units, ~80 checks each
    assert report.unexplained == [], [str(f) for f in report.unexplained]
    assert report.stale == [], report.stale


def test_root_never_writes_through_a_symlink_the_deploy_user_planted(
    box: VpsSandbox, access: Access
) -> None:
    """The deploy user plants a link where provision keeps its backup copy of a file it
    manages for that user, then changes the file so provision rewrites it: the root-owned
    canary the link points to must stay as it was."""
    container = ensure_engine().containers.get(INSTANCE)
    canary = "/etc/shipways-canary"
    exec_checked(container, ["sh", "-c", f"echo canary > {canary} && chmod 600 {canary}"])
    keys = "/home/deploy/.ssh/authorized_keys"
    exec_checked(
        container,
        [
            "runuser",
            "-u",
            "deploy",
            "--",
            "sh",
            "-c",
            f"ln -sfn {canary} {keys}.shipways-old && echo '# drift' >> {keys}",
        ],
    )
    settings: Any = box.settings()
    conn = access.connection(ADMIN)
    try:
        again = shipways_fabric.provision(conn, settings)
    finally:
        conn.close()
    assert any(keys in change for change in again.changed), again.changed
    canary_now = exec_checked(container, ["stat", "-c", "%U:%G:%a", canary]).strip()
    assert canary_now == "root:root:600"
    assert exec_checked(container, ["cat", canary]).strip() == "canary"
    assert "# drift" not in exec_checked(container, ["cat", keys])
