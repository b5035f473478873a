"""Writes need a bearer token; reads stay public.

One token per deployment, delivered by each platform's secret mechanism: a file
(`WRITE_TOKEN_FILE`: a Kubernetes Secret's mount; or `write-token` in systemd's
`$CREDENTIALS_DIRECTORY` on the VPS), Elastic Beanstalk's environment secrets (`WRITE_TOKEN`,
which the platform fetches from Secrets Manager at instance start: the environment's
configuration holds only the secret's ARN), or, on Lambda, AWS Secrets Manager
(`WRITE_TOKEN_SECRET_ARN`) or SSM Parameter Store (`WRITE_TOKEN_PARAMETER`) once, at init.
boto3 comes with the Lambda managed runtime and is not shipped in the app's zip, so it is
imported only on that path. `WRITE_TOKEN` is removed from the process environment once read,
so nothing the app starts later inherits it.

No token configured at all is allowed (a fresh checkout serves reads at once) but writes then
answer 503 "writes disabled": an app that forgot its secret never accepts anonymous writes.
A token that is configured but unreadable, empty or short stops start-up instead.

The check runs as ASGI middleware in front of the body limit and the routes, so an anonymous
write is refused before its body is read or parsed. Every method other than GET, HEAD and
OPTIONS counts as a write, on any path: the API says nothing to anonymous writers.
"""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from shipways_app.settings import ConfigError, Settings

CREDENTIAL_NAME = "write-token"  # systemd LoadCredential= name, also the Secret's file name
MIN_TOKEN_LENGTH = 16
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Bearer realm="shipways"'
# Set by Elastic Beanstalk from its `environmentsecrets` option (a Secrets Manager ARN).
BEANSTALK_VARIABLE = "WRITE_TOKEN"


def load_write_token(settings: Settings) -> str | None:
    """The configured write token, None when none is configured, or ConfigError."""
    env = os.environ
    injected = env.pop(BEANSTALK_VARIABLE, None)
    if injected is not None:
        if settings.write_token_file is not None:
            raise ConfigError(
                f"{BEANSTALK_VARIABLE} (value hidden) and WRITE_TOKEN_FILE are both set: "
                "set only one of them"
            )
        return _checked(injected, f"{BEANSTALK_VARIABLE} (the platform's secret)")
    if settings.write_token_file is not None:
        return _from_file(settings.write_token_file, "WRITE_TOKEN_FILE")
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / CREDENTIAL_NAME).is_file():
        return _from_file(Path(credentials) / CREDENTIAL_NAME, "systemd credential write-token")
    if settings.write_token_secret_arn:
        return _checked(_from_aws("secretsmanager", settings.write_token_secret_arn), "secret")
    if settings.write_token_parameter:
        return _checked(_from_aws("ssm", settings.write_token_parameter), "parameter")
    return None


def _from_file(path: Path, source: str) -> str:
    try:
        value = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{source}={str(path)!r} cannot be read ({type(exc).__name__}): point it at a "
            "readable file holding the write token"
        ) from None
    return _checked(value, f"{source}={str(path)!r}")


def _checked(value: str, source: str) -> str:
    token = value.strip()
    if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise ConfigError(
            f"{source} (value hidden) is not a usable write token: it must be one word of at "
            f"least {MIN_TOKEN_LENGTH} characters, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return token


def _from_aws(service: str, name: str) -> str:
    """Read the token from Secrets Manager or SSM (SecureString), once per process."""
    try:
        import boto3  # the Lambda managed runtime ships it; the app's zip does not
    except ImportError:
        raise ConfigError(
            f"reading the write token from {service} needs boto3, which this runtime lacks: "
            "use WRITE_TOKEN_FILE instead"
        ) from None
    client = boto3.client(service)
    try:
        if service == "secretsmanager":
            return str(client.get_secret_value(SecretId=name)["SecretString"])
        answer = client.get_parameter(Name=name, WithDecryption=True)
        return str(answer["Parameter"]["Value"])
    except Exception as exc:  # botocore's errors: no credentials, no access, no such name
        raise ConfigError(
            f"the write token {name!r} cannot be read from {service} ({type(exc).__name__}): "
            "check the name and that the function's role may read it"
        ) from None


Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


def _reply(status: int, detail: str, challenge: str | None) -> Reply:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if challenge is not None:
        headers.append((b"www-authenticate", challenge.encode()))
    return status, headers, body


_DISABLED = _reply(503, "writes disabled: no write token configured", None)
_MISSING = _reply(401, "authentication required: send Authorization: Bearer <token>", REALM)
_INVALID = _reply(401, "invalid token", f'{REALM}, error="invalid_token"')


class WriteTokenMiddleware:
    """401 for writes without the right bearer token, before the body is read."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None

    def _refusal(self, scope: Scope) -> Reply | None:
        if self.token is None:
            return _DISABLED
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if authorization is None:
            return _MISSING
        scheme, _, presented = bytes(authorization).strip().partition(b" ")
        if scheme.lower() != b"bearer" or not presented.strip():
            return _MISSING
        # Constant time: the comparison leaks no prefix of the token through its timing.
        if not hmac.compare_digest(presented.strip(), self.token):
            return _INVALID
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = refusal
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
