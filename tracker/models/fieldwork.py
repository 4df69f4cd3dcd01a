"""Field work: stations (Camtrap DP `locationID`), cameras, deployments and their outages."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.models.base import (
    Base,
    utcnow,
)


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
