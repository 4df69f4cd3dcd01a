"""Which known individual is in this photo: the catalogue's references, and one query's answer.

References are the stored features of animal boxes tied to a sighting whose individual is known
(and not marked unusable), with the box's flank (else the sighting's). A reference of the
query's own event (same deployment, within TRACKER_EVENT_MINUTES) never counts for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tracker.models import Annotation, Image, Individual, PatternFeatures, Sighting
from tracker.reid import store
from tracker.reid.features import BoxFeatures, extract, read_grey
from tracker.reid.matcher import Candidate, Reference, ReferenceIndex, probably_new, rank


@dataclass(frozen=True)
class Place:
    """Where and when a reference was taken, for the same-event exclusion."""

    deployment_id: int
    taken_at: datetime | None


def reference_query(session: Session, setting: str, *columns) -> Select:
    """The usable reference boxes of the patterned species, selecting `columns`."""
    species = store.pattern_species_ids(session, setting)
    return (
        select(*columns)
        .select_from(PatternFeatures)
        .join(Annotation, Annotation.id == PatternFeatures.annotation_id)
        .join(Sighting, Sighting.id == Annotation.sighting_id)
        .join(Individual, Individual.id == Sighting.individual_id)
        .join(Image, Image.id == Annotation.image_id)
        .where(PatternFeatures.unusable.is_(False), Sighting.species_id.in_(species))
        .order_by(Annotation.id)
    )


def references(session: Session, setting: str) -> list[Reference]:
    """Every usable reference box of the patterned species."""
    columns = (PatternFeatures, Annotation, Sighting, Individual.code, Image)
    query = reference_query(session, setting, *columns)
    rows = session.execute(query)
    out = []
    for feats, box, sighting, code, image in rows:
        flank = box.flank or sighting.flank
        out.append(
            Reference(
                key=image.id,
                individual=code,
                features=BoxFeatures.from_bytes(feats.data),
                flank=flank if flank in ("left", "right") else None,
                event=Place(image.deployment_id, image.taken_at_utc),
            )
        )
    return out


def same_event(index: ReferenceIndex, image: Image, minutes: int) -> set[Place]:
    """The references' places that belong to the query photo's event."""
    window = timedelta(minutes=minutes)
    out = set()
    for ref in index.references:
        place = ref.event
        if place.deployment_id != image.deployment_id:
            continue
        # Without a time either way, the same camera's photo may be the same visit: left out.
        unknown = place.taken_at is None or image.taken_at_utc is None
        if unknown or abs(place.taken_at - image.taken_at_utc) <= window:
            out.add(place)
    return out


def largest_box(session: Session, image: Image) -> Annotation | None:
    return session.scalars(
        select(Annotation)
        .where(Annotation.image_id == image.id, Annotation.category == "animal")
        .order_by((Annotation.width * Annotation.height).desc(), Annotation.id)
        .limit(1)
    ).first()


@dataclass(frozen=True)
class Answer:
    image: int | str
    box: list[int]
    candidates: list[Candidate]
    probably_new: bool

    def as_json(self, top: int) -> dict:
        return {
            "image": self.image,
            "box": self.box,
            "candidates": [
                {
                    "individualID": c.individual,
                    "score": round(c.score, 3),
                    "reference_image": c.reference,
                }
                for c in self.candidates[:top]
            ],
            "probably_new": self.probably_new,
        }


def _answer(index, label, grey, box, excluded, flank) -> Answer:
    query = extract(grey, [box])
    cands = rank(index, query, exclude_events=excluded, flank=flank)
    return Answer(label, box, cands, probably_new(cands))


def identify_path(index: ReferenceIndex, path: str) -> Answer:
    """A JPEG outside the tracker: read, not stored; the whole photo is the box."""
    grey = read_grey(path)
    return _answer(index, path, grey, [0, 0, grey.shape[1], grey.shape[0]], set(), None)


def identify_image(
    session: Session, index: ReferenceIndex, image: Image, media_dir: str, minutes: int
) -> Answer:
    """A stored photo: its largest animal box (else the whole photo), its own event left out."""
    grey = store.read_image(media_dir, image)
    box = largest_box(session, image)
    if box is None:
        pixels, flank = [0, 0, grey.shape[1], grey.shape[0]], None
    else:
        pixels = store.pixel_box(box, grey.shape)
        flank = box.flank or (box.sighting.flank if box.sighting else None)
    excluded = same_event(index, image, minutes)
    return _answer(
        index, image.id, grey, pixels, excluded, flank if flank in ("left", "right") else None
    )
