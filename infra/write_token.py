"""The deployment's write token, generated once at deploy time and kept only as a secret.

A dynamic resource rather than a required config key: a stack deploys without the operator
inventing a token, and the value lives in the stack's state encrypted (the registration marks
`token` a secret output; the engine encrypts it), never in the program, an artifact or a log.
It never changes after creation (diff reports nothing), so a redeploy keeps the clients'
token; replace the resource (`pulumi up --replace URN`) to rotate it, or give one with
`pulumi config set --secret writeToken ...`. Each target hands it to the app through its
platform's secret mechanism; every stack exports it as a secret output.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pulumi
from pulumi import dynamic
from shipways_app.auth import MIN_TOKEN_LENGTH

CONFIG_KEY = "writeToken"


class _WriteTokenProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        # The id says nothing about the token: ids are plain in the state and in the CLI.
        return dynamic.CreateResult(uuid.uuid4().hex, {"token": secrets.token_urlsafe(32)})

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> dynamic.DiffResult:
        return dynamic.DiffResult(changes=False)


class WriteToken(dynamic.Resource, module="shipways", name="WriteToken"):
    """256 bits from the CSPRNG, URL-safe; `token` is a secret output."""

    token: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=["token"])
        opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(_WriteTokenProvider(), name, {"token": None}, opts)


def checked(token: str) -> str:
    """`token` if the app would accept it (one word, long enough); else why not, by key."""
    value = token.strip()
    if len(value) < MIN_TOKEN_LENGTH or any(c.isspace() for c in value):
        raise ValueError(
            f"shipways:{CONFIG_KEY} (value hidden) is no usable write token: give one word of "
            f"at least {MIN_TOKEN_LENGTH} characters, or unset it to have one generated"
        )
    return value


def deployment_token(
    given: pulumi.Output[str] | None, opts: pulumi.ResourceOptions | None = None
) -> pulumi.Output[str]:
    """The stack's write token, always a Pulumi secret: `writeToken` from the stack config
    when set (checked), else a `WriteToken` generated once."""
    if given is not None:
        return pulumi.Output.secret(given.apply(checked))
    return pulumi.Output.secret(WriteToken("write-token", opts=opts).token)
