"""user session version: ending every session and remember cookie of an account

Revision ID: d4a9a22e7577
Revises: a0b2773015ef
Create Date: 2026-12-05 11:13:50.934437
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4a9a22e7577"
down_revision: str | None = "a0b2773015ef"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    # Sign-in counters are now kept per (account, address) pair and per address: the old
    # per-account and per-address rows would never be read again.
    op.execute("DELETE FROM login_throttle")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
