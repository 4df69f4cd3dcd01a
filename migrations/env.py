"""Alembic environment: the app's metadata and the database URL the tracker was given."""

import warnings

from alembic import context
from sqlalchemy import pool

from tracker.db import make_engine
from tracker.models import Base

# SQLite cannot reflect expression indexes (uq_station_code_lower), so autogenerate cannot compare
# them there and says so; PostgreSQL compares them, and the tests check both.
warnings.filterwarnings(
    "ignore", message="autogenerate skipping metadata-specified expression-based index"
)
warnings.filterwarnings(
    "ignore", message="Skipped unsupported reflection of expression-based index"
)

config = context.config
target_metadata = Base.metadata


def include_name(name, type_, _parent_names) -> bool:
    """The tracker's own tables only: a job queue kept in the same PostgreSQL database
    (TRACKER_JOBS_URL) adds huey's `huey_*` tables, which no migration may drop."""
    return not (type_ == "table" and name.startswith("huey_"))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        include_name=include_name,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_name=include_name,
            # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
