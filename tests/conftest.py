"""Fixtures: a fresh app and database per test, on SQLite and on PostgreSQL.

Every test that touches the database runs once per backend (`[sqlite]`, `[postgresql]` in its
id). The schema comes from the Alembic migrations, as in production. PostgreSQL is never skipped
quietly: if it is asked for and cannot be reached, the run stops with an error.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tracker import create_app, migrate
from tracker.exports import stream
from tracker.models import SEED_SPECIES, Base, Species, User

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "correct horse battery"
# Hashed once: scrypt is deliberately slow, and every test signs someone in.
PASSWORD_HASH = generate_password_hash(PASSWORD)
ROLES = ("ranger", "researcher", "admin")


def damaged_jpeg(data: bytes) -> bytes:
    """The photo with its compressed image data overwritten half-way, its end intact: libjpeg
    decodes the part before the damage and fills in the rest."""
    middle = len(data) // 2
    return data[:middle] + b"\x55" * 500 + data[middle + 500 :]


def pytest_addoption(parser):
    parser.addoption(
        "--backends",
        default=os.environ.get("TRACKER_TEST_BACKENDS", "sqlite,postgresql"),
        help="comma-separated database backends to run database tests on",
    )


def pytest_configure(config):
    config.backends = [b.strip() for b in config.getoption("--backends").split(",") if b.strip()]
    unknown = set(config.backends) - {"sqlite", "postgresql"}
    if unknown:
        raise pytest.UsageError(f"unknown backend(s): {', '.join(sorted(unknown))}")
    config.backend_counts = Counter()


def pytest_sessionstart(session):
    """Stop at once, with the reason, if PostgreSQL is asked for and cannot be reached: checked
    here, in the process that runs the session (before any test process starts), as well as by
    each process's own database (_postgres_database)."""
    config = session.config
    if "postgresql" not in config.backends or hasattr(config, "workerinput"):
        return
    admin_url = _admin_url()
    admin = create_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the server must stop the run loudly
        pytest.exit(_postgres_unusable(admin_url, exc), returncode=3)
    finally:
        admin.dispose()


def _admin_url():
    """The PostgreSQL server the tests use, at its admin database."""
    return make_url(os.environ.get("TRACKER_TEST_POSTGRES_URL", DEFAULT_PG))


def _postgres_unusable(admin_url, exc: Exception) -> str:
    return (
        f"PostgreSQL tests were asked for but the server at "
        f"{admin_url.render_as_string(hide_password=True)} cannot be used: {exc}"
    )


def pytest_report_header(config):
    lines = [f"database backends: {', '.join(config.backends)}"]
    if "postgresql" in config.backends:
        url = _admin_url()
        lines.append(f"postgresql server: {url.render_as_string(hide_password=True)}")
    return lines


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        # @pytest.mark.backends("postgresql"): a test that only one backend can run runs in that
        # backend's pass, whenever it is asked for (and, when it is not, shows as skipped).
        marker = metafunc.definition.get_closest_marker("backends")
        wanted = [b for b in metafunc.config.backends if marker is None or b in marker.args]
        if not wanted:
            only = ", ".join(marker.args)
            skip = pytest.mark.skip(reason=f"{only} only, and --backends does not ask for it")
            wanted = [pytest.param(marker.args[0], marks=skip)]
        metafunc.parametrize("backend", wanted, scope="session")


def pytest_terminal_summary(terminalreporter, config):
    passed = terminalreporter.stats.get("passed", [])
    counts = Counter()
    for report in passed:
        match = re.search(r"[\[-](sqlite|postgresql)[\]-]", report.nodeid)
        if match:
            counts[match.group(1)] += 1
    summary = ", ".join(f"{b}: {counts[b]} passed" for b in config.backends)
    terminalreporter.write_line(f"database tests per backend: {summary}")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_database():
    """A fresh PostgreSQL database for this run, migrated once and dropped at the end."""
    admin_url = _admin_url()
    name = f"tracker_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server must stop the run loudly
        pytest.exit(_postgres_unusable(admin_url, exc), returncode=3)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_database_url(backend, tmp_path):
    """A database with no tables at all, for testing the migrations themselves."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    admin_url = _admin_url()
    name = f"tracker_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db_url(backend, request, tmp_path) -> str:
    """An empty migrated database (species seeded) for one test."""
    if backend == "sqlite":
        path = tmp_path / "tracker.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url, engine = request.getfixturevalue("_postgres_database")
    with engine.begin() as conn:
        # DELETE and a sequence restart: five times faster than TRUNCATE on near-empty tables.
        conn.execute(text(_postgres_reset(conn)))
        conn.execute(
            insert(Species),
            [
                {"scientific_name": n, "common_name": c, "kind": k, "confirmed": True}
                for n, c, k in SEED_SPECIES
            ],
        )
        # Seeding fired the figures trigger; a migrated database starts without that row.
        conn.execute(text("DELETE FROM data_version"))
    return url


def _postgres_reset(conn) -> str:
    sequences = conn.scalars(text("SELECT sequence_name FROM information_schema.sequences"))
    statements = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
    statements += [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]
    return "; ".join(statements)


@pytest.fixture
def app_config(db_url, tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path / "instance"))
    return {
        "DATABASE_URL": db_url,
        "SECRET_KEY": "test-secret",
        "MEDIA_DIR": str(tmp_path / "media"),
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    yield app
    stream.stop_all()  # downloads a test did not read to the end
    app.extensions["tracker.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app, app_config):
    """The `tracker` commands on the app as the command line builds it: without its pages.

    Same database and media folder as `app`, so a test can import on the command line and look
    at the result in the pages.
    """
    command_app = create_app(app_config, web=False)
    yield command_app.test_cli_runner()
    command_app.extensions["tracker.engine"].dispose()


@pytest.fixture
def session(app):
    """A database session of its own, outside any request or app context, as domain code runs.

    It pushes no app context, so requests made by the test client in the same test get their own
    session, as they would in production.
    """
    session = app.extensions["tracker.sessionmaker"]()
    yield session
    session.close()


@pytest.fixture
def deployment(session):
    """Station KP-01 with a deployment active since 1 January 2024 (a test module may define
    its own)."""
    from tracker import fieldwork

    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    dep = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    session.commit()
    return dep


@pytest.fixture
def users(app) -> dict[str, User]:
    """One active user per role, all with PASSWORD."""
    from tracker.db import get_session

    with app.app_context():
        session = get_session()
        made = {
            role: User(email=f"{role}@park.test", password_hash=PASSWORD_HASH, role=role)
            for role in ROLES
        }
        session.add_all(made.values())
        session.commit()
        return made


DERIVED = ("sighting_event", "sighting_event_dirty")


def row_counts(app) -> dict[str, int]:
    """Rows per table, read through a connection of its own (what is committed).

    The kept events (tracker.eventstore) are left out: any figure page may bring them up to date,
    a GET too, without changing what they say."""
    with app.extensions["tracker.engine"].connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
            if table.name not in DERIVED
        }


def trigger_names(session) -> set[str]:
    """The database's own triggers (migrations create them; a batch rebuild drops them)."""
    if session.get_bind().dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    return set(session.scalars(text(query)))


def fetch(app, statement):
    """Run a query in a session of its own, outside any request."""
    with Session(app.extensions["tracker.engine"]) as session:
        return session.execute(statement).all()


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def explain(session, query, *, sorting: bool = True) -> str:
    """The plan of a statement: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL (which is
    asked what it could use: a test's tables are too small for it to choose an index).

    `sorting=False` asks PostgreSQL whether an index gives the order, without sorting: with a
    few dozen rows, and statistics left by earlier tests, sorting them is as cheap, and its
    choice flips with the order the tests ran in."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(str(r[-1]) for r in rows)
    settings = ["enable_seqscan"] + ([] if sorting else ["enable_sort"])
    for setting in settings:
        session.execute(text(f"SET {setting} = off"))
    plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    for setting in settings:
        session.execute(text(f"RESET {setting}"))
    return plan


def csrf_token(client, url: str) -> str:
    """The CSRF token of the form at `url`, as a browser would read it."""
    html = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def as_role(client, users):
    """Sign the test client in as the given role; returns the client."""

    def _as(role: str):
        response = sign_in(client, users[role].email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return _as
