"""The library: what each photo of a page of the image list holds, and tagging many at once.

The filters and pages are tracker.imagelist's. A ranger picks photos anywhere in the season
(a fox walking past ten cameras, a week of snow) and tags them with a species, or as blank, in
one go: one sighting per trigger burst of the picked photos, as the review queue would make,
so independent events and exports stay what they would have been had each burst been tagged
on its own. Photos that already have a sighting are left as they are, and named.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import groupby

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.detections.boxes import counts
from tracker.errors import InvalidInput
from tracker.models import (
    Annotation,
    DetectionRun,
    Image,
    Individual,
    Sighting,
    Species,
    User,
    sighting_image,
)
from tracker.sightings import SEQUENCE_ORDER, SightingInput, bursts, tag_images

MAX_SELECTED = 500  # photos tagged in one request: a few pages of the grid


@dataclass(frozen=True)
class Labels:
    """What a photo holds, as its thumbnail says it: sightings, and the boxes that count."""

    sightings: list[str] = field(default_factory=list)
    boxes: dict[str, float | None] = field(default_factory=dict)  # category -> best confidence


def labels(session: Session, image_ids: list[int], threshold: float) -> dict[int, Labels]:
    """Labels of these photos (those with nothing to say are left out): two indexed queries."""
    if not image_ids:
        return {}
    found: dict[int, Labels] = {}
    tagged = session.execute(
        select(sighting_image.c.image_id, Species.common_name, Individual.code)
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .join(Species, Species.id == Sighting.species_id)
        .outerjoin(Individual, Individual.id == Sighting.individual_id)
        .where(sighting_image.c.image_id.in_(image_ids))
        .order_by(sighting_image.c.image_id, Sighting.id)
    )
    for image_id, name, code in tagged:
        found.setdefault(image_id, Labels()).sightings.append(f"{name} {code}" if code else name)
    boxed = session.execute(
        select(Annotation.image_id, Annotation.category, func.max(Annotation.confidence))
        .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
        .where(Annotation.image_id.in_(image_ids), counts(threshold))
        .group_by(Annotation.image_id, Annotation.category)
    )
    for image_id, category, confidence in boxed:
        found.setdefault(image_id, Labels()).boxes[category] = confidence
    return found


@dataclass(frozen=True)
class Tagged:
    photos: int  # photos tagged now
    sightings: int  # one per trigger burst of them
    skipped: list[int]  # photos that had a sighting already: left as they were


def tag_selected(
    session: Session,
    image_ids: list[int],
    data: SightingInput,
    actor: User | None,
    gap_seconds: int,
    threshold: float,
    *,
    timestamp_confirmed: bool = False,
) -> Tagged:
    """Tag the chosen photos with one sighting per trigger burst (per deployment)."""
    wanted = set(image_ids)
    if not wanted:
        raise InvalidInput({"images": "Choose at least one photo."})
    if len(wanted) > MAX_SELECTED:
        raise InvalidInput({"images": f"Choose at most {MAX_SELECTED} photos at a time."})
    # Locked until the commit: two people tagging the same photos cannot both succeed.
    images = session.scalars(
        select(Image)
        .where(Image.id.in_(wanted))
        .order_by(Image.deployment_id, *SEQUENCE_ORDER)
        .with_for_update(of=Image)
    ).all()
    missing = sorted(wanted - {i.id for i in images})
    if missing:
        listed = ", ".join(map(str, missing[:20]))
        raise InvalidInput({"images": f"No such photos (deleted meanwhile?): {listed}."})
    already = set(
        session.scalars(
            select(sighting_image.c.image_id).where(sighting_image.c.image_id.in_(wanted))
        )
    )
    todo = [i for i in images if i.id not in already]
    groups = [
        group
        for _, photos in groupby(todo, key=lambda i: i.deployment_id)
        for group in bursts(photos, gap_seconds)
    ]
    for n, group in enumerate(groups):
        # A new individual is made with the first burst; the others name it.
        given = data if n == 0 else replace(data, new_individual=False)
        tag_images(session, group, given, actor, box_threshold=threshold,
                   timestamp_confirmed=timestamp_confirmed)  # fmt: skip
    return Tagged(photos=len(todo), sightings=len(groups), skipped=sorted(already))


def blank_species(session: Session) -> Species:
    """The species list's blank entry (nothing in the photo)."""
    blank = session.scalar(select(Species).where(Species.kind == "blank", ~Species.retired))
    if blank is None:
        raise InvalidInput({"species_id": "The species list has no blank entry."})
    return blank
