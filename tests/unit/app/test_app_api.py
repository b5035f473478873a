"""The endpoints of the contract, in process (the same contract also runs over HTTP)."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from collections.abc import Callable
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

pytestmark = pytest.mark.unit

MakeClient = Callable[..., TestClient]


def test_healthz_and_hello(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/hello").json() == {"message": "Hello, World!"}


def test_healthz_and_hello_never_touch_the_database(client: TestClient) -> None:
    engine = client.app.state.db.engine  # type: ignore[attr-defined]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert client.get("/hello").status_code == 200
    assert statements == []
    client.get("/products")
    assert statements, "the listener works: /products does query"


def test_healthz_works_without_a_database(make_client: MakeClient, tmp_path) -> None:
    client = make_client(migrate=False, SHIPWAYS_SQLITE_PATH=str(tmp_path / "no/such/dir/x.db"))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_readyz_ready(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_seeded_products(client: TestClient) -> None:
    body = client.get("/products").json()
    assert body == {
        "products": [
            {"id": 1, "name": "Laptop", "price": 999.99},
            {"id": 2, "name": "Smartphone", "price": 699.99},
            {"id": 3, "name": "Headphones", "price": 149.99},
        ],
        "total": 3,
    }


def test_paging(client: TestClient) -> None:
    for i in range(25):
        assert (
            client.post("/products", json={"name": f"item {i}", "price": i + 1}).status_code == 201
        )
    default = client.get("/products").json()
    assert len(default["products"]) == 20 and default["total"] == 28
    page = client.get("/products", params={"limit": 5, "offset": 25}).json()
    assert [p["id"] for p in page["products"]] == [26, 27, 28] and page["total"] == 28
    past_the_end = client.get("/products", params={"offset": 28}).json()
    assert past_the_end == {"products": [], "total": 28}
    assert len(client.get("/products", params={"limit": 100}).json()["products"]) == 28
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 2**31}):
        assert client.get("/products", params=params).status_code == 422, params


def test_get_product(client: TestClient) -> None:
    assert client.get("/products/2").json() == {"id": 2, "name": "Smartphone", "price": 699.99}
    missing = client.get("/products/999")
    assert missing.status_code == 404 and missing.json() == {"detail": "Product 999 not found"}
    assert client.get("/products/abc").status_code == 422
    # Beyond PostgreSQL's integer range would be a database error (500); it is a 422.
    assert client.get(f"/products/{2**31}").status_code == 422


def test_create_product(client: TestClient) -> None:
    response = client.post("/products", json={"name": "  Desk lamp ", "price": 24.5})
    assert response.status_code == 201
    assert response.json() == {"id": 4, "name": "Desk lamp", "price": 24.5}
    assert response.headers["location"] == "/products/4"
    assert client.get("/products/4").json() == response.json()


def test_price_is_exact(client: TestClient) -> None:
    """Numeric(10,2) round trip: no float artefacts at the edges of the allowed range."""
    for name, price in [("max", "1000000"), ("cents", "0.01"), ("odd", "123456.78")]:
        response = client.post("/products", json={"name": name, "price": float(price)})
        assert response.status_code == 201
        stored = client.get(response.headers["location"]).json()["price"]
        assert Decimal(str(stored)) == Decimal(price)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "price": 1}, "name"),
        ({"name": " \t ", "price": 1}, "name"),
        ({"name": "x" * 101, "price": 1}, "name"),
        ({"name": "ok", "price": 0}, "price"),
        ({"name": "ok", "price": -1}, "price"),
        ({"name": "ok", "price": 1_000_000.01}, "price"),
        ({"name": "ok", "price": 1.005}, "price"),
        ({"name": "ok", "price": True}, "price"),
        ({"name": "ok", "price": "NaN"}, "price"),
        ({"name": "ok", "price": "9.99"}, "price"),
        ({"name": "nul\x00byte", "price": 1}, "name"),
        ({"name": "new\nline", "price": 1}, "name"),
        ({"name": "ok", "price": 1, "colour": "red"}, "colour"),
    ],
)
def test_create_product_validation(client: TestClient, payload: dict, field: str) -> None:
    response = client.post("/products", json=payload)
    assert response.status_code == 422
    assert field in [err["loc"][-1] for err in response.json()["detail"]]


def test_name_limit_is_100_after_stripping(client: TestClient) -> None:
    assert client.post("/products", json={"name": f" {'y' * 100} ", "price": 1}).status_code == 201


def test_duplicate_name_409(client: TestClient) -> None:
    assert client.post("/products", json={"name": "Laptop", "price": 5}).status_code == 409
    # Stripping happens before the uniqueness check.
    response = client.post("/products", json={"name": " Laptop ", "price": 5})
    assert response.status_code == 409
    assert response.json() == {"detail": "A product named 'Laptop' already exists"}


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/xml", "multipart/form-data"]
)
def test_wrong_content_type_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/products", content=b'{"name": "x", "price": 1}', headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_json_with_charset_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/products",
        content=b'{"name": "charset", "price": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_version_local_sqlite(make_client: MakeClient) -> None:
    body = make_client(SHIPWAYS_GIT_SHA="abc123").get("/version").json()
    assert body["app"] == "shipways-app" and body["version"] == "1.0.0"
    assert body["git_sha"] == "abc123" and body["target"] == "local"
    assert body["python"].startswith("3.11.")
    assert body["instance"] == socket.gethostname()
    assert body["storage"]["engine"] == "sqlite" and body["storage"]["persistent"] is True


def test_version_serverless_sqlite_is_not_persistent(make_client: MakeClient) -> None:
    storage = make_client(SHIPWAYS_TARGET="serverless").get("/version").json()["storage"]
    assert storage["persistent"] is False
    assert (
        "per-instance" in storage["note"]
        and "lost when the instance is recycled" in storage["note"]
    )


def test_openapi_lists_every_path(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/healthz",
        "/readyz",
        "/hello",
        "/products",
        "/products/{product_id}",
        "/version",
    }
    price = client.get("/openapi.json").json()["components"]["schemas"]["ProductOut"]
    assert price["properties"]["price"]["type"] == "number"


def test_docs_page_has_its_own_csp(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "SwaggerUIBundle" in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src https://cdn.jsdelivr.net 'sha256-" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    (inline,) = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp, "the hash must match the page's inline script"
    # Only the docs route is relaxed.
    assert client.get("/openapi.json").headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )


def test_405_lists_every_method_of_the_path(client: TestClient) -> None:
    response = client.delete("/products")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert client.put("/hello").headers["allow"] == "GET"
    assert client.get("/nowhere").status_code == 404, "other HTTP errors are untouched"
