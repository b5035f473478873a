"""The deployment's write token, generated once at deploy time and kept only as a secret.

A dynamic resource rather than a config key: a stack deploys without the operator inventing
a token, and the value lives in the stack's state encrypted (the registration marks `token` a
secret output; the engine encrypts it), never in the program, an artifact or a log. It never
changes after creation (diff reports nothing), so a redeploy keeps the clients' token; replace
the resource (`pulumi up --replace URN`) to rotate it. Each target hands it to the app through
its platform's secret mechanism; every stack exports it as a secret output.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pulumi
from pulumi import dynamic


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
