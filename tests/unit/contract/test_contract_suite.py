"""The contract, run for real: it passes on SQLite and PostgreSQL, over HTTP and HTTPS, can be
re-run on the same data, and fails - naming the broken rule - against a broken server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from rich.console import Console

from infra.verify import VerifyReport, render, run_checks

pytestmark = pytest.mark.unit

Serve = Callable[..., AbstractContextManager[str]]


@pytest.fixture(scope="module")
def vps_server(serve: Serve) -> Iterator[str]:
    with serve(SHIPWAYS_TARGET="vps", SHIPWAYS_GIT_SHA="0123abc") as url:
        yield url


def _failed(report: VerifyReport) -> dict[str, str]:
    return {r.name: r.message for r in report.results if r.outcome in ("failed", "error")}


def test_contract_passes_on_sqlite_and_reruns(vps_server: str, write_token: str) -> None:
    first = run_checks(vps_server, expect_target="vps", write_token=write_token)
    assert first.ok, _failed(first)
    assert first.passed >= 55 and first.failed == 0
    assert [r.name for r in first.results if r.outcome == "skipped"] == ["test_hsts_over_https"]
    # Same database, more products now.
    second = run_checks(vps_server, expect_target="vps", write_token=write_token)
    assert second.ok, _failed(second)


def test_wrong_target_fails_only_the_version_check(vps_server: str, write_token: str) -> None:
    report = run_checks(vps_server, expect_target="k8s", write_token=write_token)
    assert not report.ok
    failed = _failed(report)
    assert list(failed) == ["test_version"]
    assert "'vps' == 'k8s'" in failed["test_version"]


def test_env_is_applied_for_the_run_and_restored(vps_server: str, write_token: str) -> None:
    assert "SHIPWAYS_EXPECT_TARGET" not in os.environ
    report = run_checks(vps_server, env={"SHIPWAYS_EXPECT_TARGET": "paas"}, write_token=write_token)
    assert list(_failed(report)) == ["test_version"]
    assert "SHIPWAYS_EXPECT_TARGET" not in os.environ


def test_extra_modules_and_args_join_the_run(vps_server: str, tmp_path: Path) -> None:
    extra = tmp_path / "test_target_checks.py"
    extra.write_text(
        "import pytest\n\n"
        "def test_host_side_check(request: pytest.FixtureRequest) -> None:\n"
        "    assert request.config.getoption('--base-url').startswith('http://127.0.0.1:')\n"
    )
    report = run_checks(
        vps_server, extra_modules=[extra], extra_args=["-k", "test_healthz or host_side_check"]
    )
    assert report.ok, _failed(report)
    names = {r.name for r in report.results}
    assert any(name.endswith("test_target_checks.py::test_host_side_check") for name in names)
    assert {"test_healthz", "test_healthz_ignores_host_header"} <= names
    assert len(report.results) == 3


def test_report_json_and_table(vps_server: str) -> None:
    report = run_checks(vps_server, extra_args=["-k", "test_hello or test_hsts"])
    data = json.loads(report.to_json())
    assert data["ok"] is True and data["passed"] == 1 and data["skipped"] == 1
    assert "output" not in data
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    assert "test_hello" in text and "HSTS applies to https only" in text and "OK: 1 passed" in text


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="base URL 'ftp://x' is not valid"):
        run_checks("ftp://x")
    with pytest.raises(ValueError, match="expect_target 'cloud' is not valid"):
        run_checks("http://127.0.0.1:9", expect_target="cloud")
    with pytest.raises(ValueError, match="check modules not found"):
        run_checks("http://127.0.0.1:9", extra_modules=[Path("/nonexistent/test_x.py")])


def test_unreachable_server_fails_every_check_fast() -> None:
    report = run_checks("http://127.0.0.1:9", extra_args=["-k", "test_healthz or test_readyz"])
    assert not report.ok and report.passed == 0 and report.failed == 3
    assert all("ConnectError" in r.message or "onnect" in r.message for r in report.results)


WRITE_CHECKS = {
    "test_create_product_201_with_location",
    "test_created_product_is_listed",
    "test_create_duplicate_name_409",
    "test_create_product_invalid_json_422",
    "test_oversized_body_413",
    "test_oversized_chunked_body_413",
    "test_method_not_allowed_lists_the_allowed_methods",
}


def test_without_the_token_the_write_checks_fail_and_say_why(vps_server: str) -> None:
    report = run_checks(vps_server, expect_target="vps")
    failed = _failed(report)
    assert not report.ok and set(failed) >= WRITE_CHECKS
    assert "pass --write-token TOKEN" in failed["test_create_duplicate_name_409"]
    auth = {"test_write_without_token_401", "test_anonymous_writes_leave_no_trace"}
    assert auth <= {r.name for r in report.results if r.outcome == "passed"}


def test_a_wrong_token_fails_the_writes(vps_server: str, write_token: str) -> None:
    report = run_checks(vps_server, expect_target="vps", write_token=write_token[::-1])
    failed = _failed(report)
    assert set(failed) >= WRITE_CHECKS
    assert "-> 401, expected 201" in failed["test_create_duplicate_name_409"]


@pytest.mark.postgres
def test_contract_passes_on_postgresql(serve: Serve, postgres_url: str, write_token: str) -> None:
    from infra.testing.postgres import create_database

    database = create_database(postgres_url, "contract_suite")
    with serve(DATABASE_URL=database, SHIPWAYS_TARGET="k8s") as url:
        for _ in range(2):  # re-runnable against a persistent database
            report = run_checks(url, expect_target="k8s", write_token=write_token)
            assert report.ok, _failed(report)


def test_contract_over_https(serve: Serve, self_signed: object, write_token: str) -> None:
    with serve(tls=self_signed) as url:
        assert url.startswith("https://")
        untrusted = run_checks(url, extra_args=["-k", "test_healthz"])
        assert not untrusted.ok and "CERTIFICATE_VERIFY_FAILED" in untrusted.results[0].message
        ca = {"SHIPWAYS_CA_BUNDLE": str(self_signed.cert)}  # type: ignore[attr-defined]
        trusted = run_checks(url, env=ca, write_token=write_token)
        assert trusted.ok, _failed(trusted)
        assert trusted.skipped == 0, "HSTS is checked over https"
        insecure = run_checks(
            url,
            env={"SHIPWAYS_INSECURE_TLS": "1"},
            extra_args=["-k", "hsts or security"],
            write_token=write_token,
        )
        assert insecure.ok and insecure.passed == 14


@pytest.mark.parametrize(
    ("breakage", "expected_failures"),
    [
        (
            "no-frame-options",
            {f"test_security_headers[{probe}]" for probe in (
                "401-no-token", "404-unknown-path", "404-unknown-product", "405-method",
                "413-too-large", "415-content-type", "422-bad-id", "healthz", "hello", "openapi",
                "products", "readyz", "version",
            )} | {"test_docs_page"},
        ),
        ("chunked-unlimited", {"test_oversized_chunked_body_413"}),
        (
            "anonymous-writes",
            {"test_write_without_token_401", "test_anonymous_writes_leave_no_trace"}
            | {f"test_write_with_wrong_token_401[{case}]"
               for case in ("wrong", "right-plus-one", "basic-scheme")},
        ),
    ],
)  # fmt: skip
def test_contract_fails_against_a_broken_server(
    serve: Serve, breakage: str, expected_failures: set[str], write_token: str
) -> None:
    with serve(app="broken_app:create", factory=True, SHIPWAYS_BROKEN=breakage) as url:
        report = run_checks(url, write_token=write_token)
    assert not report.ok
    assert set(_failed(report)) == expected_failures
    if breakage == "no-frame-options":
        assert "x-frame-options missing or wrong" in _failed(report)["test_security_headers[hello]"]
