"""initial schema

Revision ID: 285518cd3787
Revises:
Create Date: 2026-11-21 14:54:47.158644
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.models

revision: str = "285518cd3787"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEED_SPECIES = (
    ("Panthera pardus orientalis", "Amur leopard", "animal"),
    ("Panthera tigris altaica", "Amur tiger", "animal"),
    ("Cervus nippon", "Sika deer", "animal"),
    ("Capreolus pygargus", "Siberian roe deer", "animal"),
    ("Sus scrofa", "Wild boar", "animal"),
    ("Lepus mandshuricus", "Manchurian hare", "animal"),
    ("Homo sapiens", "Human", "human"),
    ("Blank", "Blank (empty frame)", "blank"),
)


def upgrade() -> None:
    op.create_table(
        "camera",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("make", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera")),
        sa.UniqueConstraint("serial", name=op.f("uq_camera_serial")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("locked_until", tracker.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "species",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scientific_name", sa.String(length=120), nullable=False),
        sa.Column("common_name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('animal', 'human', 'blank', 'vehicle', 'unknown')",
            name=op.f("ck_species_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_species")),
        sa.UniqueConstraint("scientific_name", name=op.f("uq_species_scientific_name")),
    )
    op.create_table(
        "station",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_station_latitude")),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name=op.f("ck_station_longitude")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station")),
        sa.UniqueConstraint("code", name=op.f("uq_station_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", tracker.models.UTCDateTime(), nullable=True),
        sa.CheckConstraint("role IN ('ranger', 'researcher', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("clock_offset_s", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_deployment_period")
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["camera.id"],
            name=op.f("fk_deployment_camera_id_camera"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
            name=op.f("fk_deployment_station_id_station"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deployment_station_start", ["station_id", "start_date"], unique=False
        )

    op.create_table(
        "individual",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("species_id", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint("sex IN ('female', 'male', 'unknown')", name=op.f("ck_individual_sex")),
        sa.ForeignKeyConstraint(
            ["species_id"],
            ["species.id"],
            name=op.f("fk_individual_species_id_species"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_individual")),
        sa.UniqueConstraint("code", name=op.f("uq_individual_code")),
    )
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_path", sa.String(length=255), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("taken_at_raw", sa.String(length=32), nullable=True),
        sa.Column("utc_offset", sa.String(length=6), nullable=True),
        sa.Column("taken_at_utc", tracker.models.UTCDateTime(), nullable=True),
        sa.Column("timestamp_issue", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("altitude", sa.Double(), nullable=True),
        sa.Column("location_source", sa.String(length=8), nullable=False),
        sa.Column("camera_make", sa.String(length=64), nullable=True),
        sa.Column("camera_model", sa.String(length=64), nullable=True),
        sa.Column("camera_serial", sa.String(length=64), nullable=True),
        sa.Column("exif", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "location_source IN ('exif', 'station')", name=op.f("ck_image_location_source")
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_image_deployment_id_deployment"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_image_uploaded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image")),
        sa.UniqueConstraint("sha256", name=op.f("uq_image_sha256")),
    )
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.create_index(
            "ix_image_deployment_taken", ["deployment_id", "taken_at_utc"], unique=False
        )

    op.create_table(
        "sighting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("species_id", sa.Integer(), nullable=False),
        sa.Column("individual_id", sa.Integer(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("event_start", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("event_end", tracker.models.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("life_stage", sa.String(length=10), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("flank", sa.String(length=8), nullable=True),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("logged_by_id", sa.Integer(), nullable=True),
        sa.Column("logged_at", tracker.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "flank IS NULL OR flank IN ('left', 'right', 'both')", name=op.f("ck_sighting_flank")
        ),
        sa.CheckConstraint(
            "life_stage IS NULL OR life_stage IN ('adult', 'subadult', 'cub')",
            name=op.f("ck_sighting_stage"),
        ),
        sa.CheckConstraint(
            "sex IS NULL OR sex IN ('female', 'male', 'unknown')", name=op.f("ck_sighting_sex")
        ),
        sa.CheckConstraint("count >= 1", name=op.f("ck_sighting_count")),
        sa.CheckConstraint("event_end >= event_start", name=op.f("ck_sighting_period")),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_sighting_deployment_id_deployment"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_sighting_individual_id_individual"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["logged_by_id"],
            ["users.id"],
            name=op.f("fk_sighting_logged_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["species_id"],
            ["species.id"],
            name=op.f("fk_sighting_species_id_species"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sighting")),
    )
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sighting_deployment_start", ["deployment_id", "event_start"], unique=False
        )
        batch_op.create_index("ix_sighting_individual", ["individual_id"], unique=False)
        batch_op.create_index(
            "ix_sighting_species_start", ["species_id", "event_start"], unique=False
        )

    op.create_table(
        "individual_reference_image",
        sa.Column("individual_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("flank", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_individual_reference_image_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["individual_id"],
            ["individual.id"],
            name=op.f("fk_individual_reference_image_individual_id_individual"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "individual_id", "image_id", name=op.f("pk_individual_reference_image")
        ),
    )
    op.create_table(
        "sighting_image",
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_sighting_image_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sighting.id"],
            name=op.f("fk_sighting_image_sighting_id_sighting"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sighting_id", "image_id", name=op.f("pk_sighting_image")),
    )
    with op.batch_alter_table("sighting_image", schema=None) as batch_op:
        batch_op.create_index("ix_sighting_image_image", ["image_id"], unique=False)

    # The species every park starts with (a snapshot: later changes go in later migrations).
    species = sa.table(
        "species",
        sa.column("scientific_name", sa.String),
        sa.column("common_name", sa.String),
        sa.column("kind", sa.String),
        sa.column("confirmed", sa.Boolean),
    )
    op.bulk_insert(
        species,
        [
            {"scientific_name": name, "common_name": common, "kind": kind, "confirmed": True}
            for name, common, kind in SEED_SPECIES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("sighting_image", schema=None) as batch_op:
        batch_op.drop_index("ix_sighting_image_image")

    op.drop_table("sighting_image")
    op.drop_table("individual_reference_image")
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.drop_index("ix_sighting_species_start")
        batch_op.drop_index("ix_sighting_individual")
        batch_op.drop_index("ix_sighting_deployment_start")

    op.drop_table("sighting")
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_index("ix_image_deployment_taken")

    op.drop_table("image")
    op.drop_table("individual")
    with op.batch_alter_table("deployment", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_station_start")

    op.drop_table("deployment")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
    op.drop_table("users")
    op.drop_table("station")
    op.drop_table("species")
    op.drop_table("login_throttle")
    op.drop_table("camera")
