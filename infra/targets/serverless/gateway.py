#!/usr/bin/env python3
"""The API Gateway stage and Lambda's front end for a function with several instances.

It runs in its own container, the one address of the local target for its whole life (until
`shipways down`), and stands for what sits in front of Lambda's execution environments:

- API Gateway's HTTP API side: every request becomes a payload 2.0 event (`runtime_api`'s
  `http_api_event`), invoked on the `live` alias; the result becomes the HTTP response;
- Lambda's Invoke API, with a qualifier (`?Qualifier=3`, or `NAME:3`): a release step
  invokes a version directly before the alias moves to it, as `aws lambda invoke` does;
- placement: each published version has instances (containers running `runtime_api.py`,
  one invocation at a time each). A request goes to an idle instance that has already run
  its init (warm), else to an idle one that has not (a cold start: its own init), up to the
  version's instances (the concurrency cap); beyond that it waits, bounded, then 429;
- the alias's routing configuration during a gradual shift (`AdditionalVersionWeights`):
  another version takes its weight's share of the alias's requests. Each version's answers
  through the alias and its 5xx among them are counted: the stack's alarm watches those.

The routes (versions, their instances, the alias and its weights) are a JSON file the
sandbox writes in a read-only directory mounted here and re-read on `reload`: moving the
alias is one assignment under a lock, so every new request runs the new version while the
requests in flight finish on the instance that holds them. `GET /state` (loopback inside
the container only, through `docker exec ... gateway.py control`) reports requests in flight
per version (the sandbox drains on it), each version's answers and 5xx through the alias
(a shift's alarm watches them) and the cold starts. Standard library only, like
`runtime_api.py`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote

try:  # beside this file in the container; a package module on the host (tests, mypy)
    from infra.targets.serverless import runtime_api
except ImportError:  # pragma: no cover - the container's layout
    import runtime_api  # type: ignore[no-redef]

CONTROL = "127.0.0.1:9002"
INVOKE_PREFIX = "/2015-03-31/functions/"
ALIAS = "live"


@dataclass
class Instance:
    """One execution environment: a container's Invoke API, used by one request at a time."""

    address: str  # host:port on the private network
    busy: bool = False
    warm: bool = False  # its init ran (it answered once)
    invocations: int = 0
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def invoke(
        self, function: str, payload: bytes, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """POST the event to the instance's Invoke API, on one kept-alive connection."""
        for attempt in (1, 2):  # a kept connection the instance closed: reconnect once
            if self._connection is None:
                host, _, port = self.address.rpartition(":")
                self._connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
            try:
                self._connection.request(
                    "POST",
                    f"{INVOKE_PREFIX}{function}/invocations",
                    body=payload,
                    headers={"content-type": "application/json"},
                )
                response = self._connection.getresponse()
                body = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, body
            except (OSError, http.client.HTTPException):
                self._connection.close()
                self._connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Version:
    number: str
    instances: list[Instance]
    in_flight: int = 0
    requests: int = 0  # HTTP API requests it answered through the alias
    server_errors: int = 0  # of which 5xx: what the stack's alarm counts


# A weight's share, accumulated: 0.1 ten times is 0.9999999999999999, which is a whole request.
_WHOLE = 1 - 1e-9


class Router:
    """Versions, the alias, and which instance takes the next invocation."""

    def __init__(self, routes_file: str, *, wait_s: float, log: runtime_api.Log = print) -> None:
        self.routes_file = routes_file
        self.wait_s = wait_s
        self.log = log
        self.versions: dict[str, Version] = {}
        self.alias: str | None = None
        self.weights: dict[str, float] = {}  # the alias's AdditionalVersionWeights
        self._credit = 0.0  # the additional version's share of requests not yet sent to it
        self.cold_starts = 0
        self._changed = threading.Condition()

    def reload(self) -> dict[str, Any]:
        """Read the routes file: new versions, dropped versions, the alias (atomically)."""
        try:
            with open(self.routes_file) as handle:
                routes = json.load(handle)
        except FileNotFoundError:
            routes = {"versions": {}, "alias": None}
        with self._changed:
            versions: dict[str, Version] = {}
            for number, addresses in routes["versions"].items():
                kept = self.versions.get(number)
                known = {i.address: i for i in kept.instances} if kept else {}
                instances = [known.get(a) or Instance(a) for a in addresses]
                versions[number] = kept or Version(number, instances)
                versions[number].instances = instances
            weights = {
                n: float(w) for n, w in (routes.get("weights") or {}).items() if n in versions
            }
            if weights != self.weights:
                self._credit = 0.0
            self.versions, self.alias, self.weights = versions, routes.get("alias"), weights
            self._changed.notify_all()
        shares = "".join(f" + version {n} at {w:.0%}" for n, w in weights.items())
        self.log(
            f"gateway: alias {ALIAS} -> version {self.alias}{shares}; versions {sorted(versions)}"
        )
        return self.state()

    def state(self) -> dict[str, Any]:
        with self._changed:
            return {
                "alias": self.alias,
                "weights": dict(self.weights),
                "cold_starts": self.cold_starts,
                "versions": {
                    n: {
                        "in_flight": v.in_flight,
                        "requests": v.requests,
                        "server_errors": v.server_errors,
                        "instances": {
                            i.address: {"warm": i.warm, "invocations": i.invocations}
                            for i in v.instances
                        },
                    }
                    for n, v in self.versions.items()
                },
            }

    def acquire(self, qualifier: str | None) -> tuple[Version, Instance] | None:
        """An idle instance of the qualified version (warm first); None when throttled."""
        deadline = time.monotonic() + self.wait_s
        with self._changed:
            weighted = self._weighted() if qualifier in (None, ALIAS) else None
            while True:
                number = self.alias if qualifier in (None, ALIAS) else qualifier
                if weighted is not None and weighted in self.weights:
                    number = weighted  # unless a rollback took its weight away meanwhile
                if qualifier == "$LATEST":  # the newest code: the newest published version
                    number = max(self.versions, key=int, default=None)
                version = self.versions.get(number or "")
                if version is None:
                    raise LookupError(f"no version {qualifier or ALIAS} is published")
                idle = [i for i in version.instances if not i.busy]
                if idle:
                    chosen = next((i for i in idle if i.warm), idle[0])
                    if not chosen.warm:
                        self.cold_starts += 1
                        self.log(f"gateway: cold start of {chosen.address} (version {number})")
                    chosen.busy = True
                    version.in_flight += 1
                    return version, chosen
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def _weighted(self) -> str | None:
        """The additional version, for its weight's share of the alias's requests, else None.

        Lambda picks per invocation at random with those odds; here the share is spread
        evenly (at 10%, every tenth request), so what a shift exposes is exact.
        """
        for number, weight in self.weights.items():  # Lambda allows one additional version
            self._credit += weight
            if self._credit >= _WHOLE:
                self._credit -= 1
                return number
        return None

    def count(self, number: str, status: int) -> None:
        """An HTTP API answer of `number` through the alias: what a 5xx alarm watches."""
        with self._changed:
            version = self.versions.get(number)
            if version is not None:
                version.requests += 1
                version.server_errors += int(status >= 500)

    def release(self, version: Version, instance: Instance, *, answered: bool) -> None:
        with self._changed:
            instance.busy = False
            instance.warm = answered
            instance.invocations += 1
            version.in_flight -= 1
            self._changed.notify_all()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    version: str


class Gateway:
    def __init__(self, router: Router, function: str, api_id: str, timeout_s: float) -> None:
        self.router, self.function, self.api_id = router, function, api_id
        self.timeout_s = timeout_s

    def invoke(self, payload: bytes, qualifier: str | None = None) -> Answer:
        """One synchronous invocation of the alias (or `qualifier`) on one of its instances."""
        try:
            acquired = self.router.acquire(qualifier)
        except LookupError as exc:
            body = json.dumps({"Type": "User", "message": str(exc)}).encode()
            return Answer(404, {}, body, "")
        if acquired is None:
            return Answer(429, {}, b'{"Type": "User", "message": "Rate Exceeded."}', "")
        version, instance = acquired
        answered = False
        try:
            status, headers, body = instance.invoke(
                self.function, payload, runtime_api.INIT_TIMEOUT_S + self.timeout_s + 5
            )
            # A runtime that failed its init, timed out or crashed is reset: its next
            # invocation inits again. A function error (an exception) leaves it warm.
            answered = status == 200 and not ("x-amz-function-error" in headers and _resets(body))
            return Answer(status, headers, body, version.number)
        except (OSError, http.client.HTTPException) as exc:
            reason = json.dumps({"Type": "Service", "message": f"instance unreachable: {exc}"})
            return Answer(502, {}, reason.encode(), version.number)
        finally:
            self.router.release(version, instance, answered=answered)


def _resets(error: bytes) -> bool:
    """Whether an error payload is one after which Lambda starts the runtime again."""
    try:
        kind = str(json.loads(error).get("errorType", ""))
    except (ValueError, AttributeError):
        return True
    return kind.startswith(("Runtime.", "Sandbox."))


class _Server(runtime_api.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, handler: type[Any], gateway: Gateway) -> None:
        host, _, port = address.rpartition(":")
        self.gateway = gateway
        super().__init__((host, int(port)), handler)


class HttpApiHandler(runtime_api._Handler):
    """API Gateway's side: any method, any path, through `$default` to the `live` alias."""

    server: Any

    def _serve(self) -> None:
        gateway: Gateway = self.server.gateway
        request_id = secrets.token_urlsafe(12)[:16]
        body = self.read_body()
        if body is None:
            response = runtime_api.gateway_error(413, "Request Entity Too Large")
        else:
            request = runtime_api.HttpRequest(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            event = runtime_api.http_api_event(
                request, api_id=gateway.api_id, request_id=request_id
            )
            answer = gateway.invoke(json.dumps(event).encode())
            if answer.status == 429:
                response = runtime_api.gateway_error(429, "Too Many Requests")
            elif answer.status == 200 and "x-amz-function-error" not in answer.headers:
                response = runtime_api.http_api_response(answer.body)
            else:
                response = runtime_api.gateway_error(500, "Internal Server Error")
            if answer.version:
                gateway.router.count(answer.version, response.status)
        response.headers.append(("apigw-requestid", request_id))
        response.headers.append(("date", formatdate(usegmt=True)))
        self.send(response, head_only=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class InvokeHandler(runtime_api._Handler):
    """`POST /2015-03-31/functions/NAME[:QUALIFIER]/invocations[?Qualifier=Q]`."""

    server: Any

    def do_POST(self) -> None:
        gateway: Gateway = self.server.gateway
        path, _, query = self.path.partition("?")
        match = runtime_api.INVOKE_PATH.match(path)
        name, _, in_name = unquote(match.group(1) if match else "").partition(":")
        qualifier = parse_qs(query).get("Qualifier", [in_name])[0] or None
        if match is None or name != gateway.function:
            self.send_json(404, {"Type": "User", "message": f"Function not found: {path}"})
            return
        body = self.read_body()
        if body is None:
            self.send_json(413, {"Type": "User", "message": "Request too large"})
            return
        answer = gateway.invoke(body or b"{}", qualifier)
        headers = [(k, v) for k, v in answer.headers.items() if k.startswith("x-amz-")]
        headers = [h for h in headers if h[0] != "x-amz-executed-version"]
        if answer.version:
            headers.append(("x-amz-executed-version", answer.version))
        kind = [("content-type", "application/json")]
        self.send(runtime_api.HttpResponse(answer.status, kind + headers, answer.body))


class ControlHandler(runtime_api._Handler):
    """The sandbox's side, loopback inside the container: `GET /state`, `POST /reload`."""

    server: Any

    def do_GET(self) -> None:
        self.send_json(200, self.server.gateway.router.state())

    def do_POST(self) -> None:
        self.send_json(200, self.server.gateway.router.reload())


def control(method: str, path: str) -> int:
    """`gateway.py control GET /state`: what `docker exec` runs for the sandbox."""
    request = urllib.request.Request(f"http://{CONTROL}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        print(answer.read().decode())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["control"]:
        return control(args[1], args[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", default="0.0.0.0:8080", help="HTTP API side, HOST:PORT")
    parser.add_argument("--invoke", default="0.0.0.0:9000", help="Invoke API, HOST:PORT")
    parser.add_argument("--routes", required=True, help="the routes JSON file")
    parser.add_argument("--timeout", type=float, required=True, help="function timeout, s")
    options = parser.parse_args(args)
    function = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    region = os.environ.get("AWS_REGION", "us-east-1")

    def log(line: str) -> None:
        print(line, flush=True)

    router = Router(options.routes, wait_s=options.timeout, log=log)
    router.reload()
    arn = f"arn:aws:lambda:{region}:{runtime_api.ACCOUNT_ID}:function:{function}"
    gateway = Gateway(router, function, runtime_api.api_id_for(arn), options.timeout)
    for address, handler in (
        (options.http, HttpApiHandler),
        (options.invoke, InvokeHandler),
        (CONTROL, ControlHandler),
    ):
        server = _Server(address, handler, gateway)
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    log(f"gateway: {function}: HTTP API on {options.http}, Invoke API on {options.invoke}")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
