"""Insert-or-get that survives a race: `INSERT ... ON CONFLICT DO NOTHING`, on both backends.

Two rangers importing at the same moment may both find a species, an individual or a photo
missing and both insert it. Looking first and inserting after cannot prevent that; the unique
index can. The loser's insert does nothing (on PostgreSQL it waits for the winner's commit),
and the row is then read back, whoever wrote it.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.orm import Session


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_new(session: Session, table: Table, rows: list[dict], key: list[str], *returning):
    """Insert the rows whose `key` columns are not taken; the `returning` columns of those."""
    if not rows:
        return []
    statement = (
        _insert(session)(table).on_conflict_do_nothing(index_elements=key).returning(*returning)
    )
    return session.execute(statement, rows).all()


def insert_one(session: Session, table: Table, values: dict, key: list[str]) -> int | None:
    """Insert one row unless its `key` is taken: its new id, or None when it already existed."""
    statement = (
        _insert(session)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=key)
        .returning(table.c.id)
    )
    return session.execute(statement).scalar()
