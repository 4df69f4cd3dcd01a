"""Species, individuals and their sightings (Camtrap DP `observation`), with the independent
events kept per sighting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.accounts import User
from tracker.models.base import (
    FLANKS,
    LIFE_STAGES,
    SEXES,
    SPECIES_KINDS,
    Base,
    one_of,
    utcnow,
)
from tracker.models.fieldwork import Deployment
from tracker.models.images import Image


class Species(Base):
    __tablename__ = "species"
    __table_args__ = (CheckConstraint(one_of("kind", SPECIES_KINDS), name="kind"),)

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
    __table_args__ = (CheckConstraint(one_of("sex", SEXES), name="sex"),)

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
        CheckConstraint("sex IS NULL OR " + one_of("sex", SEXES), name="sex"),
        CheckConstraint("life_stage IS NULL OR " + one_of("life_stage", LIFE_STAGES), name="stage"),
        CheckConstraint("flank IS NULL OR " + one_of("flank", FLANKS), name="flank"),
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
