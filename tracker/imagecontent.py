"""The image list's filters on what is in the photos: species, individual, a detector's
category and confidence (tracker.imagelist applies them).

Each is a condition on the photo. Two ways to write it, for two shapes of answer:
- `Image.id IN (...)` when the photos are few (a rare species, an individual, person boxes):
  the planner reads them from the sightings' or boxes' own indexes and sorts them;
- `EXISTS (...)` on the photo's own index ("walking") when they are many (a common species,
  animal boxes): the page walks the capture order and stops after 61 photos, where sorting
  every leopard photo of a season took seconds.
Counts are of the photos matching every filter, up to CONTENT_CAP (shown as "1000+").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Integer, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from tracker.detections.boxes import counts as box_counts
from tracker.detections.empty import likely_empty
from tracker.models import (
    Annotation,
    DetectionRun,
    Image,
    Individual,
    IndividualCode,
    Sighting,
    sighting_image,
)

if TYPE_CHECKING:  # the filters' type only: tracker.imagelist imports this module
    from tracker.imagelist import Filters

# The `category` filter: a box of that category that counts, or no box at all (likely empty).
CATEGORIES = {
    "animal": "animal box",
    "person": "person box",
    "vehicle": "vehicle box",
    "empty": "likely empty (no box)",
}
COMMON = 20_000  # sightings of a species (or boxes) from which a page walks the capture order
CONTENT_CAP = 1000
SPARSE_STATUSES = ("untagged", "blank")  # a species' or an individual's photos are seldom these


def read(filters: Filters) -> None:
    """The filters on what is in the photos: species, individual, category, confidence."""
    values = filters.values
    if values["species"]:
        filters.species = _number(values["species"])
        if filters.species is None:
            filters.errors.append(f"Species {values['species']!r} is not a species number.")
    filters.individual = values["individual"][:64]
    filters.category = values["category"]
    if filters.category and filters.category not in CATEGORIES:
        filters.errors.append(
            f"Category {filters.category!r} is not one of: {', '.join(CATEGORIES)}."
        )
    if values["confidence"]:
        try:
            filters.confidence = float(values["confidence"])
        except ValueError:
            filters.confidence = -1.0
        if not 0 <= filters.confidence <= 1:
            filters.errors.append(
                f"Confidence {values['confidence']!r} is not a number from 0 to 1."
            )
    if filters.confidence is not None and filters.category == "empty":
        filters.errors.append("A likely-empty photo has no box to have a confidence.")


def asked(filters: Filters) -> bool:
    """Whether the filters ask about what is in the photos (then counts are counted)."""
    return bool(filters.species or filters.individual or filters.category) or (
        filters.confidence is not None
    )


def conditions(filters: Filters, walk: bool = False) -> list:
    """`walk`: the photos are many (a common species, animal boxes), so a page walks the capture
    order and checks each photo (EXISTS on the photo's own index) rather than sorting them all."""
    found = []
    if filters.species is not None or filters.individual:
        sighted = select(sighting_image.c.image_id).join(
            Sighting, Sighting.id == sighting_image.c.sighting_id
        )
        if filters.species is not None:
            species = off_index(Sighting.species_id) if walk else Sighting.species_id
            sighted = sighted.where(species == filters.species)
        if filters.individual:
            sighted = sighted.where(Sighting.individual_id.in_(_individuals(filters.individual)))
        found.append(_within(sighted, sighting_image.c.image_id, walk))
    if filters.category == "empty":
        found.append(likely_empty(filters.threshold))
    elif filters.category or filters.confidence is not None:
        walk_boxes = walk and filters.category not in ("person", "vehicle")  # those are rare
        found.append(_within(_boxed(filters), Annotation.image_id, walk_boxes))
    return found


class off_index(FunctionElement):
    """An integer column SQLite must not look up by its index inside a walk (`+ 0`): it took
    the species' index, and with it every sighting of the species for each photo. PostgreSQL
    gets the plain column: `+ 0` hid its statistics, it guessed 0.5 % of the sightings were the
    species' and sorted all 65,850 leopard photos of a season (2.1 s) instead of walking."""

    type = Integer()
    inherit_cache = True


@compiles(off_index)
def _off_index(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(off_index, "sqlite")
def _off_index_sqlite(element, compiler, **kw):
    return f"({compiler.process(element.clauses, **kw)} + 0)"


def _within(query, image_id, walk: bool):
    if walk:
        return query.where(image_id == Image.id).exists()
    return Image.id.in_(query)


def walks(session: Session, filters: Filters) -> bool:
    """Whether to walk the capture order (see the module's docstring)."""
    if filters.individual:
        return False  # an individual's photos are few
    if filters.species is not None and filters.status in SPARSE_STATUSES:
        return False
    if filters.species is None:  # boxes: many once a season's detections are in
        some = select(Annotation.id).limit(COMMON)
    else:
        some = select(Sighting.id).where(Sighting.species_id == filters.species).limit(COMMON)
    return session.scalar(select(func.count()).select_from(some.subquery())) >= COMMON


def _individuals(code: str):
    """Ids of the individual with this code, now or formerly (codes are renamed)."""
    now = select(Individual.id).where(func.lower(Individual.code) == code.lower())
    former = select(IndividualCode.individual_id).where(
        func.lower(IndividualCode.code) == code.lower()
    )
    return now.union(former)


def _boxed(filters: Filters):
    """Photos with a box of the category (any, if none is chosen) that counts at the threshold,
    or, given a confidence, a detector's box at least that confident (or one a person drew)."""
    query = select(Annotation.image_id).outerjoin(
        DetectionRun, DetectionRun.id == Annotation.run_id
    )
    if filters.category:
        query = query.where(Annotation.category == filters.category)
    if filters.confidence is not None:
        drawn = Annotation.run_id.is_(None)
        return query.where(drawn | (Annotation.confidence >= filters.confidence))
    return query.where(box_counts(filters.threshold))


def count(session: Session, where: list) -> int:
    """The photos matching every filter (`where`), up to CONTENT_CAP + 1."""
    some = select(Image.id).where(*where).limit(CONTENT_CAP + 1).subquery()
    return session.scalar(select(func.count()).select_from(some))


def _number(typed: str) -> int | None:
    """A species number as chosen from the list (tracker.imagelist.parse_id's rule)."""
    return int(typed) if typed.isascii() and typed.isdigit() and len(typed) <= 9 else None
