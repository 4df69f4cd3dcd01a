"""The data model, named after Camtrap DP where it has a name.

Station = `locationID`, Image = `media`, Sighting = `observation`. All times are stored in UTC;
what a camera wrote is kept as text beside the corrected value, because camera clocks drift and a
correction may be revised later.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("ranger", "researcher", "admin")
SEXES = ("female", "male", "unknown")
LIFE_STAGES = ("adult", "subadult", "cub")
FLANKS = ("left", "right", "both")
SPECIES_KINDS = ("animal", "human", "blank", "vehicle", "unknown")
LOCATION_SOURCES = ("exif", "station")
# Boxes: MegaDetector's categories, and the side of the animal a box shows.
BOX_CATEGORIES = ("animal", "person", "vehicle")
BOX_FLANKS = ("left", "right", "front", "rear")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored naive in UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: say which time zone it is in")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, date: Date, dict: JSON, list: JSON}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Part of every session and "keep me signed in" cookie: raising it ends them all (sign-out,
    # a new password, deactivation), even a cookie copied to another machine.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    # Flask-Login's protocol, kept here so the model is the one place that knows it.
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        """What the session and the remember cookie carry: the id and the session version."""
        return f"{self.id}:{self.session_version}"


class LoginThrottle(Base):
    """Failed sign-ins per account and per client address, to slow down password guessing."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class Station(Base):
    """A camera-trap location (Camtrap DP `locationID` = code)."""

    __tablename__ = "station"
    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude"),
        # kp-01 beside KP-01 would be two detectors that people (and R) read as one.
        Index("uq_station_code_lower", func.lower(text("code")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    latitude: Mapped[float]
    longitude: Mapped[float]
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="station", order_by="Deployment.start_date"
    )


class Camera(Base):
    __tablename__ = "camera"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique when known; several cameras may have no recorded serial (NULLs do not collide).
    serial: Mapped[str | None] = mapped_column(String(64), unique=True)
    make: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")


class Deployment(Base):
    """A camera at a station from start to end (end empty while active).

    Dates are local to the deployment's time zone; the clock correction (seconds) is added to
    every time the camera wrote.
    """

    __tablename__ = "deployment"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="period"),
        Index("ix_deployment_station_start", "station_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id", ondelete="RESTRICT"))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("camera.id", ondelete="SET NULL"))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    timezone: Mapped[str] = mapped_column(String(64))
    clock_offset_s: Mapped[int] = mapped_column(default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    station: Mapped[Station] = relationship(back_populates="deployments")
    camera: Mapped[Camera | None] = relationship()
    outages: Mapped[list[DeploymentOutage]] = relationship(
        back_populates="deployment",
        cascade="all, delete-orphan",
        order_by="DeploymentOutage.start_date",
    )

    @property
    def is_active(self) -> bool:
        return self.end_date is None


class DeploymentOutage(Base):
    """A stretch within a deployment when its camera was not working (full card, flat battery,
    knocked over, stolen). Effort and capture-history usage leave it out.

    Local dates, like the deployment's: from the day the camera stopped to the day it worked
    again, which is not part of the outage; no end means it never worked again before the
    deployment ended. An outage from 3 to 5 May loses the nights of 3 and 4 May.
    """

    __tablename__ = "deployment_outage"
    __table_args__ = (CheckConstraint("end_date IS NULL OR end_date > start_date", name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployment: Mapped[Deployment] = relationship(back_populates="outages")


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
        CheckConstraint(_in("location_source", LOCATION_SOURCES), name="location_source"),
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


class Species(Base):
    __tablename__ = "species"
    __table_args__ = (CheckConstraint(_in("kind", SPECIES_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scientific_name: Mapped[str] = mapped_column(String(120), unique=True)
    common_name: Mapped[str] = mapped_column(String(120))
    # Camtrap DP observationType: a blank frame or a person is not an animal observation.
    kind: Mapped[str] = mapped_column(String(16), default="animal")
    # Species created from photo tags wait for an admin to confirm or merge them.
    confirmed: Mapped[bool] = mapped_column(default=True)
    # Retired species leave the review form; their sightings stay.
    retired: Mapped[bool] = mapped_column(default=False, server_default="0")


individual_reference_image = Table(
    "individual_reference_image",
    Base.metadata,
    Column("individual_id", ForeignKey("individual.id", ondelete="CASCADE"), primary_key=True),
    Column("image_id", ForeignKey("image.id", ondelete="CASCADE"), primary_key=True),
    Column("flank", String(8), nullable=True),
)


class IndividualCode(Base):
    """A code an individual was known by before a rename or a merge.

    Old codes still find the animal (a photo tagged `individual|AL-12` years later, a partner's
    spreadsheet), and the catalogue shows them as its history.
    """

    __tablename__ = "individual_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    individual_id: Mapped[int] = mapped_column(ForeignKey("individual.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # "rename" or "merge"
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Individual(Base):
    """One known animal, identified from its rosette pattern (Camtrap DP `individualID` = code)."""

    __tablename__ = "individual"
    __table_args__ = (CheckConstraint(_in("sex", SEXES), name="sex"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    sex: Mapped[str] = mapped_column(String(8), default="unknown")
    species_id: Mapped[int] = mapped_column(ForeignKey("species.id", ondelete="RESTRICT"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    species: Mapped[Species] = relationship()
    reference_images: Mapped[list[Image]] = relationship(secondary=individual_reference_image)
    former_codes: Mapped[list[IndividualCode]] = relationship(
        order_by="IndividualCode.replaced_at", cascade="all, delete-orphan"
    )


sighting_image = Table(
    "sighting_image",
    Base.metadata,
    Column("sighting_id", ForeignKey("sighting.id", ondelete="CASCADE"), primary_key=True),
    Column("image_id", ForeignKey("image.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_sighting_image_image", "image_id"),
)


class Sighting(Base):
    """One observation of one kind of animal (Camtrap DP `observation`).

    The individual may be unknown: an unidentified leopard is still a sighting.
    """

    __tablename__ = "sighting"
    __table_args__ = (
        CheckConstraint("count >= 1", name="count"),
        CheckConstraint("sex IS NULL OR " + _in("sex", SEXES), name="sex"),
        CheckConstraint("life_stage IS NULL OR " + _in("life_stage", LIFE_STAGES), name="stage"),
        CheckConstraint("flank IS NULL OR " + _in("flank", FLANKS), name="flank"),
        CheckConstraint("event_end >= event_start", name="period"),
        Index("ix_sighting_deployment_start", "deployment_id", "event_start"),
        Index("ix_sighting_species_start", "species_id", "event_start"),
        Index("ix_sighting_individual", "individual_id"),
        # The catalogue's sightings and stations per animal, without reading the table's rows.
        Index("ix_sighting_individual_deployment", "individual_id", "deployment_id"),
        # An open deployment's latest sighting (tracker.exports.spans.known_until), off the index.
        Index("ix_sighting_deployment_end", "deployment_id", "event_end"),
        # Cubs are few: the dashboard's cub figures find them here, not among all leopards.
        Index(
            "ix_sighting_cubs",
            "species_id",
            "event_start",
            sqlite_where=text("life_stage = 'cub'"),
            postgresql_where=text("life_stage = 'cub'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    species_id: Mapped[int] = mapped_column(ForeignKey("species.id", ondelete="RESTRICT"))
    individual_id: Mapped[int | None] = mapped_column(
        ForeignKey("individual.id", ondelete="SET NULL")
    )
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="RESTRICT"))
    # From the images' corrected times; empty while they have none (a reset clock, fixed later).
    event_start: Mapped[datetime | None]
    event_end: Mapped[datetime | None]
    count: Mapped[int] = mapped_column(default=1)
    life_stage: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(8))
    flank: Mapped[str | None] = mapped_column(String(8))
    comments: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(8), default="manual")
    logged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)

    species: Mapped[Species] = relationship()
    individual: Mapped[Individual | None] = relationship()
    deployment: Mapped[Deployment] = relationship()
    images: Mapped[list[Image]] = relationship(secondary=sighting_image)
    logged_by: Mapped[User | None] = relationship()


class SightingEvent(Base):
    """The independent-event rule (tracker.events) at its default window, kept per timed,
    trusted sighting so that figures over a season aggregate rows instead of rerunning it.

    Database triggers mark the (station, species, individual) groups a write may change in
    sighting_event_dirty; tracker.eventstore recomputes those groups before a figure reads.
    No foreign key to sighting: a row is removed when its group is recomputed, and a recompute
    racing a deletion on PostgreSQL must not fail on a sighting deleted under it.
    """

    __tablename__ = "sighting_event"
    __table_args__ = (
        Index("ix_sighting_event_group", "station_id", "species_id", "individual_id"),
        Index(
            "ix_sighting_event_starts",
            "species_id",
            "event_start",
            "station_id",
            "individual_id",
            sqlite_where=text("starts_event = 1"),
            postgresql_where=text("starts_event"),
        ),
        Index(
            "ix_sighting_event_station_starts",
            "station_id",
            "event_start",
            sqlite_where=text("starts_event = 1"),
            postgresql_where=text("starts_event"),
        ),
        # An animal's events per station, the years it was seen in, first and last seen.
        Index(
            "ix_sighting_event_individual",
            "individual_id",
            "starts_event",
            "station_id",
            "species_id",
            "event_start",
            "event_end",
        ),
        Index("ix_sighting_event_start", "event_start"),
    )

    sighting_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int]  # the id of the event's first sighting
    station_id: Mapped[int]
    species_id: Mapped[int]
    individual_id: Mapped[int | None]
    event_start: Mapped[datetime]
    event_end: Mapped[datetime]
    count: Mapped[int]
    starts_event: Mapped[bool]


class SightingEventDirty(Base):
    """A (station, species, individual) group whose events a write may have changed: appended
    by triggers, one row per change, deleted by the refresh that recomputed it."""

    __tablename__ = "sighting_event_dirty"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    station_id: Mapped[int]
    species_id: Mapped[int]
    individual_id: Mapped[int | None]


class DetectionRun(Base):
    """One detector's results for one deployment, as imported from its batch-output file.

    Importing the same detector's results again replaces the run (boxes and all). The threshold
    a person sets wins over the file's `typical_detection_threshold`, which wins over
    TRACKER_DETECTION_THRESHOLD: all boxes are kept, the threshold only decides what is shown.
    """

    __tablename__ = "detection_run"
    __table_args__ = (
        CheckConstraint("threshold IS NULL OR threshold BETWEEN 0 AND 1", name="threshold"),
        Index("ix_detection_run_deployment_detector", "deployment_id", "detector", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id", ondelete="CASCADE"))
    detector: Mapped[str] = mapped_column(String(120))  # name and version, e.g. "MDV5A"
    format_version: Mapped[str] = mapped_column(String(8))
    file_threshold: Mapped[float | None]
    threshold: Mapped[float | None]
    file_name: Mapped[str] = mapped_column(String(255), default="")
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployment: Mapped[Deployment] = relationship()


class DetectionResult(Base):
    """That a run looked at a photo: with no failure and no box, the detector found nothing."""

    __tablename__ = "detection_result"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("detection_run.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    failure: Mapped[str | None] = mapped_column(String(500))


class Annotation(Base):
    """A box: a region of one photo, `[x, y, width, height]` as fractions of the image with the
    origin top left (as MegaDetector and Camtrap DP's bbox fields).

    It comes from a detector run (with its confidence) or was drawn by a person; once tagged it
    belongs to a sighting and may say which flank of the animal it shows. A detector box a person
    has confirmed or corrected names that person in `reviewed_by`.
    """

    __tablename__ = "annotation"
    __table_args__ = (
        CheckConstraint(_in("category", BOX_CATEGORIES), name="category"),
        CheckConstraint("flank IS NULL OR " + _in("flank", BOX_FLANKS), name="flank"),
        CheckConstraint(
            "x >= 0 AND y >= 0 AND width >= 0 AND height >= 0 "
            "AND x + width <= 1.000001 AND y + height <= 1.000001",
            name="bbox",
        ),
        CheckConstraint("confidence IS NULL OR confidence BETWEEN 0 AND 1", name="confidence"),
        CheckConstraint("run_id IS NOT NULL OR confidence IS NULL", name="drawn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(8))
    x: Mapped[float]
    y: Mapped[float]
    width: Mapped[float]
    height: Mapped[float]
    confidence: Mapped[float | None]
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("detection_run.id", ondelete="CASCADE"), index=True
    )
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sighting_id: Mapped[int | None] = mapped_column(
        ForeignKey("sighting.id", ondelete="SET NULL"), index=True
    )
    flank: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    image: Mapped[Image] = relationship()
    run: Mapped[DetectionRun | None] = relationship()
    drawn_by: Mapped[User | None] = relationship(foreign_keys=[drawn_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    sighting: Mapped[Sighting | None] = relationship()

    @property
    def bbox(self) -> list[float]:
        return [self.x, self.y, self.width, self.height]

    @property
    def source(self) -> str:
        """Where the box came from: the detector's name and version, or who drew it."""
        if self.run is not None:
            return self.run.detector
        return self.drawn_by.email if self.drawn_by else "unknown person"


class EmptyOverride(Base):
    """A person looked at a likely-empty photo and said something is there: back to the queue."""

    __tablename__ = "empty_override"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PatternFeatures(Base):
    """The coat pattern of one animal box (tracker.reid): keypoints and descriptors, computed
    once by a worker so a query never recomputes the catalogue.

    `unusable` marks a box a person judged useless as a reference (blur, a partial view); it
    stays when the features are computed again.
    """

    __tablename__ = "pattern_features"

    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotation.id", ondelete="CASCADE"), primary_key=True
    )
    detector: Mapped[str] = mapped_column(String(16))
    keypoints: Mapped[int]
    # The box they were computed on: a moved box needs them again.
    bbox: Mapped[list] = mapped_column(default=list)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    unusable: Mapped[bool] = mapped_column(default=False)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    annotation: Mapped[Annotation] = relationship()


PHOTO_ID_CHOICES = ("candidate", "new", "other")


class PhotoIdDecision(Base):
    """What a person decided for a box the photo-ID assistant suggested individuals for.

    `choice` is "candidate" (one of the suggestions: its 1-based `rank` and `score` are kept),
    "new" (a new individual) or "other" (a code typed by hand while suggestions were shown), so
    how often the first suggestion is taken can be counted later.
    """

    __tablename__ = "photo_id_decision"
    __table_args__ = (
        CheckConstraint(_in("choice", PHOTO_ID_CHOICES), name="choice"),
        CheckConstraint("rank IS NULL OR rank >= 1", name="rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sighting_id: Mapped[int] = mapped_column(
        ForeignKey("sighting.id", ondelete="CASCADE"), index=True
    )
    annotation_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotation.id", ondelete="SET NULL")
    )
    individual_id: Mapped[int | None] = mapped_column(
        ForeignKey("individual.id", ondelete="SET NULL")
    )
    choice: Mapped[str] = mapped_column(String(9))
    rank: Mapped[int | None]
    score: Mapped[float | None]
    probably_new: Mapped[bool] = mapped_column(default=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who did what to which record, and when; details hold before/after values."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(default=dict)

    user: Mapped[User | None] = relationship()


JOB_STATES = ("queued", "running", "done", "failed")


class Job(Base):
    """One background job: what to run, and how far it got (tracker.jobs).

    The job library carries the job's id from the web to a worker; this row says what it is and
    whether it finished, so a job whose worker died (its heartbeat stops) is found and run again.
    """

    __tablename__ = "job"
    __table_args__ = (CheckConstraint(_in("state", JOB_STATES), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    function: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(8), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Last sign of life: the worker running it beats every few seconds; set when (re)queued.
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


OUTCOMES = ("added", "duplicate", "rejected")


class Upload(Base):
    """A memory card sent with the tus protocol (`id` is the tus upload's id), then its import.

    The destination is checked when the upload is created, before any byte: a deployment, or a
    station whose deployment is chosen by the photos' dates when the card is imported.
    """

    __tablename__ = "upload"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE")
    )
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    # Files on the card, known once its import starts.
    total: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    received_at: Mapped[datetime | None] = mapped_column()

    deployment: Mapped[Deployment | None] = relationship()
    station: Mapped[Station | None] = relationship()
    user: Mapped[User | None] = relationship()
    job: Mapped[Job | None] = relationship()


class UploadFile(Base):
    """What became of one file of an upload; written in the same transaction as its image."""

    __tablename__ = "upload_file"
    __table_args__ = (CheckConstraint(_in("status", OUTCOMES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("upload.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(9))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))

    image: Mapped[Image | None] = relationship()


class ApiToken(Base):
    """A personal API token (tracker.tokens): only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()


SEED_SPECIES = (
    ("Panthera pardus orientalis", "Amur leopard", "animal"),
    ("Panthera tigris altaica", "Amur tiger", "animal"),
    ("Cervus nippon", "Sika deer", "animal"),
    ("Capreolus pygargus", "Siberian roe deer", "animal"),
    ("Sus scrofa", "Wild boar", "animal"),
    ("Lepus mandshuricus", "Manchurian hare", "animal"),
    ("Homo sapiens", "Human", "human"),
    ("Blank", "Blank (empty frame)", "blank"),
    # The review form's catch-alls: an animal not on the park's list, and cannot tell.
    ("Animalia", "Other animal", "animal"),
    ("Unknown", "Unknown", "unknown"),
)
LEOPARD = SEED_SPECIES[0][0]
