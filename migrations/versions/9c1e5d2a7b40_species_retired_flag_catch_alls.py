"""species: retired flag; Other animal and Unknown for the review form

Revision ID: 9c1e5d2a7b40
Revises: eec8da94272f
Create Date: 2026-12-05 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c1e5d2a7b40"
down_revision: str | None = "eec8da94272f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATCH_ALLS = (("Animalia", "Other animal", "animal"), ("Unknown", "Unknown", "unknown"))


def upgrade() -> None:
    with op.batch_alter_table("species", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired", sa.Boolean(), server_default="0", nullable=False))
    species = sa.table(
        "species",
        sa.column("scientific_name", sa.String),
        sa.column("common_name", sa.String),
        sa.column("kind", sa.String),
        sa.column("confirmed", sa.Boolean),
    )
    connection = op.get_bind()
    present = set(connection.scalars(sa.select(species.c.scientific_name)))
    rows = [
        {"scientific_name": name, "common_name": common, "kind": kind, "confirmed": True}
        for name, common, kind in CATCH_ALLS
        if name not in present
    ]
    if rows:
        op.bulk_insert(species, rows)


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not a batch copy of the table: renaming a copy into
    # place fails on SQLite while the image-count triggers name the species table.
    op.drop_column("species", "retired")
