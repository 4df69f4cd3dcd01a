"""Suggestions for one animal box in the review queue, and the decision a person takes on them.

A suggestion is the matcher's ranking of the catalogue for the box, each candidate with its
best-matching reference photo and the matched points on both photos (as fractions of each
photo, so a page can draw them on any preview size). The box's features are read from the
database when a worker made them, else computed for this request and not kept: the review queue
shows photos nobody has tagged yet, which no worker describes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import audit
from tracker.models import (
    Annotation,
    Image,
    Individual,
    PatternFeatures,
    PhotoIdDecision,
    Sighting,
    Species,
    User,
    sighting_image,
)
from tracker.reid import identify, store
from tracker.reid.cache import IndexCache, reference_index
from tracker.reid.features import BoxFeatures, extract
from tracker.reid.matcher import Candidate, probably_new, rank

TOP = 5
MAX_RANK = 100  # as `tracker identify --top` allows
MAX_SCORE = 1e6  # a score sent back by a page beyond this is not one the matcher gave


@dataclass(frozen=True)
class Shown:
    """One candidate as the review panel shows it; boxes and points are photo fractions."""

    rank: int
    individual: str
    individual_id: int | None
    score: float
    flank_match: bool
    reference_image: int
    reference_box: list[float] | None
    query_points: list[list[float]]
    reference_points: list[list[float]]


@dataclass(frozen=True)
class Suggestion:
    box_id: int
    image_id: int
    box: list[float]
    candidates: list[Shown]
    probably_new: bool
    new_code: str

    def as_json(self) -> dict:
        return {
            "box_id": self.box_id,
            "image_id": self.image_id,
            "box": self.box,
            "candidates": [vars(c) for c in self.candidates],
            "probably_new": self.probably_new,
            "new_code": self.new_code,
        }


def _features(session: Session, box: Annotation, media_dir: str) -> BoxFeatures:
    stored = session.get(PatternFeatures, box.id)
    if stored is not None and stored.bbox == box.bbox:
        return BoxFeatures.from_bytes(stored.data)
    grey = store.read_image(media_dir, box.image)
    return extract(grey, [store.pixel_box(box, grey.shape)])


def _fractions(points, image: Image) -> list[list[float]]:
    if not image.width or not image.height:
        return []
    return [[round(x / image.width, 4), round(y / image.height, 4)] for x, y in points]


def _reference_box(session: Session, image_id: int, code: str) -> list[float] | None:
    """The largest box of `code` on its reference photo."""
    box = session.scalars(
        select(Annotation)
        .join(Sighting, Sighting.id == Annotation.sighting_id)
        .join(Individual, Individual.id == Sighting.individual_id)
        .where(Annotation.image_id == image_id, Individual.code == code)
        .order_by((Annotation.width * Annotation.height).desc())
        .limit(1)
    ).first()
    return [round(v, 4) for v in box.bbox] if box is not None else None


def _shown(session: Session, query: Image, n: int, c: Candidate, ids: dict) -> Shown:
    ref = session.get(Image, c.reference)
    return Shown(
        rank=n,
        individual=c.individual,
        individual_id=ids.get(c.individual),
        score=round(c.score, 3),
        flank_match=c.flank_match,
        reference_image=c.reference,
        reference_box=_reference_box(session, c.reference, c.individual),
        query_points=_fractions([m[0] for m in c.matches], query),
        reference_points=_fractions([m[1] for m in c.matches], ref),
    )


def for_box(
    session: Session, box: Annotation, settings, top: int = TOP, indexes: IndexCache | None = None
) -> Suggestion:
    """The catalogue ranked for this box (its own event left out, its flank first); the
    reference index from `indexes` when given (a web worker's), else built for this call."""
    index = reference_index(session, settings["PATTERN_SPECIES"], indexes)
    query = _features(session, box, settings["MEDIA_DIR"])
    excluded = identify.same_event(index, box.image, settings["EVENT_MINUTES"])
    flank = box.flank or (box.sighting.flank if box.sighting else None)
    found = rank(
        index, query, exclude_events=excluded, flank=flank if flank in ("left", "right") else None
    )
    ids = dict(session.execute(select(Individual.code, Individual.id)).all())
    shown = [_shown(session, box.image, n, c, ids) for n, c in enumerate(found[:top], 1)]
    bbox = [round(v, 4) for v in box.bbox]
    code = next_code(session, settings["PATTERN_SPECIES"])
    return Suggestion(box.id, box.image_id, bbox, shown, probably_new(found), code)


CODE_NUMBER = re.compile(r"^(.*?)(\d+)$")


def next_code(session: Session, setting: str) -> str:
    """A free code for a new individual, following the catalogue's commonest pattern (AL-12 ->
    AL-13); "AL-01" style from the species' initials when there is none yet."""
    species = store.pattern_species_ids(session, setting)
    codes = list(session.scalars(select(Individual.code).where(Individual.species_id.in_(species))))
    numbered = [m.groups() for m in map(CODE_NUMBER.match, codes) if m]
    if numbered:
        prefix = Counter(p for p, _ in numbered).most_common(1)[0][0]
        digits = [d for p, d in numbered if p == prefix]
        width, number = max(len(d) for d in digits), max(int(d) for d in digits) + 1
    else:
        name = session.scalar(select(Species.common_name).where(Species.id.in_(species))) or "X"
        prefix, width, number = "".join(w[0] for w in name.split()).upper() + "-", 2, 1
    taken = {c.lower() for c in codes}
    while f"{prefix}{number:0{width}d}".lower() in taken:
        number += 1
    return f"{prefix}{number:0{width}d}"


@dataclass(frozen=True)
class Choice:
    """What the review form sends about the suggestions it showed (all optional)."""

    box_id: int | None
    rank: int | None = None
    score: float | None = None
    individual: str = ""
    probably_new: bool = False


def record(
    session: Session, sighting: Sighting, choice: Choice, new_individual: bool, actor: User | None
) -> PhotoIdDecision | None:
    """Keep what the person decided for a box the assistant made suggestions for.

    Nothing is kept when no suggestion was shown (no box) or the sighting names no individual.
    A chosen rank counts only when the sighting's individual is the suggested one: a person who
    chose a candidate and then typed another code decided "other".
    """
    if choice.box_id is None or sighting.individual is None:
        return None
    box = session.get(Annotation, choice.box_id)
    on_sighting = box is not None and box.image_id in {i.id for i in sighting.images}
    took = (
        not new_individual
        and choice.rank is not None
        and 1 <= choice.rank <= MAX_RANK
        and choice.score is not None
        and math.isfinite(choice.score)
        and 0 <= choice.score <= MAX_SCORE
        and choice.individual.lower() == sighting.individual.code.lower()
    )
    decision = PhotoIdDecision(
        sighting_id=sighting.id,
        annotation_id=box.id if on_sighting else None,
        individual_id=sighting.individual.id,
        choice="new" if new_individual else "candidate" if took else "other",
        rank=choice.rank if took else None,
        score=choice.score if took else None,
        probably_new=choice.probably_new,
        decided_by_id=actor.id if actor else None,
    )
    session.add(decision)
    session.flush()
    audit.record(
        session, actor, "create", "photo_id_decision", decision.id, choice=decision.choice,
        rank=decision.rank, score=decision.score,
    )  # fmt: skip
    return decision


def decisions_summary(session: Session) -> dict[str, int]:
    """How people decided on suggestions so far: the first taken, another one, new, other."""
    rows = session.execute(select(PhotoIdDecision.choice, PhotoIdDecision.rank)).all()
    out = {"total": len(rows), "first": 0, "lower": 0, "new": 0, "other": 0}
    for choice, rank_taken in rows:
        key = choice if choice != "candidate" else "first" if rank_taken == 1 else "lower"
        out[key] += 1
    return out


def box_of(session: Session, sighting: Sighting) -> int | None:
    """The animal box suggestions are made for on a sighting's page: its own largest box, else
    the largest animal box on its photos."""
    ids = [i.id for i in sighting.images]
    query = (
        select(Annotation.id)
        .where(Annotation.image_id.in_(ids), Annotation.category == "animal")
        .order_by(
            (Annotation.sighting_id == sighting.id).desc(),
            (Annotation.width * Annotation.height).desc(),
        )
        .limit(1)
    )
    return session.scalar(query) if ids else None


def unidentified_sightings(session: Session, image_ids: list[int]) -> dict[int, int]:
    """Image id -> the sighting without an individual that rests on it (for a link to it)."""
    rows = session.execute(
        select(sighting_image.c.image_id, Sighting.id)
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .where(sighting_image.c.image_id.in_(image_ids), Sighting.individual_id.is_(None))
    )
    return dict(rows.all())
