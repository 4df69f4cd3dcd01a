"""The Alembic migrations build the schema the models describe, on every backend."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from tracker import create_app, migrate
from tracker.models import SEED_SPECIES, Base


def _app(url, tmp_path):
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "x", "MEDIA_DIR": str(tmp_path / "m")})


def test_upgrade_on_empty_database_then_check_finds_nothing(empty_database_url, tmp_path):
    runner = _app(empty_database_url, tmp_path).test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "(head)" in result.output

    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    assert "models and migrations agree" in result.output

    engine = create_engine(empty_database_url)
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT scientific_name FROM species")))
    engine.dispose()
    assert names == {name for name, _, _ in SEED_SPECIES}


def test_check_fails_when_schema_and_models_differ(empty_database_url, tmp_path):
    migrate.upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE stray_table (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    result = _app(empty_database_url, tmp_path).test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 1
    assert "models and migrations differ" in result.output
    assert "stray_table" in result.output


def test_check_fails_on_a_database_behind_the_migrations(empty_database_url, tmp_path):
    result = _app(empty_database_url, tmp_path).test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 1
    assert "not up to date" in result.output


def test_downgrade_to_base_and_upgrade_again(empty_database_url):
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    engine = create_engine(empty_database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(empty_database_url)
    assert migrate.check(empty_database_url) is None
