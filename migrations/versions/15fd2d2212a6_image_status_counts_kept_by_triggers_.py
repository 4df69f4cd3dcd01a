"""image status counts kept by triggers, keyset indexes

Each image keeps how many sightings (and sightings of a blank frame) it belongs to, and
image_count keeps per deployment how many images there are in all and per status. Database
triggers keep both right on every write, from any code path: links added or removed (a tag, an
undo, a deleted sighting or image), a sighting's species changed, a species' kind changed, an
image added, deleted, moved or given a new timestamp issue (a clock fix).

SQLite drops a table's triggers when a batch migration rebuilds it: a later migration that
rebuilds image, sighting_image, sighting or species must create them again
(tests/test_image_counts.py checks they are there at head).

Revision ID: 15fd2d2212a6
Revises: d4a9a22e7577
Create Date: 2026-12-05 11:35:13.273412
"""

# ruff: noqa: S608 -- the SQL is built from this file's constants only, never from input.
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "15fd2d2212a6"
down_revision: str | None = "d4a9a22e7577"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = {
    "untagged": "sighting_count = 0",
    "tagged": "sighting_count > blank_count",
    "blank": "blank_count > 0",
    "timestamp": "timestamp_issue IS NOT NULL",
}
COUNTS = {
    "untagged": "sighting_count = 0",
    "tagged": "sighting_count > blank_count",
    "blank": "blank_count > 0",
    "timestamp_issues": "timestamp_issue IS NOT NULL",
}
TRIGGERS = (
    ("sighting_image", "image_links_added"),
    ("sighting_image", "image_links_removed"),
    ("sighting_image", "image_links_moved"),
    ("sighting", "sighting_species_changed"),
    ("species", "species_kind_changed"),
    ("image", "image_added"),
    ("image", "image_removed"),
    ("image", "image_changed"),
)


def _links(image_id: str) -> str:
    """SET clause: the image's link counts, recounted (a deleted sighting is gone already)."""
    blank = (
        "SELECT count(*) FROM sighting_image si JOIN sighting s ON s.id = si.sighting_id "
        "JOIN species sp ON sp.id = s.species_id "
        f"WHERE si.image_id = {image_id} AND sp.kind = 'blank'"
    )
    return (
        f"sighting_count = (SELECT count(*) FROM sighting_image WHERE image_id = {image_id}), "
        f"blank_count = ({blank})"
    )


def _recount_where(condition: str) -> str:
    return f"UPDATE image SET {_links('image.id')} WHERE {condition}"


def _count_change(row: str, sign: str) -> str:
    """UPDATE image_count by one image row (OLD or NEW), added (+) or taken away (-)."""
    sets = [f"images = images {sign} 1"]
    for column, condition in COUNTS.items():
        cond = condition.replace("sighting_count", f"{row}.sighting_count")
        cond = cond.replace("blank_count", f"{row}.blank_count")
        cond = cond.replace("timestamp_issue ", f"{row}.timestamp_issue ")
        sets.append(f"{column} = {column} {sign} (CASE WHEN {cond} THEN 1 ELSE 0 END)")
    return f"UPDATE image_count SET {', '.join(sets)} WHERE deployment_id = {row}.deployment_id"


def _ensure_row(row: str) -> str:
    return (
        "INSERT INTO image_count (deployment_id, images, untagged, tagged, blank, "
        f"timestamp_issues) VALUES ({row}.deployment_id, 0, 0, 0, 0, 0) "
        "ON CONFLICT (deployment_id) DO NOTHING"
    )


CHANGED = (
    "OLD.deployment_id <> NEW.deployment_id OR OLD.sighting_count <> NEW.sighting_count "
    "OR OLD.blank_count <> NEW.blank_count "
    "OR (OLD.timestamp_issue IS NULL) <> (NEW.timestamp_issue IS NULL)"
)
SPECIES_OF_SIGHTING = "id IN (SELECT image_id FROM sighting_image WHERE sighting_id = NEW.id)"
KIND_OF_SPECIES = (
    "id IN (SELECT si.image_id FROM sighting_image si JOIN sighting s ON s.id = si.sighting_id "
    "WHERE s.species_id = NEW.id)"
)


def _bodies() -> dict[str, tuple[str, list[str]]]:
    """Trigger name -> (when it fires, statements), the same on both databases."""
    return {
        "image_links_added": (
            "AFTER INSERT ON sighting_image",
            [_recount_where("id = NEW.image_id")],
        ),
        "image_links_removed": (
            "AFTER DELETE ON sighting_image",
            [_recount_where("id = OLD.image_id")],
        ),
        "image_links_moved": (
            "AFTER UPDATE ON sighting_image",
            [_recount_where("id IN (OLD.image_id, NEW.image_id)")],
        ),
        "sighting_species_changed": (
            "AFTER UPDATE OF species_id ON sighting",
            [_recount_where(SPECIES_OF_SIGHTING)],
        ),
        "species_kind_changed": (
            "AFTER UPDATE OF kind ON species",
            [_recount_where(KIND_OF_SPECIES)],
        ),
        "image_added": ("AFTER INSERT ON image", [_ensure_row("NEW"), _count_change("NEW", "+")]),
        "image_removed": ("AFTER DELETE ON image", [_count_change("OLD", "-")]),
        "image_changed": (
            "AFTER UPDATE ON image",
            [_count_change("OLD", "-"), _ensure_row("NEW"), _count_change("NEW", "+")],
        ),
    }


WHEN = {"image_changed": CHANGED}


def _create_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (event, statements) in _bodies().items():
        when = f" WHEN ({WHEN[name]})" if name in WHEN else ""
        body = "; ".join(statements)
        if postgresql:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} {event} FOR EACH ROW{when} EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(f"CREATE TRIGGER {name} {event} FOR EACH ROW{when} BEGIN {body}; END")


def _drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _backfill() -> None:
    op.execute(_recount_where("id IN (SELECT image_id FROM sighting_image)"))
    op.execute(
        "INSERT INTO image_count (deployment_id, images, untagged, tagged, blank, "
        "timestamp_issues) SELECT d.id, count(i.id), "
        + ", ".join(f"coalesce(sum(CASE WHEN {c} THEN 1 ELSE 0 END), 0)" for c in COUNTS.values())
        + " FROM deployment d LEFT JOIN image i ON i.deployment_id = d.id GROUP BY d.id"
    )


def upgrade() -> None:
    op.create_table(
        "image_count",
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("untagged", sa.Integer(), nullable=False),
        sa.Column("tagged", sa.Integer(), nullable=False),
        sa.Column("blank", sa.Integer(), nullable=False),
        sa.Column("timestamp_issues", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_image_count_deployment_id_deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", name=op.f("pk_image_count")),
    )
    # Plain ALTER TABLE ADD COLUMN on both databases: a batch rebuild would drop the other
    # migrations' work on image (and, later, these triggers).
    op.add_column(
        "image", sa.Column("sighting_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "image", sa.Column("blank_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_index(
        "ix_image_deployment_taken_id", "image", ["deployment_id", "taken_at_utc", "id"]
    )
    op.create_index("ix_image_taken_id", "image", ["taken_at_utc", "id"])
    for status, condition in STATUSES.items():
        where = sa.text(condition)
        op.create_index(
            f"ix_image_{status}_taken",
            "image",
            ["taken_at_utc", "id"],
            sqlite_where=where,
            postgresql_where=where,
        )
    _backfill()
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    for status in STATUSES:
        op.drop_index(f"ix_image_{status}_taken", table_name="image")
    op.drop_index("ix_image_taken_id", table_name="image")
    op.drop_index("ix_image_deployment_taken_id", table_name="image")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_column("blank_count")
        batch_op.drop_column("sighting_count")
    op.drop_table("image_count")
