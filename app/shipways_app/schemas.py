"""Request and response bodies: the JSON shapes of the shipways contract."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

from shipways_app.models import NAME_MAX_LENGTH

MAX_PRICE = Decimal("1000000")

# Exact on the way in (Decimal, at most 2 places); a JSON number on the way out, as clients
# expect `"price": 999.99`, not the string pydantic would emit for a Decimal.
Price = Annotated[
    Decimal,
    Field(gt=0, le=MAX_PRICE, decimal_places=2, allow_inf_nan=False, examples=[999.99]),
    PlainSerializer(float, return_type=float, when_used="json"),
]
ProductName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    Field(examples=["Laptop"]),
]


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ProductName
    price: Price


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    price: Price


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
    storage: Storage
