"""Likely-empty photos: the detector read them and found nothing at or above the threshold.

Computed when asked, from the boxes and each run's threshold, so a changed threshold changes
the answer at once. A photo the detector could not read (a `failure`) or never saw is never
likely empty; nor is one a person said is not empty (`EmptyOverride`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from tracker.detections.boxes import counts
from tracker.errors import InvalidInput
from tracker.models import (
    Annotation,
    Deployment,
    DetectionResult,
    DetectionRun,
    EmptyOverride,
    Image,
    Species,
    User,
    sighting_image,
)
from tracker.sightings import SEQUENCE_ORDER, SightingInput, bursts, tag_images


def likely_empty(default_threshold: float):
    """SQL condition on Image: the photo is likely empty."""
    read = exists().where(DetectionResult.image_id == Image.id, DetectionResult.failure.is_(None))
    failed = exists().where(
        DetectionResult.image_id == Image.id, DetectionResult.failure.is_not(None)
    )
    box = (
        select(Annotation.id)
        .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
        .where(Annotation.image_id == Image.id, counts(default_threshold))
        .exists()
    )
    overridden = exists().where(EmptyOverride.image_id == Image.id)
    return and_(read, ~failed, ~box, ~overridden)


@dataclass
class Confirmed:
    blank: int  # photos confirmed blank
    sightings: int  # one blank sighting per burst (or what was left of it after unticking)
    kept: int  # photos a person said are not empty: back in the queue


def confirm(
    session: Session,
    deployment: Deployment,
    blank_ids: list[int],
    kept_ids: list[int],
    actor: User | None,
    gap_seconds: int,
    threshold: float,
) -> Confirmed:
    """A person confirms the machine's suggestion: these likely-empty photos are blank, those
    are not. Blanks become blank sightings with source `detector` (a person confirmed a
    detector's suggestion), one per burst; the others go back to the review queue."""
    wanted = set(blank_ids) | set(kept_ids)
    if set(blank_ids) & set(kept_ids):
        raise InvalidInput({"images": "A photo cannot be both blank and not blank."})
    tagged = exists().where(sighting_image.c.image_id == Image.id)
    images = session.scalars(
        select(Image)
        .where(Image.id.in_(wanted), Image.deployment_id == deployment.id)
        .where(~tagged, likely_empty(threshold))
        .order_by(*SEQUENCE_ORDER)
        .with_for_update(of=Image)
    ).all()
    missing = sorted(wanted - {i.id for i in images})
    if missing:
        listed = ", ".join(map(str, missing[:20]))
        raise InvalidInput({"images": f"Not untagged likely-empty photos of deployment "
                            f"{deployment.id} (tagged meanwhile?): {listed}"})  # fmt: skip
    blank_species = session.scalar(select(Species).where(Species.kind == "blank"))
    if blank_species is None and blank_ids:
        raise InvalidInput({"species": "The species list has no blank entry."})
    chosen = [i for i in images if i.id in set(blank_ids)]
    groups = bursts(chosen, gap_seconds)
    for group in groups:
        tag_images(session, group, SightingInput(species_id=blank_species.id), actor,
                   source="detector")  # fmt: skip
    for image_id in kept_ids:
        session.add(EmptyOverride(image_id=image_id, user_id=actor.id if actor else None))
    session.flush()
    return Confirmed(blank=len(chosen), sightings=len(groups), kept=len(kept_ids))
