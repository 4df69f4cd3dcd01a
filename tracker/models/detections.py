"""Detector runs and their boxes, reviewed annotations, pattern features and photo-ID decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.accounts import User
from tracker.models.base import (
    BOX_CATEGORIES,
    BOX_FLANKS,
    Base,
    one_of,
    utcnow,
)
from tracker.models.fieldwork import Deployment
from tracker.models.images import Image
from tracker.models.sightings import (
    Sighting,
)


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
        CheckConstraint(one_of("category", BOX_CATEGORIES), name="category"),
        CheckConstraint("flank IS NULL OR " + one_of("flank", BOX_FLANKS), name="flank"),
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
        CheckConstraint(one_of("choice", PHOTO_ID_CHOICES), name="choice"),
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
