"""Photos (Camtrap DP `media`), the per-deployment counts the image list reads, and the data
version that figures are cached by."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.accounts import User
from tracker.models.base import (
    LOCATION_SOURCES,
    Base,
    one_of,
    utcnow,
)
from tracker.models.fieldwork import Deployment

# The image list's status filters, as conditions on the link counts the database keeps on each
# image. Each has a partial index of its own in capture order (see tracker/imagelist.py).
IMAGE_STATUSES = {
    "untagged": "sighting_count = 0",
    "tagged": "sighting_count > blank_count",
    "blank": "blank_count > 0",
    "timestamp": "timestamp_issue IS NOT NULL",
}


def _status_index(status: str) -> Index:
    where = text(IMAGE_STATUSES[status])
    return Index(
        f"ix_image_{status}_taken",
        "taken_at_utc",
        "id",
        sqlite_where=where,
        postgresql_where=where,
    )


class Image(Base):
    """One stored camera-trap photo (Camtrap DP `media`)."""

    __tablename__ = "image"
    __table_args__ = (
        CheckConstraint(one_of("location_source", LOCATION_SOURCES), name="location_source"),
        Index("ix_image_deployment_taken", "deployment_id", "taken_at_utc"),
        # Keyset pages in capture order; SQLite has the id in every index, PostgreSQL needs it.
        Index("ix_image_deployment_taken_id", "deployment_id", "taken_at_utc", "id"),
        Index("ix_image_taken_id", "taken_at_utc", "id"),
        Index("ix_image_uploaded_id", "uploaded_at", "id"),  # the dashboard's latest uploads
        *(_status_index(s) for s in IMAGE_STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The database, not a check before insert, keeps a photo from landing twice.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    stored_path: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    # Exactly what the camera wrote, untouched, e.g. "2019:04:04 10:04:12".
    taken_at_raw: Mapped[str | None] = mapped_column(String(32))
    utc_offset: Mapped[str | None] = mapped_column(String(6))
    taken_at_utc: Mapped[datetime | None]
    timestamp_issue: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    altitude: Mapped[float | None]
    location_source: Mapped[str] = mapped_column(String(8), default="station")
    camera_make: Mapped[str | None] = mapped_column(String(64))
    camera_model: Mapped[str | None] = mapped_column(String(64))
    camera_serial: Mapped[str | None] = mapped_column(String(64))
    exif: Mapped[dict] = mapped_column(default=dict)
    tags: Mapped[list] = mapped_column(default=list)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="RESTRICT"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How many sightings, and sightings of a blank frame, this photo belongs to. Database
    # triggers keep them (and ImageCount) right whatever writes the links, so never set them.
    sighting_count: Mapped[int] = mapped_column(default=0, server_default="0")
    blank_count: Mapped[int] = mapped_column(default=0, server_default="0")

    deployment: Mapped[Deployment] = relationship()
    uploaded_by: Mapped[User | None] = relationship()


class ImageCount(Base):
    """Photos per deployment in all and per status, kept by database triggers on every insert,
    delete and change of images, sighting links, sightings' species and species' kinds: the
    image list and the dashboard add up a few hundred rows instead of counting a million."""

    __tablename__ = "image_count"

    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), primary_key=True
    )
    images: Mapped[int] = mapped_column(default=0)
    untagged: Mapped[int] = mapped_column(default=0)
    tagged: Mapped[int] = mapped_column(default=0)
    blank: Mapped[int] = mapped_column(default=0)
    timestamp_issues: Mapped[int] = mapped_column(default=0)


class DataVersion(Base):
    """Counts of changes, bumped by database triggers; "figures" counts every write to what the
    dashboard, maps and effort rest on, so their caches know exactly when they are stale."""

    __tablename__ = "data_version"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    changes: Mapped[int] = mapped_column(BigInteger, default=0)
