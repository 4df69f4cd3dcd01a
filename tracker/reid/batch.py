"""The catalogue in one index, and answers for many photos at once (the CLI and the batch page)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Image, PatternFeatures, Sighting, sighting_image
from tracker.reid import identify, store
from tracker.reid.cache import IndexCache, reference_index
from tracker.reid.features import BoxFeatures
from tracker.reid.matcher import Candidate, ReferenceIndex, probably_new, rank


def catalogue_index(session: Session, settings) -> ReferenceIndex:
    """The reference index; features a worker has not computed yet are computed (and kept)."""
    setting = settings["PATTERN_SPECIES"]
    store.compute(session, settings["MEDIA_DIR"], store.pattern_boxes(session, setting))
    return ReferenceIndex(identify.references(session, setting))


def unidentified_images(session: Session, setting: str) -> list[int]:
    """Photos of patterned-species sightings whose individual is not known yet."""
    species = store.pattern_species_ids(session, setting)
    query = (
        select(sighting_image.c.image_id)
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .where(Sighting.species_id.in_(species), Sighting.individual_id.is_(None))
        .distinct()
        .order_by(sighting_image.c.image_id)
    )
    return list(session.scalars(query))


def answer(session: Session, index: ReferenceIndex, kind: str, item, settings):
    if kind == "path":
        return identify.identify_path(index, item)
    return identify.identify_image(
        session, index, item, settings["MEDIA_DIR"], settings["EVENT_MINUTES"]
    )


__all__ = ["answer", "catalogue_index", "unidentified_images"]


@dataclass(frozen=True)
class Unidentified:
    """One unidentified photo and its candidates; `pending` while its features are not made."""

    image: Image
    candidates: list[Candidate]
    probably_new: bool
    pending: bool = False


def rank_unidentified(
    session: Session, settings, top: int = 5, indexes: IndexCache | None = None
) -> list[Unidentified]:
    """Every unidentified patterned-species photo ranked against the catalogue, from stored
    features only (a page reads, it never computes); the index from `indexes` when given."""
    index = reference_index(session, settings["PATTERN_SPECIES"], indexes)
    out = []
    for image_id in unidentified_images(session, settings["PATTERN_SPECIES"]):
        image = session.get(Image, image_id)
        box = identify.largest_box(session, image)
        stored = session.get(PatternFeatures, box.id) if box is not None else None
        if stored is None:
            out.append(Unidentified(image, [], False, pending=True))
            continue
        excluded = identify.same_event(index, image, settings["EVENT_MINUTES"])
        cands = rank(index, BoxFeatures.from_bytes(stored.data), exclude_events=excluded)
        out.append(Unidentified(image, cands[:top], probably_new(cands)))
    return out
