"""upload file warnings: what a file of a card that landed lost or had wrong

Revision ID: 5c1d8e2f7a90
Revises: 7b3e9f1c2a4d
Create Date: 2026-12-06 08:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1d8e2f7a90"
down_revision: str | None = "7b3e9f1c2a4d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("upload_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warnings", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("upload_file", schema=None) as batch_op:
        batch_op.drop_column("warnings")
