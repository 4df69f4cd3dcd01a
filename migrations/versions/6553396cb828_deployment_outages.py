"""deployment outages: when a deployed camera was not working

Revision ID: 6553396cb828
Revises: 20b23e2564d3
Create Date: 2026-11-21 17:07:08.353669
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models

revision: str = "6553396cb828"
down_revision: str | None = "20b23e2564d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_outage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date > start_date", name=op.f("ck_deployment_outage_period")
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_deployment_outage_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_outage")),
    )
    with op.batch_alter_table("deployment_outage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_outage_deployment_id"), ["deployment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deployment_outage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_outage_deployment_id"))

    op.drop_table("deployment_outage")
