"""independent events kept per sighting, groups marked dirty by triggers

sighting_event holds the independent-event rule (tracker.events) at its default window for every
timed, trusted sighting: its event, whether it starts one, its group (station, species,
individual). The rule only couples sightings of one group, so a write only changes the groups it
touches. Triggers append those groups to sighting_event_dirty from any code path: a sighting added,
deleted, re-tagged, re-timed or moved to another deployment; a photo linked or unlinked when its
timestamp has an issue; a photo's timestamp issue set or cleared (a clock fix), a flagged photo
deleted; a deployment moved to another station. tracker.eventstore recomputes the dirty groups
before a figure reads them. The backfill below computes every group once, in SQL.

SQLite drops a table's triggers when a batch migration rebuilds it: a later migration that
rebuilds sighting, sighting_image, image or deployment must create them again
(tests/test_eventstore.py checks they are there at head).

Revision ID: 7b3e9f1c2a4d
Revises: a7f3c2d91e04
Create Date: 2026-12-05 17:30:00
"""

# ruff: noqa: S608 -- the SQL is built from this file's constants only, never from input.
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models

revision: str = "7b3e9f1c2a4d"
down_revision: str | None = "a7f3c2d91e04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# tracker.events.DEFAULT_MINUTES when this was written (tests/test_eventstore.py holds them equal).
MINUTES = 30
TOLERANCE_S = 0.001

MARK = "INSERT INTO sighting_event_dirty (station_id, species_id, individual_id) "


def _group_of(row: str) -> str:
    """The group of the sighting `row` (OLD or NEW) if it has a time."""
    return (
        f"{MARK}SELECT station_id, {row}.species_id, {row}.individual_id FROM deployment "
        f"WHERE id = {row}.deployment_id AND {row}.event_start IS NOT NULL"
    )


def _groups_of_sighting(sighting_id: str, condition: str = "") -> str:
    return (
        f"{MARK}SELECT d.station_id, s.species_id, s.individual_id FROM sighting s "
        "JOIN deployment d ON d.id = s.deployment_id "
        f"WHERE s.id = {sighting_id} AND s.event_start IS NOT NULL{condition}"
    )


def _groups_of_image(image_id: str) -> str:
    return (
        f"{MARK}SELECT DISTINCT d.station_id, s.species_id, s.individual_id "
        "FROM sighting_image si JOIN sighting s ON s.id = si.sighting_id "
        "JOIN deployment d ON d.id = s.deployment_id "
        f"WHERE si.image_id = {image_id} AND s.event_start IS NOT NULL"
    )


def _groups_of_deployment(station: str) -> str:
    return (
        f"{MARK}SELECT DISTINCT {station}, species_id, individual_id FROM sighting "
        "WHERE deployment_id = NEW.id AND event_start IS NOT NULL"
    )


RULE_COLUMNS = ("deployment_id", "species_id", "individual_id", "event_start", "event_end", "count")


def _bodies(postgresql: bool) -> dict[str, tuple[str, str | None, list[str]]]:
    """Trigger name -> (when it fires, its WHEN condition, statements)."""
    differs = " IS DISTINCT FROM " if postgresql else " IS NOT "
    changed = " OR ".join(f"OLD.{c}{differs}NEW.{c}" for c in RULE_COLUMNS)
    flagged = "(OLD.timestamp_issue IS NULL) <> (NEW.timestamp_issue IS NULL)"
    unflagged_image = (
        " AND NOT EXISTS (SELECT 1 FROM image WHERE id = OLD.image_id AND timestamp_issue IS NULL)"
    )
    return {
        "sighting_events_added": ("AFTER INSERT ON sighting", None, [_group_of("NEW")]),
        "sighting_events_removed": ("AFTER DELETE ON sighting", None, [_group_of("OLD")]),
        "sighting_events_changed": (
            "AFTER UPDATE ON sighting",
            changed,
            [_group_of("OLD"), _group_of("NEW")],
        ),
        "sighting_image_events_linked": (
            "AFTER INSERT ON sighting_image",
            None,
            [
                _groups_of_sighting(
                    "NEW.sighting_id",
                    " AND EXISTS (SELECT 1 FROM image WHERE id = NEW.image_id "
                    "AND timestamp_issue IS NOT NULL)",
                )
            ],
        ),
        # The photo may be gone already (deleted, its links cascading): then it may have been
        # the one with an issue.
        "sighting_image_events_unlinked": (
            "AFTER DELETE ON sighting_image",
            None,
            [_groups_of_sighting("OLD.sighting_id", unflagged_image)],
        ),
        "sighting_image_events_moved": (
            "AFTER UPDATE ON sighting_image",
            None,
            [_groups_of_sighting("OLD.sighting_id"), _groups_of_sighting("NEW.sighting_id")],
        ),
        "image_events_trust_changed": (
            "AFTER UPDATE ON image",
            flagged,
            [_groups_of_image("NEW.id")],
        ),
        # Before: its links are still there to find the sightings by.
        "image_events_removed": (
            "BEFORE DELETE ON image",
            "OLD.timestamp_issue IS NOT NULL",
            [_groups_of_image("OLD.id")],
        ),
        "deployment_events_moved": (
            "AFTER UPDATE ON deployment",
            "OLD.station_id <> NEW.station_id",
            [_groups_of_deployment("OLD.station_id"), _groups_of_deployment("NEW.station_id")],
        ),
    }


def _create_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (event, when, statements) in _bodies(postgresql).items():
        condition = f" WHEN ({when})" if when else ""
        body = "; ".join(statements)
        if postgresql:
            returned = "OLD" if event.startswith("BEFORE") else "NULL"
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {body}; RETURN {returned}; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} {event} FOR EACH ROW{condition} EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(f"CREATE TRIGGER {name} {event} FOR EACH ROW{condition} BEGIN {body}; END")


def _drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (event, _when, _statements) in _bodies(postgresql).items():
        table = event.split(" ON ")[1]
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _epoch(column: str, postgresql: bool) -> str:
    if postgresql:
        return f"EXTRACT(EPOCH FROM {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def _backfill() -> None:
    """Every group's events, by the rule of tracker.events written out in SQL."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    group = "station_id, species_id, individual_id"
    gap = f"{_epoch('event_start', postgresql)} - {_epoch('latest_before', postgresql)}"
    ordered = (
        "SELECT s.id AS sighting_id, d.station_id, s.species_id, s.individual_id, "
        "s.event_start, s.event_end, s.count, max(s.event_end) OVER (PARTITION BY d.station_id, "
        "s.species_id, s.individual_id ORDER BY s.event_start, s.id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_before "
        "FROM sighting s JOIN deployment d ON d.id = s.deployment_id "
        "WHERE s.event_start IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sighting_image si "
        "JOIN image i ON i.id = si.image_id "
        "WHERE si.sighting_id = s.id AND i.timestamp_issue IS NOT NULL)"
    )
    flagged = (
        f"SELECT o.*, CASE WHEN latest_before IS NULL OR {gap} > {MINUTES * 60 + TOLERANCE_S} "
        f"THEN 1 ELSE 0 END AS starts FROM ({ordered}) o"
    )
    numbered = (
        f"SELECT f.*, sum(starts) OVER (PARTITION BY {group} ORDER BY event_start, sighting_id "
        f"ROWS UNBOUNDED PRECEDING) AS event_no FROM ({flagged}) f"
    )
    op.execute(
        f"INSERT INTO sighting_event (sighting_id, event_id, {group}, event_start, event_end, "
        "count, starts_event) SELECT sighting_id, first_value(sighting_id) OVER (PARTITION BY "
        f"{group}, event_no ORDER BY event_start, sighting_id), {group}, event_start, event_end, "
        f"count, starts = 1 FROM ({numbered}) n"
    )


def upgrade() -> None:
    op.create_table(
        "sighting_event",
        sa.Column("sighting_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("species_id", sa.Integer(), nullable=False),
        sa.Column("individual_id", sa.Integer(), nullable=True),
        sa.Column("event_start", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("event_end", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("starts_event", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("sighting_id", name=op.f("pk_sighting_event")),
    )
    op.create_index(
        "ix_sighting_event_group",
        "sighting_event",
        ["station_id", "species_id", "individual_id"],
    )
    op.create_index(
        "ix_sighting_event_individual",
        "sighting_event",
        ["individual_id", "starts_event", "station_id", "species_id", "event_start", "event_end"],
    )
    op.create_index(
        "ix_sighting_event_starts",
        "sighting_event",
        ["species_id", "event_start", "station_id", "individual_id"],
        sqlite_where=sa.text("starts_event = 1"),
        postgresql_where=sa.text("starts_event"),
    )
    op.create_index("ix_sighting_event_start", "sighting_event", ["event_start"])
    op.create_index(
        "ix_sighting_event_station_starts",
        "sighting_event",
        ["station_id", "event_start"],
        sqlite_where=sa.text("starts_event = 1"),
        postgresql_where=sa.text("starts_event"),
    )
    # Plain CREATE INDEX: no batch rebuild of sighting (it would drop its triggers).
    op.create_index("ix_sighting_deployment_end", "sighting", ["deployment_id", "event_end"])
    op.create_index(
        "ix_sighting_individual_deployment", "sighting", ["individual_id", "deployment_id"]
    )
    op.create_index(
        "ix_sighting_cubs",
        "sighting",
        ["species_id", "event_start"],
        sqlite_where=sa.text("life_stage = 'cub'"),
        postgresql_where=sa.text("life_stage = 'cub'"),
    )
    op.create_table(
        "sighting_event_dirty",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("species_id", sa.Integer(), nullable=False),
        sa.Column("individual_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sighting_event_dirty")),
    )
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE sighting_event")  # its plans want statistics before autovacuum's
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.drop_table("sighting_event_dirty")
    op.drop_index("ix_sighting_cubs", table_name="sighting")
    op.drop_index("ix_sighting_deployment_end", table_name="sighting")
    op.drop_index("ix_sighting_individual_deployment", table_name="sighting")
    op.drop_index("ix_sighting_event_station_starts", table_name="sighting_event")
    op.drop_index("ix_sighting_event_start", table_name="sighting_event")
    op.drop_index("ix_sighting_event_starts", table_name="sighting_event")
    op.drop_index("ix_sighting_event_individual", table_name="sighting_event")
    op.drop_index("ix_sighting_event_group", table_name="sighting_event")
    op.drop_table("sighting_event")
