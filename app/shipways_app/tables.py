"""The products table as SQLAlchemy Core sees it: what the app queries at run time.

The ORM model (`models.Product`) maps onto this same table, so the schema is declared once;
the Alembic migrations own it in the database. Serving imports only this module, not
`sqlalchemy.orm`, which keeps the ORM's import cost out of a Lambda cold start.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, MetaData, Numeric, String, Table

# Deterministic constraint names let later migrations drop/alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_MAX_LENGTH = 100

metadata = MetaData(naming_convention=NAMING_CONVENTION)

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_MAX_LENGTH), nullable=False, unique=True),
    # Money is exact: Numeric(10, 2), never float.
    Column("price", Numeric(10, 2), nullable=False),
    CheckConstraint("price > 0", name="price_positive"),
)
