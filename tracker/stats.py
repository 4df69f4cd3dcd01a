"""Counts and summaries for the dashboard; aggregate queries, never loops over rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from tracker.models import Deployment, Image, Individual, Sighting, Station


@dataclass(frozen=True)
class Overview:
    images: int
    sightings: int
    individuals: int
    stations: int


def overview(session: Session) -> Overview:
    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return Overview(count(Image), count(Sighting), count(Individual), count(Station))


def latest_uploads(session: Session, limit: int = 10) -> list[Image]:
    query = (
        select(Image)
        .options(
            joinedload(Image.deployment).joinedload(Deployment.station),
            joinedload(Image.uploaded_by),
        )
        .order_by(Image.uploaded_at.desc(), Image.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
