"""The measurement pass: bounded by its budget, a failed figure is said and skipped, and a
rollback only ever undoes the redeploy the pass just made."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from infra.config import K8sConfig, LoadedStack, ServerlessConfig
from infra.loadgen import LoadError
from infra.measure_pass import Pass
from infra.paths import APP_DIR
from infra.sandbox.errors import SandboxError
from infra.sandbox.narrate import Narrator
from infra.targets import BuiltArtifact, Endpoint, TargetName
from infra.targets.k8s import manifests, pod
from infra.targets.serverless import spec
from infra.targets.serverless.sandbox import release_id
from infra.testing.releases import INIT
from infra.testing.versions import VersionServer, refused_url

pytestmark = pytest.mark.unit

ENDPOINT = Endpoint(target=TargetName.PAAS, url="http://127.0.0.1:40123")


def _pass(budget: float, ran: list[str], failing: str = "") -> tuple[Pass, Console]:
    console = Console(record=True, width=100)
    box: Any = SimpleNamespace(name=TargetName.PAAS, endpoint=lambda: ENDPOINT)
    baselines: Any = SimpleNamespace(of=lambda workers: {})
    stack: Any = SimpleNamespace(target=TargetName.PAAS, config=SimpleNamespace(web_concurrency=2))
    measuring = Pass(box, stack, Narrator(console, "paas"), console, baselines, budget)
    for name in ("load", "memory", "build", "redeploy", "rollback"):

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
    assert ran == ["load", "memory", "build", "redeploy", "rollback"]


def test_a_spent_budget_skips_the_rest_and_says_so() -> None:
    ran: list[str] = []
    measuring, console = _pass(0, ran)
    measuring.run(ENDPOINT)
    assert ran == []
    said = console.export_text()
    assert "budget of 0s spent: load, memory, build, redeploy, rollback skipped" in said


def test_a_failed_figure_is_said_and_the_pass_goes_on() -> None:
    ran: list[str] = []
    measuring, console = _pass(60, ran, failing="load")
    measuring.run(ENDPOINT)
    assert ran == ["load", "memory", "build", "redeploy", "rollback"]
    assert "load     not measured: wrk gave no result" in console.export_text()


def test_no_rollback_without_the_redeploy_it_undoes() -> None:
    ran: list[str] = []
    measuring, _ = _pass(60, ran, failing="redeploy")
    measuring.run(ENDPOINT)
    assert ran == ["load", "memory", "build", "redeploy"]


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


def test_memory_of_a_paas_environment_is_every_instance_not_its_front_door(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("infra.measure_pass.process_tree_memory_bytes", lambda pid: pid * 2**20)
    measuring, _ = _pass(60, [])
    recorded: list[tuple[str, float, str]] = []
    monkeypatch.setattr(measuring, "_record", lambda *figure: recorded.append(figure))
    endpoint = Endpoint(
        target=TargetName.PAAS,
        url="http://127.0.0.1:40123",
        extra={"container": "door", "pid": 2, "pids": [2, 3]},
    )
    assert Pass.memory(measuring, endpoint) == "5.0 MiB, 2 instances' processes (RSS)"
    assert recorded == [("memory_mib", 5.0, "MiB")]


def _k8s_revision(config: Any) -> Endpoint:
    """What the k8s stand-in serves for `config`: the revision of its rendered pod template."""
    release = manifests.plain_release(config, "sha256:" + "1" * 64)
    revision = pod.plan(manifests.render(config, release)).web.revision
    return Endpoint(target=TargetName.K8S, url=ENDPOINT.url, extra={"revision": revision})


def _lambda_release(config: Any) -> Endpoint:
    """What the Lambda stand-in serves for `config`: the release of the same zip with the
    version's configuration."""
    settings = spec.app_environment(config, has_database=True, git_sha="abc")
    release = release_id("a" * 64, settings)
    return Endpoint(target=TargetName.SERVERLESS, url=ENDPOINT.url, extra={"release": release})


@pytest.mark.parametrize(
    ("stack", "serving"),
    [
        (LoadedStack("k8s", TargetName.K8S, K8sConfig(clusterMode="kind")), _k8s_revision),
        (LoadedStack("serverless", TargetName.SERVERLESS, ServerlessConfig()), _lambda_release),
    ],
    ids=["k8s", "serverless"],
)
def test_the_warm_redeploy_is_a_new_release_and_both_figures_are_recorded(
    monkeypatch: pytest.MonkeyPatch, stack: LoadedStack, serving: Any
) -> None:
    """The redeploy stamps the stack's `env`: a new revision (k8s) or version (Lambda) of
    the same code, so the comparison's warm deploy and rollback cells get a figure; both run
    under a request loop through the front door, whose failures are counted."""
    door = VersionServer()
    before = serving(stack.config).model_copy(update={"url": door.url})
    deployed: list[LoadedStack] = []

    def up(console: Console, stack: LoadedStack) -> Endpoint:
        deployed.append(stack)
        return serving(stack.config).model_copy(update={"url": door.url})

    box: Any = SimpleNamespace(
        name=stack.target, up=up, rollback=lambda console, release: before.extra
    )
    console = Console(record=True)
    baselines: Any = SimpleNamespace(of=lambda workers: {})
    measuring = Pass(box, stack, Narrator(console, stack.target.value), console, baselines)
    recorded: list[tuple[str, float, str]] = []
    monkeypatch.setattr(measuring, "_record", lambda *figure: recorded.append(figure))
    with door:
        measuring.redeploy(before)
        measuring.rollback(before)
    [changed] = deployed
    assert set(changed.config.env) == {"SHIPWAYS_DEPLOYED_AT"}  # type: ignore[attr-defined]
    assert [metric for metric, _, _ in recorded] == [
        "warm_deploy_seconds",
        "redeploy_switch_seconds",
        "redeploy_failed_requests",
        "rollback_seconds",
        "rollback_failed_requests",
    ]
    assert [value for metric, value, _ in recorded if metric.endswith("failed_requests")] == [0, 0]
    assert door.served >= 2  # the loops really sent their requests


def test_requests_refused_during_the_redeploy_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens behind this address: every request of the loop fails, and says so."""
    stack = LoadedStack("k8s", TargetName.K8S, K8sConfig(clusterMode="kind"))
    gone = refused_url()
    before = _k8s_revision(stack.config).model_copy(update={"url": gone})
    box: Any = SimpleNamespace(
        name=stack.target,
        up=lambda console, stack: _k8s_revision(stack.config).model_copy(update={"url": gone}),
    )
    console = Console(record=True)
    baselines: Any = SimpleNamespace(of=lambda workers: {})
    measuring = Pass(box, stack, Narrator(console, "k8s"), console, baselines)
    recorded: dict[str, float] = {}
    monkeypatch.setattr(
        measuring, "_record", lambda metric, value, unit: recorded.update({metric: value})
    )
    said = measuring.redeploy(before)
    assert recorded["redeploy_failed_requests"] > 0
    assert f"{recorded['redeploy_failed_requests']} of" in said


class Builder:
    """A sandbox's `build_artifact` that writes what it builds where it is told to."""

    def __init__(self, form: str) -> None:
        self.form = form
        self.calls: list[dict[str, Any]] = []

    def build_artifact(
        self, work: Path, progress: Any, *, stack: Any, changes: dict[str, bytes]
    ) -> BuiltArtifact:
        self.calls.append({"work": work, "stack": stack, "changes": changes})
        progress("building")
        (work / "built.zip").write_bytes(b"zip")
        location = "shipways/app:app-rebuilt" if self.form == "image" else str(work / "built.zip")
        return BuiltArtifact("k8s image shipways/app:app-rebuilt (1 layer)", self.form, location)  # type: ignore[arg-type]


def _build_pass(builder: Builder) -> tuple[Pass, list[tuple[str, float, str]]]:
    console = Console(record=True, width=100)
    box: Any = SimpleNamespace(
        name=TargetName.K8S, endpoint=lambda: ENDPOINT, build_artifact=builder.build_artifact
    )
    baselines: Any = SimpleNamespace(of=lambda workers: {})
    stack: Any = SimpleNamespace(target=TargetName.K8S, config=SimpleNamespace(web_concurrency=2))
    measuring = Pass(box, stack, Narrator(console, "k8s"), console, baselines)
    recorded: list[tuple[str, float, str]] = []
    measuring._record = lambda *figure: recorded.append(figure)  # type: ignore[method-assign]
    return measuring, recorded


def test_the_rebuild_is_a_code_change_built_by_the_target_and_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The box builds the app with one file changed (the same change the zero-downtime tests
    deploy), in a scratch directory that is gone afterwards; the time is the rebuild figure."""
    builder = Builder("zip")
    measuring, recorded = _build_pass(builder)
    said = measuring.build(ENDPOINT)
    [call] = builder.calls
    assert call["stack"] is measuring.stack
    assert list(call["changes"]) == [INIT]
    assert call["changes"][INIT].startswith((APP_DIR / INIT).read_bytes())
    assert call["changes"][INIT] != (APP_DIR / INIT).read_bytes()
    assert not call["work"].exists()  # what was built went with the scratch directory
    [(metric, seconds, unit)] = recorded
    assert (metric, unit) == ("rebuild_seconds", "s") and seconds >= 0
    assert said == f"k8s image shipways/app:app-rebuilt rebuilt for a code change in {seconds:.1f}s"


def test_a_rebuilt_image_is_removed_from_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    removed: list[str] = []
    client = SimpleNamespace(images=SimpleNamespace(remove=removed.append))
    monkeypatch.setattr("infra.measure_pass.ensure_engine", lambda: client)
    measuring, recorded = _build_pass(Builder("image"))
    measuring.build(ENDPOINT)
    assert removed == ["shipways/app:app-rebuilt"]
    assert [metric for metric, _, _ in recorded] == ["rebuild_seconds"]


def test_a_build_that_fails_records_nothing_and_the_pass_goes_on() -> None:
    class Failing(Builder):
        def build_artifact(self, work: Path, progress: Any, **_: Any) -> BuiltArtifact:
            raise SandboxError("building shipways/app:app-x failed: no space left on device")

    measuring, recorded = _build_pass(Failing("image"))
    ran: list[str] = []
    for name in ("load", "memory", "redeploy", "rollback"):
        setattr(measuring, name, lambda endpoint, name=name: ran.append(name) or "ok")  # type: ignore[func-returns-value]
    measuring.run(ENDPOINT)
    assert ran == ["load", "memory", "redeploy", "rollback"]
    assert recorded == []
    assert "build    not measured: building shipways/app:app-x failed" in (
        measuring.detail.export_text()
    )
