"""Tagging a burst from the queue, and undoing it: which images may be tagged, the sighting
with the box the ranger chose, and the individual created in place taken away with it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from tracker import individuals, sightings
from tracker.detections import boxes
from tracker.errors import InvalidInput
from tracker.models import Deployment, Image, Sighting, Species, sighting_image
from tracker.review.queue import parse_id

NO_TIME = datetime.min.replace(tzinfo=UTC)


def images_to_tag(
    session, deployment: Deployment, sent: list[str], another: bool = False
) -> list[Image]:
    """The submitted sequence: images of this deployment, none of them tagged yet (or, for
    another animal in them, none of them tagged blank). Raises InvalidInput otherwise."""
    ids = [parse_id(s) for s in sent]
    if not sent:
        raise InvalidInput({"images": "No images were sent: reload the queue and try again."})
    if None in ids:
        raise InvalidInput({"images": "Image ids must be whole numbers."})
    # Locked until the commit, so two people tagging the same burst cannot both succeed.
    images = list(
        session.scalars(
            select(Image)
            .where(Image.id.in_(ids))
            .order_by(*sightings.SEQUENCE_ORDER)
            .with_for_update(of=Image)
        )
    )
    foreign = sorted(set(ids) - {i.id for i in images if i.deployment_id == deployment.id})
    if foreign:
        raise InvalidInput({"images": f"{_images(foreign)} not in deployment {deployment.id}."})
    tagged_ids = select(sighting_image.c.image_id).where(sighting_image.c.image_id.in_(ids))
    if another:  # more animals in photos already tagged: only a blank excludes them
        blank = select(Sighting.id).join(Species).where(Species.kind == "blank")
        tagged_ids = tagged_ids.where(sighting_image.c.sighting_id.in_(blank))
    tagged = sorted(session.scalars(tagged_ids.distinct()))
    if tagged and another:
        message = f"{_images(tagged)} tagged blank: edit that sighting instead."
        raise InvalidInput({"images": message})
    if tagged:
        raise InvalidInput(
            {
                "images": f"{_images(tagged)} already tagged (perhaps by someone else meanwhile). "
                "Edit the sighting instead, or go on with the queue."
            }
        )
    return images


def _images(ids: list[int]) -> str:
    """'Image 4 is' or 'Images 4, 5 are', to start a message."""
    listed = ", ".join(map(str, ids))
    return f"Image {listed} is" if len(ids) == 1 else f"Images {listed} are"


def tag_burst(
    session,
    images: list[Image],
    data: sightings.SightingInput,
    actor,
    timestamp_confirmed: bool,
    threshold: float,
    box_id: int | None,
) -> Sighting:
    """One sighting on the burst, with the box the ranger chose for it, if any."""
    sighting = sightings.tag_images(
        session,
        images,
        data,
        actor=actor,
        timestamp_confirmed=timestamp_confirmed,
        box_threshold=threshold,
    )
    if box_id is not None and sighting.species.kind != "blank":
        boxes.tie(session, box_id, sighting, actor)
    return sighting


def untag(session, sighting: Sighting, created_individual: int | None, actor) -> str | None:
    """Delete a sighting; and the individual created with it (`created_individual`, as the
    undo link says), unless it is in use by then. Returns the removed individual's code."""
    individual = sighting.individual
    sightings.delete_sighting(session, sighting, actor=actor)
    if (
        individual is not None
        and created_individual == individual.id
        and individuals.discard_unused(session, individual, actor)
    ):
        return individual.code
    return None


def summary(sighting: Sighting) -> str:
    """A sighting in a few words: species, individual code, count if not one."""
    text = sighting.species.common_name
    if sighting.individual is not None:
        text += f" {sighting.individual.code}"
    if sighting.species.kind != "blank" and sighting.count != 1:
        text += f", count {sighting.count}"
    return text


def in_order(images: list[Image]) -> list[Image]:
    """A sighting's images in time order (those without a time last), for showing them."""
    return sorted(images, key=lambda i: (i.taken_at_utc is None, i.taken_at_utc or NO_TIME, i.id))
