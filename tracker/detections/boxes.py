"""Boxes on photos: which count at a threshold, drawing and correcting them, and tying them to
sightings.

A detector box counts when its confidence is at or above its run's threshold (the one a person
set, else the file's `typical_detection_threshold`, else the app's default); a box a person drew
always counts. Nothing here reads the app's settings: callers pass the default threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from tracker import audit
from tracker.errors import InvalidInput
from tracker.models import (
    BOX_CATEGORIES,
    BOX_FLANKS,
    Annotation,
    DetectionRun,
    Image,
    Sighting,
    Species,
    User,
    sighting_image,
)

DEFAULT_THRESHOLD = 0.2
CHUNK = 5000  # ids per IN (...): SQLite allows 32,766 parameters a statement


def run_threshold(default: float):
    """SQL: the threshold of an annotation's run (outer-joined as DetectionRun)."""
    return func.coalesce(DetectionRun.threshold, DetectionRun.file_threshold, default)


def counts(default: float):
    """SQL condition on Annotation outer-joined to its DetectionRun: the box counts."""
    return or_(Annotation.run_id.is_(None), Annotation.confidence >= run_threshold(default))


def effective_threshold(run: DetectionRun, default: float) -> float:
    for value in (run.threshold, run.file_threshold):
        if value is not None:
            return value
    return default


def shown(session: Session, image_ids: Iterable[int], default: float) -> list[Annotation]:
    """The boxes of these photos that count at the threshold, largest first."""
    ids = list(image_ids)
    if not ids:
        return []
    query = (
        select(Annotation)
        .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
        .where(Annotation.image_id.in_(ids), counts(default))
        .options(selectinload(Annotation.run), selectinload(Annotation.drawn_by))
        .order_by(Annotation.image_id, (Annotation.width * Annotation.height).desc())
    )
    return list(session.scalars(query))


def as_dict(box: Annotation) -> dict:
    """A box as pages and review.js show it."""
    return {
        "id": box.id,
        "image_id": box.image_id,
        "category": box.category,
        "bbox": [round(v, 4) for v in box.bbox],
        "confidence": None if box.confidence is None else round(box.confidence, 3),
        "source": box.source,
        "sighting_id": box.sighting_id,
        "flank": box.flank,
    }


@dataclass
class BoxInput:
    """A box as a person draws or corrects it, before it is checked."""

    bbox: list
    category: str = "animal"
    sighting_id: int | None = None
    flank: str | None = None


def _check(session: Session, image: Image, data: BoxInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    bbox = data.bbox
    numbers = isinstance(bbox, list | tuple) and len(bbox) == 4
    numbers = numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
    if not numbers:
        errors["bbox"] = "A box is [x, y, width, height], four numbers from 0 to 1."
    elif min(bbox) < 0 or bbox[0] + bbox[2] > 1 + 1e-6 or bbox[1] + bbox[3] > 1 + 1e-6:
        errors["bbox"] = "The box must lie inside the photo (fractions from 0 to 1)."
    elif bbox[2] <= 0 or bbox[3] <= 0:
        errors["bbox"] = "A box needs a width and a height."
    if data.category not in BOX_CATEGORIES:
        errors["category"] = f"Choose one of: {', '.join(BOX_CATEGORIES)}."
    if data.flank not in (None, "") and data.flank not in BOX_FLANKS:
        errors["flank"] = f"Choose one of: {', '.join(BOX_FLANKS)}."
    if data.sighting_id is not None and not _sighting_of(session, image, data.sighting_id):
        errors["sighting_id"] = f"Sighting {data.sighting_id} is not a sighting of this photo."
    return errors


def _sighting_of(session: Session, image: Image, sighting_id: int) -> bool:
    found = session.scalar(
        select(sighting_image.c.sighting_id).where(
            sighting_image.c.sighting_id == sighting_id, sighting_image.c.image_id == image.id
        )
    )
    return found is not None


def draw(session: Session, image: Image, data: BoxInput, actor: User | None) -> Annotation:
    """A box a person drew on a photo."""
    errors = _check(session, image, data)
    if errors:
        raise InvalidInput(errors)
    x, y, w, h = (float(v) for v in data.bbox)
    box = Annotation(image_id=image.id, category=data.category, x=x, y=y, width=w, height=h,
                     drawn_by_id=actor.id if actor else None, sighting_id=data.sighting_id,
                     flank=data.flank or None)  # fmt: skip
    session.add(box)
    session.flush()
    audit.record(session, actor, "create", "annotation", box.id, image=image.id, bbox=box.bbox)
    return box


def correct(session: Session, box: Annotation, data: BoxInput, actor: User | None) -> None:
    """Move, resize, recategorise or tag a box; a detector's box then names its reviewer."""
    errors = _check(session, box.image, data)
    if errors:
        raise InvalidInput(errors)
    before = as_dict(box)
    box.x, box.y, box.width, box.height = (float(v) for v in data.bbox)
    box.category, box.sighting_id, box.flank = data.category, data.sighting_id, data.flank or None
    if box.run_id is not None and actor is not None:
        box.reviewed_by_id = actor.id
    session.flush()
    audit.record(session, actor, "update", "annotation", box.id, before=before,
                 after=as_dict(box))  # fmt: skip


def tie(session: Session, box_id: int, sighting: Sighting, actor: User | None) -> Annotation:
    """The box a person chose for a sighting (one animal of several in a photo)."""
    box = session.get(Annotation, box_id)
    if box is None or box.image_id not in {i.id for i in sighting.images}:
        raise InvalidInput({"box_id": f"Box {box_id} is not on the photos of this sighting."})
    before = as_dict(box)
    box.sighting_id = sighting.id
    if box.run_id is not None and actor is not None:
        box.reviewed_by_id = actor.id  # a person confirmed the detector's box
    session.flush()
    audit.record(session, actor, "update", "annotation", box.id, before=before,
                 after=as_dict(box))  # fmt: skip
    return box


def delete(session: Session, box: Annotation, actor: User | None) -> None:
    audit.record(session, actor, "delete", "annotation", box.id, before=as_dict(box))
    session.delete(box)
    session.flush()


def link_lone_boxes(session: Session, image_ids: Iterable[int], default: float) -> int:
    """A photo with exactly one animal box and one animal sighting: they belong together.

    Only boxes that count at the threshold are considered, and a box already tied to a sighting
    is left as it is. Returns how many boxes were tied.
    """
    ids = list(image_ids)
    return sum(
        _link_lone(session, ids[start : start + CHUNK], default)
        for start in range(0, len(ids), CHUNK)
    )


def _link_lone(session: Session, ids: list[int], default: float) -> int:
    animal_sightings = (
        select(sighting_image.c.image_id, func.min(Sighting.id).label("sighting_id"))
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .join(Species, Species.id == Sighting.species_id)
        .where(sighting_image.c.image_id.in_(ids), Species.kind == "animal")
        .group_by(sighting_image.c.image_id)
        .having(func.count() == 1)
    )
    lone = {image_id: sighting_id for image_id, sighting_id in session.execute(animal_sightings)}
    if not lone:
        return 0
    found = session.scalars(
        select(Annotation)
        .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
        .where(
            Annotation.image_id.in_(list(lone)),
            and_(Annotation.category == "animal", counts(default)),
        )
    ).all()
    per_image: dict[int, list[Annotation]] = {}
    for box in found:
        per_image.setdefault(box.image_id, []).append(box)
    tied = 0
    for image_id, candidates in per_image.items():
        if len(candidates) == 1 and candidates[0].sighting_id is None:
            candidates[0].sighting_id = lone[image_id]
            tied += 1
    session.flush()
    return tied
