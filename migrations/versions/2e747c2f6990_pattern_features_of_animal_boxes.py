"""pattern features of animal boxes: the coat keypoints photo-ID matches (tracker.reid)

Revision ID: 2e747c2f6990
Revises: 718cdef35ded
Create Date: 2026-12-05 11:53:03.213872
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models

revision: str = "2e747c2f6990"
down_revision: str | None = "718cdef35ded"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pattern_features",
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=16), nullable=False),
        sa.Column("keypoints", sa.Integer(), nullable=False),
        sa.Column("bbox", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("unusable", sa.Boolean(), nullable=False),
        sa.Column("computed_at", tracker.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotation.id"],
            name=op.f("fk_pattern_features_annotation_id_annotation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("annotation_id", name=op.f("pk_pattern_features")),
    )


def downgrade() -> None:
    op.drop_table("pattern_features")
