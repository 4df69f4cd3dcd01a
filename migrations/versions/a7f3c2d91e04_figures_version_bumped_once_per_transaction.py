"""figures' data version bumped once per transaction on PostgreSQL

The statement triggers of dc7ec4ae5933 updated data_version's one row after every statement. In
one transaction none of those row versions can be cleaned up, and each update walks the chain
of the earlier ones: a transaction of n statements on the watched tables costs O(n^2). Loading a
season's 300,000 sightings (one statement per row through psycopg's executemany) did not finish
in 8 minutes. The function now bumps once per transaction, remembered in a transaction-local
setting; what readers see is unchanged: the count moves when the transaction commits.

SQLite keeps its row triggers: it updates the row in place.

Revision ID: a7f3c2d91e04
Revises: c06c9de6b016
Create Date: 2026-12-05 17:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a7f3c2d91e04"
down_revision: str | None = "c06c9de6b016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = (
    "INSERT INTO data_version (name, changes) VALUES ('figures', 1) "
    "ON CONFLICT (name) DO UPDATE SET changes = data_version.changes + 1"
)
ONCE = (
    "CREATE OR REPLACE FUNCTION figures_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF current_setting('tracker.figures_bumped', true) IS DISTINCT FROM "
    "txid_current()::text THEN "
    f"{BUMP}; "
    "PERFORM set_config('tracker.figures_bumped', txid_current()::text, true); "
    "END IF; RETURN NULL; END $$"
)
EVERY = (
    "CREATE OR REPLACE FUNCTION figures_changed() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(ONCE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(EVERY)
