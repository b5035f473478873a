"""Create the products table and seed the three sample products.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SEED = [
    {"name": "Laptop", "price": Decimal("999.99")},
    {"name": "Smartphone", "price": Decimal("699.99")},
    {"name": "Headphones", "price": Decimal("149.99")},
]


def upgrade() -> None:
    products = op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("price", sa.Numeric(10, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("name", name=op.f("uq_products_name")),
        sa.CheckConstraint("price > 0", name=op.f("ck_products_price_positive")),
    )
    # No explicit ids: the sequence must hand out 1-3 itself, or the next insert would collide.
    op.bulk_insert(products, SEED)


def downgrade() -> None:
    op.drop_table("products")
