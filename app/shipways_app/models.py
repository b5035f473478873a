"""ORM models, for the migrations' autogenerate and for tooling. The app serves with Core.

`Product` is mapped onto the Core table in `tables`, so both views share one declaration;
the schema itself is owned by the Alembic migrations in `migrations/`.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import DeclarativeBase, Mapped

from shipways_app.tables import NAME_MAX_LENGTH, NAMING_CONVENTION, metadata, products

__all__ = ["NAME_MAX_LENGTH", "NAMING_CONVENTION", "Base", "Product"]


class Base(DeclarativeBase):
    metadata = metadata


class Product(Base):
    __table__ = products

    id: Mapped[int]
    name: Mapped[str]
    price: Mapped[Decimal]
