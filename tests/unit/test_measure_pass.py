"""The measurement pass: bounded by its budget, a failed figure is said and skipped, and a
rollback only ever undoes the redeploy the pass just made."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from infra.config import LoadedStack
from infra.loadgen import LoadError
from infra.measure_pass import Pass
from infra.sandbox.narrate import Narrator
from infra.targets import Endpoint, TargetName

pytestmark = pytest.mark.unit

ENDPOINT = Endpoint(target=TargetName.PAAS, url="http://127.0.0.1:40123")


def _pass(budget: float, ran: list[str], failing: str = "") -> tuple[Pass, Console]:
    console = Console(record=True, width=100)
    box: Any = SimpleNamespace(name=TargetName.PAAS, endpoint=lambda: ENDPOINT)
    baselines: Any = SimpleNamespace(of=lambda workers: {})
    stack: Any = SimpleNamespace(target=TargetName.PAAS, config=SimpleNamespace(web_concurrency=2))
    measuring = Pass(box, stack, Narrator(console, "paas"), console, baselines, budget)
    for name in ("load", "memory", "redeploy", "rollback"):

        def step(endpoint: Endpoint, name: str = name) -> str:
            ran.append(name)
            if name == failing:
                raise LoadError("wrk gave no result")
            return f"{name} ok"

        setattr(measuring, name, step)
    return measuring, console


def test_every_step_runs_within_the_budget() -> None:
    ran: list[str] = []
    _pass(60, ran)[0].run(ENDPOINT)
    assert ran == ["load", "memory", "redeploy", "rollback"]


def test_a_spent_budget_skips_the_rest_and_says_so() -> None:
    ran: list[str] = []
    measuring, console = _pass(0, ran)
    measuring.run(ENDPOINT)
    assert ran == []
    assert "budget of 0s spent: load, memory, redeploy, rollback skipped" in console.export_text()


def test_a_failed_figure_is_said_and_the_pass_goes_on() -> None:
    ran: list[str] = []
    measuring, console = _pass(60, ran, failing="load")
    measuring.run(ENDPOINT)
    assert ran == ["load", "memory", "redeploy", "rollback"]
    assert "load     not measured: wrk gave no result" in console.export_text()


def test_no_rollback_without_the_redeploy_it_undoes() -> None:
    ran: list[str] = []
    measuring, _ = _pass(60, ran, failing="redeploy")
    measuring.run(ENDPOINT)
    assert ran == ["load", "memory", "redeploy"]


def test_a_redeploy_that_kept_the_release_records_nothing() -> None:
    from infra.targets import NotSupported

    same = Endpoint(target=TargetName.K8S, url=ENDPOINT.url, extra={"revision": "r1"})
    box: Any = SimpleNamespace(name=TargetName.K8S, up=lambda console, stack: same)
    stack = LoadedStack("k8s", TargetName.K8S, SimpleNamespace())  # type: ignore[arg-type]
    console = Console(record=True)
    baselines: Any = SimpleNamespace(of=lambda workers: {})
    measuring = Pass(box, stack, Narrator(console, "k8s"), console, baselines)
    with pytest.raises(NotSupported, match="kept release r1"):
        measuring.redeploy(same)


def test_memory_of_a_target_with_pods_is_every_pod_not_its_front_door(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pids = {"door": 1, "pod-a": 2, "pod-b": 3}
    client = SimpleNamespace(
        containers=SimpleNamespace(
            get=lambda name: SimpleNamespace(attrs={"State": {"Pid": pids[name]}})
        )
    )
    monkeypatch.setattr("infra.measure_pass.ensure_engine", lambda: client)
    monkeypatch.setattr("infra.measure_pass.process_tree_memory_bytes", lambda pid: pid * 2**20)
    measuring, _ = _pass(60, [])
    recorded: list[tuple[str, float, str]] = []
    monkeypatch.setattr(measuring, "_record", lambda *figure: recorded.append(figure))
    endpoint = Endpoint(
        target=TargetName.K8S,
        url="http://127.0.0.1:40123",
        extra={"container": "door", "pods": ["pod-a", "pod-b"]},
    )
    assert Pass.memory(measuring, endpoint) == "5.0 MiB, 2 pods' processes (RSS)"
    assert recorded == [("memory_mib", 5.0, "MiB")]
