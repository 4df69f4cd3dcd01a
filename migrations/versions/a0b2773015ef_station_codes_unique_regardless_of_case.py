"""station codes unique regardless of case

Revision ID: a0b2773015ef
Revises: 54115b2deec5
Create Date: 2026-12-05 11:15:56.942545

A unique index on lower(code): an expression index, which SQLite (3.9+) and PostgreSQL both have.
SQLite cannot reflect it, so a later batch migration that rebuilds the station table must create
it again (Alembic's batch mode copies only the indexes it can reflect).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0b2773015ef"
down_revision: str | None = "54115b2deec5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT lower(code), count(*) FROM station GROUP BY lower(code) HAVING count(*) > 1"
            )
        )
        .all()
    )
    if clashes:
        codes = ", ".join(code for code, _ in clashes)
        raise RuntimeError(
            "Station codes that differ only in letter case must be merged or renamed before "
            f"this upgrade (compared in lower case: {codes})."
        )
    op.create_index("uq_station_code_lower", "station", [sa.text("lower(code)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_station_code_lower", table_name="station")
