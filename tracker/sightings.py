"""Turning photos into sightings: sequences to review, tagging, and sightings from photo tags.

A sighting (Camtrap DP observation) rests on one or more images of one deployment; its time is
the span of their corrected capture times, and its place is their deployment's station.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from tracker import audit, individuals, upsert
from tracker.detections import boxes
from tracker.errors import InvalidInput
from tracker.models import (
    FLANKS,
    LEOPARD,
    LIFE_STAGES,
    SEXES,
    Image,
    Individual,
    Sighting,
    Species,
    User,
    sighting_image,
)
from tracker.photo_text import shown

MAX_COUNT = 1000
MAX_COMMENTS = 2000


@dataclass
class SightingInput:
    """What a person says about a sequence of images, before it is checked."""

    species_id: int | None
    individual_code: str = ""  # an existing (or former) code, or a new one with new_individual
    new_individual: bool = False
    individual_name: str = ""
    count: int | None = 1
    sex: str | None = None
    life_stage: str | None = None
    flank: str | None = None
    comments: str = ""


def _choice(value: str | None, allowed: tuple[str, ...], field: str, errors: dict) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        errors[field] = f"Choose one of: {', '.join(allowed)}."
    return value


def _check(session: Session, data: SightingInput) -> tuple[Species | None, dict[str, str]]:
    errors: dict[str, str] = {}
    species = session.get(Species, data.species_id) if data.species_id else None
    if species is None:
        errors["species_id"] = "Choose a species (or blank)."
    if data.count is None or not 1 <= data.count <= MAX_COUNT:
        errors["count"] = f"Count must be a whole number from 1 to {MAX_COUNT}."
    _choice(data.sex, SEXES, "sex", errors)
    _choice(data.life_stage, LIFE_STAGES, "life_stage", errors)
    _choice(data.flank, FLANKS, "flank", errors)
    if len(data.comments) > MAX_COMMENTS:
        errors["comments"] = f"Use at most {MAX_COMMENTS} characters."
    code = data.individual_code.strip()
    if code and species is not None and species.kind != "animal":
        errors["individual_code"] = f"A {species.common_name.lower()} has no individual."
    elif code and not data.new_individual and individuals.find(session, code) is None:
        errors["individual_code"] = (
            f"No individual with code {code}. Check the code, or create it as a new individual."
        )
    elif code and data.new_individual:
        problem = individuals.check_new_code(session, code)
        if problem:
            errors["individual_code"] = problem
    return species, errors


def _individual(session, data: SightingInput, species, actor) -> Individual | None:
    code = data.individual_code.strip()
    if not code:
        return None
    if not data.new_individual:
        return individuals.find(session, code)
    return individuals.create(
        session,
        code=code,
        species=species,
        name=data.individual_name,
        sex=data.sex or "unknown",
        actor=actor,
    )


def _span(images: list[Image]) -> tuple[datetime | None, datetime | None]:
    times = [i.taken_at_utc for i in images if i.taken_at_utc is not None]
    return (min(times), max(times)) if times else (None, None)


def timestamp_warning(images: list[Image]) -> str | None:
    """What a person must confirm before tagging photos with a timestamp issue, or None."""
    flagged = [i for i in images if i.timestamp_issue]
    if not flagged:
        return None
    return (
        f"{len(flagged)} of these {len(images)} photo(s) have a timestamp issue "
        f"({flagged[0].timestamp_issue}). The sighting is kept, but left out of the dashboard, "
        "the catalogue's first and last seen, the map and every export until the camera clock "
        "or the deployment's dates are fixed. Tick “Tag anyway” to save it."
    )


def tag_images(
    session: Session,
    images: list[Image],
    data: SightingInput,
    actor: User | None = None,
    source: str = "manual",
    box_threshold: float = boxes.DEFAULT_THRESHOLD,
    *,
    timestamp_confirmed: bool = False,
) -> Sighting:
    """Record one sighting resting on these images (one sequence of one deployment).

    A photo that now has one animal sighting and one animal box (at `box_threshold`) gets the
    two tied together. A person tagging photos with a timestamp issue must confirm it
    (``timestamp_confirmed``); photo-ID tags read at import are taken as they come, and flagged
    the same way.
    """
    species, errors = _check(session, data)
    if not images:
        errors["images"] = "Choose at least one image."
    elif len({i.deployment_id for i in images}) > 1:
        errors["images"] = "A sighting rests on images of one deployment only."
    elif source == "manual" and not timestamp_confirmed and timestamp_warning(images):
        errors["confirm_timestamp"] = timestamp_warning(images)
    if errors:
        raise InvalidInput(errors)
    blank = species.kind == "blank"
    start, end = _span(images)
    sighting = Sighting(
        species=species,
        individual=None if blank else _individual(session, data, species, actor),
        deployment_id=images[0].deployment_id,
        event_start=start,
        event_end=end,
        count=1 if blank else data.count,
        sex=None if blank else data.sex or None,
        life_stage=None if blank else data.life_stage or None,
        flank=None if blank else data.flank or None,
        comments=data.comments.strip(),
        source=source,
        logged_by_id=actor.id if actor else None,
        images=list(images),
    )
    session.add(sighting)
    session.flush()
    audit.record(session, actor, "create", "sighting", sighting.id, **_values(sighting))
    if species.kind == "animal":
        boxes.link_lone_boxes(session, [i.id for i in images], box_threshold)
    return sighting


def _values(sighting: Sighting) -> dict:
    """A sighting's fields as the audit log records them (before/after)."""
    return {
        "species": sighting.species.scientific_name if sighting.species else None,
        "individual": sighting.individual.code if sighting.individual else None,
        "count": sighting.count,
        "sex": sighting.sex,
        "life_stage": sighting.life_stage,
        "flank": sighting.flank,
        "comments": sighting.comments,
        "images": sorted(i.id for i in sighting.images),
    }


def update_sighting(
    session: Session, sighting: Sighting, data: SightingInput, actor: User | None = None
) -> None:
    species, errors = _check(session, data)
    if errors:
        raise InvalidInput(errors)
    before = _values(sighting)
    blank = species.kind == "blank"
    sighting.species = species
    sighting.individual = None if blank else _individual(session, data, species, actor)
    sighting.count = 1 if blank else data.count
    sighting.sex = None if blank else data.sex or None
    sighting.life_stage = None if blank else data.life_stage or None
    sighting.flank = None if blank else data.flank or None
    sighting.comments = data.comments.strip()
    session.flush()
    after = _values(sighting)
    if after != before:
        audit.record(session, actor, "update", "sighting", sighting.id, before=before, after=after)


def delete_sighting(session: Session, sighting: Sighting, actor: User | None = None) -> None:
    audit.record(session, actor, "delete", "sighting", sighting.id, before=_values(sighting))
    session.delete(sighting)
    session.flush()


# The order of a deployment's images for review: by corrected time, untimed ones last.
SEQUENCE_ORDER = (
    Image.taken_at_utc.is_(None),
    Image.taken_at_utc,
    Image.original_filename,
    Image.id,
)


def sequences(
    session: Session, deployment_id: int, gap_seconds: int, untagged_only: bool = True
) -> list[list[Image]]:
    """A deployment's images in time order, grouped into trigger bursts.

    A burst continues while each image is less than `gap_seconds` after the previous one.
    Images with no time stand alone, after the timed ones, in file-name order.
    """
    query = select(Image).where(Image.deployment_id == deployment_id)
    if untagged_only:
        tagged = exists().where(sighting_image.c.image_id == Image.id)
        query = query.where(~tagged)
    return bursts(session.scalars(query.order_by(*SEQUENCE_ORDER)), gap_seconds)


def bursts(images: Iterable, gap_seconds: int) -> list[list]:
    """Images in SEQUENCE_ORDER grouped into trigger bursts, as `sequences` does.

    Anything with `taken_at_utc` will do, such as rows of a few columns where loading whole
    images would be slow (the review queue of a deployment with thousands of photos).
    """
    groups: list[list] = []
    previous = None
    for image in images:
        if not _same_burst(previous, image, gap_seconds):
            groups.append([])
        groups[-1].append(image)
        previous = image
    return groups


def _same_burst(previous: Image | None, image: Image, gap_seconds: int) -> bool:
    if previous is None or previous.taken_at_utc is None or image.taken_at_utc is None:
        return False
    return (image.taken_at_utc - previous.taken_at_utc).total_seconds() < gap_seconds


@dataclass(frozen=True)
class TagRules:
    """Which XMP keyword hierarchies name the species and the individual (configurable)."""

    species: str = "Species"
    individual: str = "individual"

    @classmethod
    def from_config(cls, config) -> TagRules:
        return cls(species=config["TAG_SPECIES"], individual=config["TAG_INDIVIDUAL"])


def _tag_value(tags: list[str], prefix: str) -> str | None:
    """'Species|Amur leopard' -> 'Amur leopard' for prefix 'Species' (any case, last level)."""
    for tag in tags:
        parts = [p.strip() for p in tag.split("|")]
        if len(parts) >= 2 and parts[0].lower() == prefix.lower() and parts[-1]:
            return parts[-1]
    return None


# The size of the species name columns: a longer tag is refused, never cut (two long names cut
# to the same 120 characters would be one species).
MAX_SPECIES_NAME = 120


def species_named(session: Session, name: str, actor: User | None) -> Species:
    """The species with this common or scientific name; a new one, to be confirmed, if none.

    Safe when two imports create the same new species at once: the unique name decides.
    """
    name = name.strip()
    if len(name) > MAX_SPECIES_NAME:
        raise ValueError(f"a species name has at most {MAX_SPECIES_NAME} characters")
    match = func.lower(name)
    found = session.scalar(
        select(Species).where(
            (func.lower(Species.common_name) == match)
            | (func.lower(Species.scientific_name) == match)
        )
    )
    if found is not None:
        return found
    values = {"scientific_name": name, "common_name": name, "kind": "animal", "confirmed": False}
    new_id = upsert.insert_one(session, Species.__table__, values, ["scientific_name"])
    if new_id is not None:
        audit.record(session, actor, "create", "species", new_id, name=name, source="tags")
    return session.scalar(select(Species).where(Species.scientific_name == name))


def _usable_species_tag(name: str | None, image: Image, warn) -> str | None:
    if name is not None and len(name) > MAX_SPECIES_NAME:
        warn(image, (
            f"species tag {shown(name)!r} is {len(name)} characters, longer than the "
            f"{MAX_SPECIES_NAME} characters a species name may have; not used"
        ))  # fmt: skip
        return None
    return name


def from_tags(
    session: Session,
    images: list[Image],
    rules: TagRules,
    actor: User | None = None,
    warn: Callable[[Image, str], None] | None = None,
) -> list[Sighting]:
    """Sightings for images whose photo-ID tags name a species or an individual.

    An individual named without a species is taken to be of its catalogue species, or a leopard
    if it is new (the tracker's focal species). Unknown species and individuals are created,
    the species flagged for an admin to confirm or merge. A species tag too long to be a name
    is not used, and `warn(image, message)` says so.
    """
    made = []
    for image in images:
        species_name = _tag_value(image.tags or [], rules.species)
        species_name = _usable_species_tag(species_name, image, warn or (lambda *_: None))
        code = _tag_value(image.tags or [], rules.individual)
        if species_name is None and code is None:
            continue
        known = individuals.find(session, code) if code else None
        if species_name is not None:
            species = species_named(session, species_name, actor)
        else:
            species = known.species if known else species_named(session, LEOPARD, actor)
        note = ""
        if code and known is None and individuals.CODE_RE.match(code):
            # Found, or made: another import may have created it since the lookup above.
            known = individuals.from_tag(session, code, species, actor)
        elif code and known is None:  # keep what the photo-ID team wrote, for a person
            note = f"Photo tag individual {shown(code)!r} not used: {individuals.CODE_HINT}"
        data = SightingInput(
            species_id=species.id, individual_code=known.code if known else "", comments=note
        )
        made.append(tag_images(session, [image], data, actor, source="tags"))
    return made
