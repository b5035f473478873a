"""Assertions on one response that every contract module shares: status first, then JSON."""

from __future__ import annotations

from typing import Any

import httpx


def json_body(response: httpx.Response) -> Any:
    """The JSON body, or an assertion naming the request and what came back instead."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"{response.request.method} {response.request.url.path}: expected JSON, got "
        f"{response.headers.get('content-type')!r}: {response.text[:200]!r}"
    )
    return response.json()


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path} -> {response.status_code}, "
        f"expected {status}: {response.text[:300]}"
    )
    return json_body(response)
