"""What a database error means for the person waiting: the database cannot be used at all, a
race worth one more try, or one value refused.

SQLAlchemy wraps every driver's error; the driver's own code says which state it is (a
PostgreSQL SQLSTATE, SQLite's error name), whichever backend is configured.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

# SQLSTATE classes and codes for "this database cannot be used now": a connection exception,
# a server shutting down or starting, a missing database, refused credentials.
_PG_UNAVAILABLE_CLASSES = ("08", "28", "57P", "3D")
# A transaction that lost a race and may simply run again: a deadlock, a serialization failure.
_PG_RETRY = {"40P01", "40001"}
_SQLITE_UNAVAILABLE = {"SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_PERM", "SQLITE_AUTH"}
_SQLITE_RETRY = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT"}


def _codes(exc: DBAPIError) -> tuple[str | None, str | None]:
    orig = exc.orig
    return getattr(orig, "sqlstate", None), getattr(orig, "sqlite_errorname", None)


def unavailable(exc: BaseException) -> bool:
    """True when the error says the database cannot be reached or opened, not that a statement
    was wrong: no server, a lost connection, no such database file, refused credentials."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate, sqlite_name = _codes(exc)
    if sqlite_name is not None:
        return sqlite_name in _SQLITE_UNAVAILABLE or sqlite_name.startswith("SQLITE_IOERR")
    if sqlstate is not None:
        return sqlstate.startswith(_PG_UNAVAILABLE_CLASSES)
    # psycopg's connection failures happen before any server answers: no SQLSTATE at all.
    return type(exc.orig).__name__ in {"OperationalError", "InterfaceError"}


def retryable(exc: BaseException) -> bool:
    """True for a transaction that lost a race (deadlock, serialization, a busy SQLite file)."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate, sqlite_name = _codes(exc)
    return sqlstate in _PG_RETRY or sqlite_name in _SQLITE_RETRY


def reason(exc: DBAPIError) -> str:
    """The driver's own words, on one line."""
    text = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
    return text[:300]


def shown_url(url: str) -> str:
    """The database URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown without anything that could be a password
        return url.split("@")[-1]


def unavailable_message(url: str, exc: DBAPIError) -> str:
    return f"cannot reach the database {shown_url(url)}: {reason(exc)}"
