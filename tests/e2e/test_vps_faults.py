"""The local VPS under faults: killed master, database down, host restarted.

One VPS sandbox for the module (`shipways-test-vps-faults`), removed at the end. Each fault
seeds products first and counts them after recovery: nothing may be lost. Every figure is
recorded (`infra.results`) for `shipways compare`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.console import Console

from infra.config import TargetName, read_stack
from infra.proof.faults import VpsFaults
from infra.sandbox import ensure_engine
from infra.targets import Endpoint, slice_of
from infra.verify import run_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def vps() -> Iterator[tuple[VpsFaults, Endpoint]]:
    box = slice_of(TargetName.VPS).sandbox("shipways-test-vps-faults")
    try:
        endpoint = box.up(QUIET, stack=read_stack("vps"))
        container = ensure_engine().containers.get(str(endpoint.extra["container"]))
        faults = VpsFaults(container, endpoint.url, write_token=box.token())
        yield faults, endpoint
        faults.close()
    finally:
        box.down(QUIET)


def test_killed_master_is_restarted_by_systemd(vps: tuple[VpsFaults, Endpoint]) -> None:
    faults, _ = vps
    result = faults.kill_master()
    assert result.survived, result
    assert result.data_lost == 0
    assert 0 < result.seconds < 30, result.notes  # RestartSec=2 plus gunicorn's start


def test_database_down_is_not_ready_but_alive_and_loses_nothing(
    vps: tuple[VpsFaults, Endpoint],
) -> None:
    faults, _ = vps
    result = faults.database_down()
    assert result.notes[0] == "while down: /readyz 503, /healthz 200, /products 503"
    assert result.survived, result
    assert result.data_lost == 0


def test_restarted_host_comes_back_enabled_and_healthy(vps: tuple[VpsFaults, Endpoint]) -> None:
    faults, _ = vps
    result = faults.restart_host()
    assert result.survived, result
    assert result.data_lost == 0
    assert result.seconds < 180


def test_contract_passes_after_all_faults(vps: tuple[VpsFaults, Endpoint]) -> None:
    faults, endpoint = vps
    report = run_checks(endpoint.url, expect_target="vps", write_token=faults.write_token)
    assert report.ok, report.failed
