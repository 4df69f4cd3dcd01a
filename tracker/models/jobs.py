"""Background jobs and web uploads with their per-file outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.accounts import User
from tracker.models.base import (
    Base,
    one_of,
    utcnow,
)
from tracker.models.fieldwork import Deployment, Station
from tracker.models.images import Image

JOB_STATES = ("queued", "running", "done", "failed")


class Job(Base):
    """One background job: what to run, and how far it got (tracker.jobs).

    The job library carries the job's id from the web to a worker; this row says what it is and
    whether it finished, so a job whose worker died (its heartbeat stops) is found and run again.
    """

    __tablename__ = "job"
    __table_args__ = (CheckConstraint(one_of("state", JOB_STATES), name="state"),)

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
    __table_args__ = (CheckConstraint(one_of("status", OUTCOMES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("upload.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(9))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))
    # What a file that landed lost or had wrong: a value left out, data after the image, damaged
    # image data (tracker.preparing); as on the terminal and in `tracker import --json`.
    warnings: Mapped[list] = mapped_column(default=list, server_default="[]")

    image: Mapped[Image | None] = relationship()
