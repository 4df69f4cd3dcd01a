"""individual code history, sightings without a time

Revision ID: 20b23e2564d3
Revises: 285518cd3787
Create Date: 2026-11-21 15:30:48.790823
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models

revision: str = "20b23e2564d3"
down_revision: str | None = "285518cd3787"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "individual_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("individual_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("replaced_at", tracker.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_individual_code_individual_id_individual"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_individual_code")),
    )
    with op.batch_alter_table("individual_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_individual_code_code"), ["code"], unique=False)

    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.alter_column(
            "event_start", existing_type=tracker.models.UTCDateTime(), nullable=True
        )
        batch_op.alter_column(
            "event_end", existing_type=tracker.models.UTCDateTime(), nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.alter_column(
            "event_end", existing_type=tracker.models.UTCDateTime(), nullable=False
        )
        batch_op.alter_column(
            "event_start", existing_type=tracker.models.UTCDateTime(), nullable=False
        )

    with op.batch_alter_table("individual_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_individual_code_code"))

    op.drop_table("individual_code")
