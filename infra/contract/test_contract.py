"""The shipways HTTP contract: what every target must serve, byte for byte the same.

Safe to re-run against a persistent database: products it creates have unique names, and it
never assumes how many products exist beyond the three seeded by the migration.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from infra.contract.config import TARGETS, ContractConfig
from infra.contract.responses import expect

SEEDED = {
    1: ("Laptop", Decimal("999.99")),
    2: ("Smartphone", Decimal("699.99")),
    3: ("Headphones", Decimal("149.99")),
}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"
BODY_LIMIT = 64 * 1024
UNKNOWN_ID = 2_147_483_000
GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
PAGE_MAX = 100


def _price(value: Any) -> Decimal:
    assert isinstance(value, int | float) and not isinstance(value, bool), (
        f"price must be a JSON number, got {value!r}"
    )
    return Decimal(str(value))


def _error_fields(detail: Any) -> set[str]:
    """Field names a FastAPI-style 422 `detail` list points at (last element of each loc)."""
    assert isinstance(detail, list) and detail, f"422 detail must list the errors: {detail!r}"
    return {str(err["loc"][-1]) for err in detail if err.get("loc")}


def _all_products(api: httpx.Client) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:  # bounded by total / PAGE_MAX pages
        page = expect(api.get("/products", params={"limit": PAGE_MAX, "offset": offset}), 200)
        yield from page["products"]
        offset += PAGE_MAX
        if offset >= page["total"] or not page["products"]:
            return


def _create(api: httpx.Client, name: str, price: Any) -> httpx.Response:
    return api.post("/products", json={"name": name, "price": price})


# --- probes and simple endpoints ----------------------------------------------------------


def test_healthz(api: httpx.Client) -> None:
    assert expect(api.get("/healthz"), 200) == {"status": "ok"}


def test_healthz_ignores_host_header(api: httpx.Client) -> None:
    """Liveness must not depend on how the probe addresses the app."""
    response = api.get("/healthz", headers={"Host": "probe.invalid"})
    assert expect(response, 200) == {"status": "ok"}


def test_readyz(api: httpx.Client) -> None:
    assert expect(api.get("/readyz"), 200) == {"status": "ready", "checks": {"database": "ok"}}


def test_hello(api: httpx.Client) -> None:
    assert expect(api.get("/hello"), 200) == {"message": "Hello, World!"}


def test_unknown_path_404(api: httpx.Client) -> None:
    body = expect(api.get(f"/no-such-path-{uuid.uuid4().hex[:8]}"), 404)
    assert isinstance(body.get("detail"), str)


# --- reading products ---------------------------------------------------------------------


@pytest.mark.parametrize("product_id", sorted(SEEDED))
def test_seeded_product(api: httpx.Client, product_id: int) -> None:
    body = expect(api.get(f"/products/{product_id}"), 200)
    name, price = SEEDED[product_id]
    assert set(body) == {"id", "name", "price"}
    assert (body["id"], body["name"], _price(body["price"])) == (product_id, name, price)


def test_products_list_shape_and_default_limit(api: httpx.Client) -> None:
    body = expect(api.get("/products"), 200)
    assert set(body) == {"products", "total"}
    assert isinstance(body["total"], int) and body["total"] >= len(SEEDED)
    assert len(body["products"]) == min(20, body["total"])
    first = body["products"][0]
    assert (first["id"], first["name"], _price(first["price"])) == (1, "Laptop", Decimal("999.99"))


def test_products_paging(api: httpx.Client) -> None:
    page = expect(api.get("/products", params={"limit": 2, "offset": 0}), 200)
    assert [p["id"] for p in page["products"]] == [1, 2]
    second = expect(api.get("/products", params={"limit": 1, "offset": 1}), 200)
    assert [p["id"] for p in second["products"]] == [2]
    assert second["total"] >= page["total"] >= len(SEEDED)
    beyond = expect(api.get("/products", params={"limit": 5, "offset": 10_000_000}), 200)
    assert beyond["products"] == [] and beyond["total"] >= len(SEEDED)


def test_products_are_ordered_by_id(api: httpx.Client) -> None:
    ids = [p["id"] for p in expect(api.get("/products", params={"limit": 100}), 200)["products"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
    ],
    ids=["limit-0", "limit-101", "limit-text", "offset-negative"],
)
def test_products_paging_rejects_bad_params(
    api: httpx.Client, params: dict[str, Any], field: str
) -> None:
    body = expect(api.get("/products", params=params), 422)
    assert field in _error_fields(body["detail"])


def test_product_non_integer_id_422(api: httpx.Client) -> None:
    expect(api.get("/products/abc"), 422)


def test_product_unknown_id_404(api: httpx.Client) -> None:
    body = expect(api.get(f"/products/{UNKNOWN_ID}"), 404)
    assert isinstance(body.get("detail"), str) and body["detail"]


# --- creating products: writes need the deployment's token -----------------------------------

PRODUCT = {"name": "contract-anonymous", "price": 1}
BEARER_REALM = re.compile(r'^Bearer realm="[^"]+"')


def test_write_without_token_401(api: httpx.Client) -> None:
    response = api.post("/products", json=PRODUCT)
    body = expect(response, 401)
    assert isinstance(body.get("detail"), str)
    challenge = response.headers.get("www-authenticate", "")
    assert BEARER_REALM.match(challenge), f"WWW-Authenticate is {challenge!r}"


@pytest.mark.parametrize("case", ["wrong", "right-plus-one", "basic-scheme"])
def test_write_with_wrong_token_401(api: httpx.Client, contract: ContractConfig, case: str) -> None:
    right = contract.write_token or "no-token-given"
    authorization = {
        "wrong": f"Bearer {'x' * len(right)}",
        "right-plus-one": f"Bearer {right}x",
        "basic-scheme": "Basic " + base64.b64encode(f"writer:{right}".encode()).decode(),
    }[case]
    response = api.post("/products", json=PRODUCT, headers={"Authorization": authorization})
    expect(response, 401)
    challenge = response.headers.get("www-authenticate", "")
    assert BEARER_REALM.match(challenge), f"WWW-Authenticate is {challenge!r}"
    if case != "basic-scheme":
        assert 'error="invalid_token"' in challenge, challenge


def test_anonymous_writes_leave_no_trace(api: httpx.Client) -> None:
    """None of the refused writes above (nor this one) created anything."""
    name = f"contract-anonymous-{uuid.uuid4().hex[:8]}"
    expect(api.post("/products", json={"name": name, "price": 1}), 401)
    assert not any(p["name"] == name for p in _all_products(api))


def test_create_product_201_with_location(writer: httpx.Client, unique_name: str) -> None:
    response = _create(writer, f"  {unique_name}  ", 12.5)
    body = expect(response, 201)
    assert body["name"] == unique_name, "surrounding whitespace must be stripped"
    assert _price(body["price"]) == Decimal("12.5") and isinstance(body["id"], int)
    location = response.headers.get("location")
    assert location is not None and location.endswith(f"/products/{body['id']}"), location
    fetched = expect(writer.get(urljoin(str(response.request.url), location)), 200)
    assert fetched == body


def test_created_product_is_listed(writer: httpx.Client, unique_name: str) -> None:
    created = expect(_create(writer, unique_name, 1_000_000), 201)
    assert _price(created["price"]) == Decimal("1000000")
    assert any(p == created for p in _all_products(writer))


def test_create_duplicate_name_409(writer: httpx.Client, unique_name: str) -> None:
    expect(_create(writer, unique_name, 9.99), 201)
    body = expect(_create(writer, unique_name, 19.99), 409)
    assert isinstance(body.get("detail"), str)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "price": 1}, "name"),
        ({"name": "   ", "price": 1}, "name"),
        ({"name": "x" * 101, "price": 1}, "name"),
        ({"price": 1}, "name"),
        ({"name": "NAME", "price": 0}, "price"),
        ({"name": "NAME", "price": -5}, "price"),
        ({"name": "NAME", "price": 1_000_000.01}, "price"),
        ({"name": "NAME", "price": 9.999}, "price"),
        ({"name": "NAME"}, "price"),
        ({"name": "NAME", "price": "9.99"}, "price"),
        ({"name": "nul\x00byte", "price": 1}, "name"),
    ],
    ids=[
        "name-empty",
        "name-blank",
        "name-101-chars",
        "name-missing",
        "price-zero",
        "price-negative",
        "price-over-1M",
        "price-3-decimals",
        "price-missing",
        "price-as-string",
        "name-control-char",
    ],
)
def test_create_product_rejects_invalid(
    writer: httpx.Client, unique_name: str, payload: dict[str, Any], field: str
) -> None:
    if payload.get("name") == "NAME":
        payload = {**payload, "name": unique_name}
    body = expect(writer.post("/products", json=payload), 422)
    assert field in _error_fields(body["detail"]), body


def test_create_product_invalid_json_422(writer: httpx.Client) -> None:
    response = writer.post(
        "/products", content=b'{"name": "x", ', headers={"Content-Type": "application/json"}
    )
    expect(response, 422)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_create_product_wrong_content_type_415(
    writer: httpx.Client, unique_name: str, content_type: str
) -> None:
    body = f'{{"name": "{unique_name}", "price": 1}}'.encode()
    expect(writer.post("/products", content=body, headers={"Content-Type": content_type}), 415)


def _oversized_body(name: str) -> bytes:
    return f'{{"name": "{name}", "price": 1, "pad": "{"x" * (BODY_LIMIT + 1024)}"}}'.encode()


def test_oversized_body_413(writer: httpx.Client, unique_name: str) -> None:
    response = writer.post(
        "/products",
        content=_oversized_body(unique_name),
        headers={"Content-Type": "application/json"},
    )
    expect(response, 413)


def test_oversized_chunked_body_413(writer: httpx.Client, unique_name: str) -> None:
    """No Content-Length to trust: the server must count what actually arrives."""
    data = _oversized_body(unique_name)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    request = writer.build_request(
        "POST", "/products", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in request.headers
    assert request.headers.get("transfer-encoding") == "chunked"
    expect(writer.send(request), 413)


# --- headers on every response ------------------------------------------------------------

HEADER_PROBES = {
    "healthz": ("GET", "/healthz", None, None),
    "readyz": ("GET", "/readyz", None, None),
    "hello": ("GET", "/hello", None, None),
    "products": ("GET", "/products", None, None),
    "version": ("GET", "/version", None, None),
    "openapi": ("GET", "/openapi.json", None, None),
    "404-unknown-path": ("GET", "/no-such-path", None, None),
    "404-unknown-product": ("GET", f"/products/{UNKNOWN_ID}", None, None),
    "422-bad-id": ("GET", "/products/abc", None, None),
    "405-method": ("DELETE", "/hello", None, None),
    "401-no-token": ("POST", "/products", b"{}", "application/json"),
    "415-content-type": ("POST", "/products", b"{}", "text/plain"),
    "413-too-large": (
        "POST",
        "/products",
        b"[" + b" " * (BODY_LIMIT + 10) + b"]",
        "application/json",
    ),
}


@pytest.mark.parametrize("probe", sorted(HEADER_PROBES))
def test_security_headers(
    api: httpx.Client, writer: httpx.Client, contract: ContractConfig, probe: str
) -> None:
    method, path, content, content_type = HEADER_PROBES[probe]
    headers = {"Content-Type": content_type} if content_type else {}
    client = api if probe.startswith("401") else writer  # past the token check, to each error
    response = client.request(method, path, content=content, headers=headers)
    assert response.status_code < 500, f"{method} {path} -> {response.status_code}"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{method} {path}: {name} missing or wrong"
    assert response.headers.get("content-security-policy") == API_CSP, (
        f"{method} {path}: Content-Security-Policy is "
        f"{response.headers.get('content-security-policy')!r}"
    )
    if contract.https:
        hsts = response.headers.get("strict-transport-security", "")
        assert re.search(r"max-age=\d{6,}", hsts), f"{method} {path}: HSTS missing over https"


def test_hsts_over_https(api: httpx.Client, contract: ContractConfig) -> None:
    if not contract.https:
        pytest.skip("base URL is http://: HSTS applies to https only")
    hsts = api.get("/healthz").headers.get("strict-transport-security", "")
    match = re.search(r"max-age=(\d+)", hsts)
    assert match and int(match.group(1)) >= 86400 * 180, f"weak or missing HSTS: {hsts!r}"


def test_method_not_allowed_lists_the_allowed_methods(writer: httpx.Client) -> None:
    response = writer.delete("/products")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
    assert {"GET", "POST"} <= allowed, response.headers.get("allow")


def test_api_responses_are_not_cached(api: httpx.Client) -> None:
    assert "no-store" in api.get("/products").headers.get("cache-control", "")


def test_request_id_echoed(api: httpx.Client) -> None:
    request_id = f"contract.{uuid.uuid4().hex}_A-1"
    response = api.get("/hello", headers={"X-Request-ID": request_id})
    assert response.headers.get("x-request-id") == request_id


def test_request_id_generated(api: httpx.Client) -> None:
    first = api.get("/hello").headers.get("x-request-id", "")
    second = api.get("/hello").headers.get("x-request-id", "")
    assert GENERATED_REQUEST_ID.match(first) and GENERATED_REQUEST_ID.match(second)
    assert first != second


@pytest.mark.parametrize(
    "bad_id",
    ["x" * 129, "has space", "semi;colon", "<script>"],
    ids=["129-chars", "space", "semicolon", "markup"],
)
def test_request_id_invalid_is_replaced(api: httpx.Client, bad_id: str) -> None:
    returned = api.get("/hello", headers={"X-Request-ID": bad_id}).headers.get("x-request-id", "")
    assert returned != bad_id and GENERATED_REQUEST_ID.match(returned), returned


# --- metadata -----------------------------------------------------------------------------


def test_version(api: httpx.Client, contract: ContractConfig) -> None:
    body = expect(api.get("/version"), 200)
    assert set(body) == {"app", "version", "git_sha", "target", "python", "instance", "storage"}
    assert (body["app"], body["version"]) == ("shipways-app", "1.0.0")
    assert isinstance(body["git_sha"], str) and body["git_sha"]
    assert re.fullmatch(r"3\.\d+\.\d+", body["python"]), body["python"]
    assert isinstance(body["instance"], str) and body["instance"]
    assert body["target"] in TARGETS
    if contract.expect_target is not None:
        assert body["target"] == contract.expect_target
    storage = body["storage"]
    assert set(storage) == {"engine", "persistent", "note"}
    assert storage["engine"] in {"sqlite", "postgresql"}
    assert isinstance(storage["persistent"], bool)
    assert isinstance(storage["note"], str) and storage["note"]
    if body["target"] == "serverless" and storage["engine"] == "sqlite":
        assert storage["persistent"] is False, "SQLite in a function instance is not durable"
        assert "per-instance" in storage["note"] and "lost" in storage["note"]


def test_openapi_document(api: httpx.Client) -> None:
    import schemathesis

    document = expect(api.get("/openapi.json"), 200)
    assert str(document.get("openapi", "")).startswith("3.")
    schemathesis.openapi.from_dict(document).validate()  # raises when not valid OpenAPI
    paths = document["paths"]
    for path, methods in {
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/hello": {"get"},
        "/products": {"get", "post"},
        "/version": {"get"},
    }.items():
        assert path in paths and methods <= set(paths[path]), f"{path} missing from OpenAPI"
    item_paths = [p for p in paths if re.fullmatch(r"/products/\{[^}]+\}", p)]
    assert item_paths and "get" in paths[item_paths[0]], "/products/{id} missing from OpenAPI"
    schemes = document.get("components", {}).get("securitySchemes", {})
    bearer = [
        n for n, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"
    ]
    assert bearer, "OpenAPI must declare the bearer scheme writes need"
    assert paths["/products"]["post"].get("security") == [{bearer[0]: []}], "POST needs a token"


def test_docs_page(api: httpx.Client) -> None:
    response = api.get("/docs")
    assert response.status_code == 200
    assert response.headers.get("content-type", "").startswith("text/html")
    assert "swagger" in response.text.lower()
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src" in csp
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value
