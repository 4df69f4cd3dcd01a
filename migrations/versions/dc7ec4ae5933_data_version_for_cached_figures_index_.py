"""data version for cached figures, index of uploads

data_version's "figures" row counts every write to the tables the dashboard, maps and effort
rest on; tracker.figures serves a cached figure only while it has not moved. PostgreSQL bumps
it once per statement, SQLite (no statement triggers) once per row.

Revision ID: dc7ec4ae5933
Revises: 15fd2d2212a6
Create Date: 2026-12-05 11:58:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dc7ec4ae5933"
down_revision: str | None = "15fd2d2212a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "sighting",
    "sighting_image",
    "image",
    "deployment",
    "deployment_outage",
    "station",
    "species",
    "individual",
)
BUMP = (
    "INSERT INTO data_version (name, changes) VALUES ('figures', 1) "
    "ON CONFLICT (name) DO UPDATE SET changes = data_version.changes + 1"
)


def _triggers(create: bool) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql and create:
        op.execute(
            "CREATE FUNCTION figures_changed() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
    for table in TABLES:
        name = f"{table}_figures_changed"
        for event in ("INSERT", "UPDATE", "DELETE"):
            trigger = f"{name}_{event.lower()}"
            if not create:
                op.execute(
                    f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if postgresql else "")
                )
            elif postgresql:
                op.execute(
                    f"CREATE TRIGGER {trigger} AFTER {event} ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION figures_changed()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {trigger} AFTER {event} ON {table} FOR EACH ROW "
                    f"BEGIN {BUMP}; END"
                )
    if postgresql and not create:
        op.execute("DROP FUNCTION IF EXISTS figures_changed()")


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_version")),
    )
    op.create_index("ix_image_uploaded_id", "image", ["uploaded_at", "id"])
    _triggers(create=True)


def downgrade() -> None:
    _triggers(create=False)
    op.drop_index("ix_image_uploaded_id", table_name="image")
    op.drop_table("data_version")
