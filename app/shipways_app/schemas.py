"""Request and response bodies: the JSON shapes of the shipways contract."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from shipways_app.tables import NAME_MAX_LENGTH

MAX_PRICE = Decimal("1000000")


def _json_number(value: Any) -> Any:
    """Only JSON numbers are prices: "9.99" (a string) is a client bug worth reporting."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("price must be a JSON number, e.g. 9.99")
    return value


# Exact on the way in (Decimal, at most 2 places), documented as what it is: a number.
PriceIn = Annotated[
    Decimal,
    BeforeValidator(_json_number),
    Field(gt=0, le=MAX_PRICE, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema(
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000, "multipleOf": 0.01,
         "examples": [999.99]}
    ),
]  # fmt: skip
# A JSON number on the way out, as clients expect `"price": 999.99`, not the string pydantic
# would emit for a Decimal.
PriceOut = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
# Printable text only: control characters (NUL above all, which PostgreSQL rejects) are a 422.
ProductName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=r"^[^\x00-\x1f\x7f]+$",
    ),
    Field(examples=["Laptop"]),
]


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ProductName
    price: PriceIn


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    price: PriceOut


class ProductPage(BaseModel):
    products: list[ProductOut]
    total: int


class Detail(BaseModel):
    detail: str


class Status(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class Message(BaseModel):
    message: str


class Storage(BaseModel):
    engine: str
    persistent: bool
    note: str


class VersionInfo(BaseModel):
    app: str
    version: str
    git_sha: str
    target: str
    python: str
    instance: str
    storage: Storage
