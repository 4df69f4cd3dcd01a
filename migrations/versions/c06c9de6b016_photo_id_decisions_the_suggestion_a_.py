"""photo-ID decisions: the suggestion a person took, its rank and score

Revision ID: c06c9de6b016
Revises: 9c1e5d2a7b40
Create Date: 2026-12-05 14:19:21.602551
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models

revision: str = "c06c9de6b016"
down_revision: str | None = "9c1e5d2a7b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "photo_id_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=True),
        sa.Column("individual_id", sa.Integer(), nullable=True),
        sa.Column("choice", sa.String(length=9), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("probably_new", sa.Boolean(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "choice IN ('candidate', 'new', 'other')", name=op.f("ck_photo_id_decision_choice")
        ),
        sa.CheckConstraint("rank IS NULL OR rank >= 1", name=op.f("ck_photo_id_decision_rank")),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotation.id"],
            name=op.f("fk_photo_id_decision_annotation_id_annotation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_photo_id_decision_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_photo_id_decision_individual_id_individual"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sighting.id"],
            name=op.f("fk_photo_id_decision_sighting_id_sighting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photo_id_decision")),
    )
    with op.batch_alter_table("photo_id_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_photo_id_decision_sighting_id"), ["sighting_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("photo_id_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photo_id_decision_sighting_id"))

    op.drop_table("photo_id_decision")
