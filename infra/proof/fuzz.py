"""Property-based API tests generated from the app's OpenAPI schema (schemathesis).

For each operation of the schema the running target serves at `/openapi.json`, Hypothesis
generates up to `max_examples` requests of valid data and as many of invalid data, sends each
to the target (127.0.0.1 only) and checks the response: never a 5xx, a documented status
code, the documented content type, and a body matching the documented schema. Shrinking is
off so the run stays bounded in count and time; each failure keeps its reproduction (curl).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
REQUEST_TIMEOUT_S = 15.0
MAX_FAILURES_PER_OPERATION = 3


class FuzzSetupError(RuntimeError):
    """The schema could not be loaded from the target (it is not serving, or not the app)."""


@dataclass(frozen=True)
class FuzzFailure:
    operation: str
    mode: str
    status: int
    message: str
    reproduce: str

    def __str__(self) -> str:
        where = f"{self.operation} ({self.mode}): HTTP {self.status}"
        return f"{where}: {self.message}\n  {self.reproduce}"


@dataclass
class FuzzReport:
    target: str
    base_url: str
    operations: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[FuzzFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return self.requests > 0 and not self.failures


def _loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise FuzzSetupError(f"refusing to fuzz {url}: only targets on 127.0.0.1 are fuzzed")


def fuzz(
    target: str,
    base_url: str,
    *,
    max_examples: int = 25,
    verify: bool | str = True,
    progress: Callable[[str], None] | None = None,
    write_token: str | None = None,
) -> FuzzReport:
    """Fuzz every operation of the app at `base_url`; bounded by `max_examples` per mode.
    With `write_token` the writes get past the token check to the routes (the session sends
    it; a reproduction's curl line does not show it)."""
    _loopback(base_url)
    base_url = base_url.rstrip("/")
    try:
        schema = schemathesis.openapi.from_url(
            f"{base_url}/openapi.json", timeout=REQUEST_TIMEOUT_S, verify=verify
        )
    except Exception as exc:  # schemathesis wraps network and parse errors in several types
        raise FuzzSetupError(f"{target}: could not load {base_url}/openapi.json: {exc}") from exc
    report = FuzzReport(target, base_url)
    started = time.perf_counter()
    session = requests.Session()
    session.verify = verify
    if write_token:
        session.headers["Authorization"] = f"Bearer {write_token}"
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise FuzzSetupError(f"{target}: the app's schema is invalid: {result.err()}")
        operation = result.ok()
        report.operations += 1
        for mode in MODES:
            if progress:
                progress(f"{target}: {operation.label} ({mode.value})")
            _run(operation, mode, base_url, session, max_examples, report)
    report.seconds = time.perf_counter() - started
    return report


def _run(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    max_examples: int,
    report: FuzzReport,
) -> None:
    failures: list[FuzzFailure] = []

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT_S)
        report.requests += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:
            found = list(exc.exceptions) if isinstance(exc, FailureGroup) else [exc]
            for failure in found:
                if len(failures) < MAX_FAILURES_PER_OPERATION:
                    failures.append(
                        FuzzFailure(
                            operation.label,
                            mode.value,
                            response.status_code,
                            _describe(failure),
                            case.as_curl_command(),
                        )
                    )

    # Unsatisfiable: no invalid data exists for this operation (no parameters): nothing to send
    with contextlib.suppress(Unsatisfiable):
        one()
    report.failures += failures


def _describe(failure: Failure) -> str:
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    return " | ".join([failure.title, *lines])[:400]
