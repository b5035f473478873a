"""The API Gateway double's placement and alias, without containers: which instance takes an
invocation (warm first, a cold start only when requests overlap, a bound at the cap), and
that moving the alias sends new invocations to the new version while old ones finish."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from infra.targets.serverless.gateway import Gateway, Instance, Router
from infra.targets.serverless.service import Routes

pytestmark = pytest.mark.unit


def _router(tmp_path: Path, versions: dict[str, list[str]], alias: str | None) -> Router:
    Routes(versions, alias).write(tmp_path)
    router = Router(str(tmp_path / "routes.json"), wait_s=0.2, log=lambda _line: None)
    router.reload()
    return router


def test_sequential_requests_stay_on_one_warm_instance(tmp_path: Path) -> None:
    router = _router(tmp_path, {"1": ["a:9000", "b:9000", "c:9000"]}, "1")
    for _ in range(5):
        acquired = router.acquire(None)
        assert acquired is not None
        version, instance = acquired
        assert instance.address == "a:9000"
        router.release(version, instance, answered=True)
    assert router.state()["cold_starts"] == 1


def test_overlapping_requests_start_more_instances_up_to_the_cap(tmp_path: Path) -> None:
    router = _router(tmp_path, {"1": ["a:9000", "b:9000"]}, "1")
    first, second = router.acquire(None), router.acquire(None)
    assert first is not None and second is not None
    assert {first[1].address, second[1].address} == {"a:9000", "b:9000"}
    assert router.state()["cold_starts"] == 2
    assert router.acquire(None) is None  # at the cap: throttled after the bounded wait
    assert router.state()["versions"]["1"]["in_flight"] == 2


def test_a_waiting_request_takes_the_instance_that_frees_up(tmp_path: Path) -> None:
    router = _router(tmp_path, {"1": ["a:9000"]}, "1")
    router.wait_s = 5
    held = router.acquire(None)
    assert held is not None
    got: list[str] = []
    waiter = threading.Thread(target=lambda: got.append(router.acquire(None)[1].address))  # type: ignore[index]
    waiter.start()
    router.release(*held, answered=True)
    waiter.join(timeout=5)
    assert got == ["a:9000"]


def test_the_alias_moves_new_requests_while_the_old_one_finishes(tmp_path: Path) -> None:
    router = _router(tmp_path, {"1": ["a:9000"]}, "1")
    in_flight = router.acquire(None)
    assert in_flight is not None and in_flight[0].number == "1"
    Routes({"1": ["a:9000"], "2": ["b:9000"]}, "2").write(tmp_path)
    router.reload()
    after = router.acquire(None)
    assert after is not None and after[0].number == "2"
    assert router.state()["versions"]["1"]["in_flight"] == 1  # what the sandbox drains on
    router.release(*in_flight, answered=True)
    assert router.state()["versions"]["1"]["in_flight"] == 0


def test_qualifiers_name_a_version_and_latest_is_the_newest(tmp_path: Path) -> None:
    router = _router(tmp_path, {"9": ["a:9000"], "10": ["b:9000"]}, "9")
    for qualifier, expected in (("10", "10"), ("$LATEST", "10"), ("live", "9"), (None, "9")):
        acquired = router.acquire(qualifier)
        assert acquired is not None and acquired[0].number == expected
        router.release(*acquired, answered=True)
    with pytest.raises(LookupError, match="no version 11"):
        router.acquire("11")


def test_routes_file_is_readable_json_without_secrets(tmp_path: Path) -> None:
    Routes({"1": ["fn-v1-0:9000"], "2": ["fn-v2-0:9000"]}, "1", {"2": 0.1}).write(tmp_path)
    assert json.loads((tmp_path / "routes.json").read_text()) == {
        "versions": {"1": ["fn-v1-0:9000"], "2": ["fn-v2-0:9000"]},
        "alias": "1",
        "weights": {"2": 0.1},
    }
    assert (tmp_path / "routes.json").stat().st_mode & 0o777 == 0o644
    assert Routes.read(tmp_path) == Routes(
        {"1": ["fn-v1-0:9000"], "2": ["fn-v2-0:9000"]}, "1", {"2": 0.1}
    )


@pytest.mark.parametrize(
    ("error_type", "stays_warm"),
    [("ValueError", True), ("Runtime.InitError", False), ("Sandbox.Timedout", False)],
)
def test_only_a_reset_runtime_makes_the_next_invocation_a_cold_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error_type: str, stays_warm: bool
) -> None:
    router = _router(tmp_path, {"1": ["a:9000"]}, "1")
    gateway = Gateway(router, "fn", "api", timeout_s=1)
    failed = json.dumps({"errorType": error_type, "errorMessage": "e2e"}).encode()
    answers = iter([(200, {}, b"{}"), (200, {"x-amz-function-error": "Unhandled"}, failed)])
    monkeypatch.setattr(Instance, "invoke", lambda *_args: next(answers))
    assert gateway.invoke(b"{}").status == 200
    assert gateway.invoke(b"{}").headers == {"x-amz-function-error": "Unhandled"}
    assert router.state()["versions"]["1"]["instances"]["a:9000"]["warm"] is stays_warm


def test_a_weighted_alias_sends_the_additional_version_its_share_evenly(tmp_path: Path) -> None:
    Routes({"1": ["a:9000"], "2": ["b:9000"]}, "1", {"2": 0.1}).write(tmp_path)
    router = Router(str(tmp_path / "routes.json"), wait_s=0.2, log=lambda _line: None)
    assert router.reload()["weights"] == {"2": 0.1}
    picked = []
    for _ in range(100):
        acquired = router.acquire(None)
        assert acquired is not None
        picked.append(acquired[0].number)
        router.release(*acquired, answered=True)
    assert picked.count("2") == 10  # 10% of the alias's requests, exactly
    assert "2" not in picked[:9] and picked[9] == "2"  # spread: every tenth
    direct = router.acquire("1")  # a qualified invocation ignores the alias's weights
    assert direct is not None and direct[0].number == "1"


def test_dropping_the_weight_sends_every_request_back_to_the_alias(tmp_path: Path) -> None:
    router = _router(tmp_path, {"1": ["a:9000"], "2": ["b:9000"]}, "1")
    Routes({"1": ["a:9000"], "2": ["b:9000"]}, "1", {"2": 0.5}).write(tmp_path)
    router.reload()
    numbers = []
    for _ in range(4):
        acquired = router.acquire(None)
        assert acquired is not None
        numbers.append(acquired[0].number)
        router.release(*acquired, answered=True)
    assert numbers.count("2") == 2
    Routes({"1": ["a:9000"], "2": ["b:9000"]}, "1", {}).write(tmp_path)  # the rollback
    router.reload()
    for _ in range(4):
        acquired = router.acquire(None)
        assert acquired is not None and acquired[0].number == "1"
        router.release(*acquired, answered=True)


def test_answers_and_5xx_are_counted_per_version(tmp_path: Path) -> None:
    router = _router(tmp_path, {"1": ["a:9000"], "2": ["b:9000"]}, "1")
    for number, status in (("1", 200), ("2", 200), ("2", 500), ("2", 502), ("3", 500)):
        router.count(number, status)  # version 3 is not published: nothing to count
    versions = router.state()["versions"]
    assert (versions["1"]["requests"], versions["1"]["server_errors"]) == (1, 0)
    assert (versions["2"]["requests"], versions["2"]["server_errors"]) == (3, 2)
