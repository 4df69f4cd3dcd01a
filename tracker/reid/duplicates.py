"""Possible duplicates: pairs of catalogue individuals whose references match each other strongly.

Two codes for one cat happen (a left flank catalogued apart from the right one, two teams, a
photo tagged before the catalogue was searched). Each individual's best-described references are
ranked against the catalogue with the individual's own references left out; a strong verified
match to another individual makes the pair a possible duplicate, for a person to check and merge.
A whole catalogue is many queries, so a background job does it (`JOB`) and keeps the pairs in
its result; the page shows the latest finished check.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Individual, Job
from tracker.reid import identify
from tracker.reid.matcher import NEW_BELOW, ReferenceIndex, rank

JOB = "tracker.reid.duplicates:check_job"
PER_INDIVIDUAL = 3  # references of each individual queried: its best-described ones


@dataclass(frozen=True)
class Pair:
    """Individual `a` (whose reference was the query) matched `b` with this verified score."""

    a: str
    b: str
    score: float
    a_image: int
    b_image: int
    a_id: int | None = None
    b_id: int | None = None


def find(
    index: ReferenceIndex, per_individual: int = PER_INDIVIDUAL, threshold: float = NEW_BELOW
) -> list[Pair]:
    """Pairs scoring at least `threshold` (the matcher's "same animal" line), strongest first;
    each pair once, with its strongest match."""
    best: dict[frozenset, Pair] = {}
    for individual in index.individuals:
        own = [r for r in index.references if r.individual == individual]
        excluded = {r.event for r in own}
        for ref in sorted(own, key=lambda r: -len(r.features))[:per_individual]:
            for c in rank(index, ref.features, exclude_events=excluded, flank=ref.flank):
                key = frozenset((individual, c.individual))
                if c.individual == individual or c.score < threshold:
                    continue
                if key not in best or c.score > best[key].score:
                    score = round(c.score, 3)
                    best[key] = Pair(individual, c.individual, score, ref.key, c.reference)
    return sorted(best.values(), key=lambda p: (-p.score, p.a, p.b))


def check_job(session: Session, settings) -> dict:
    """The background job: the catalogue's possible duplicates, kept in the job's result."""
    index = ReferenceIndex(identify.references(session, settings["PATTERN_SPECIES"]))
    pairs = find(index)
    return {
        "individuals": len(index.individuals),
        "references": len(index),
        "pairs": [asdict(p) for p in pairs],
    }


def latest(session: Session) -> tuple[Job | None, Job | None]:
    """The newest finished check, and a check still queued or running (if any)."""
    jobs = select(Job).where(Job.function == JOB).order_by(Job.id.desc())
    done = session.scalars(jobs.where(Job.state == "done").limit(1)).first()
    waiting = session.scalars(jobs.where(Job.state.in_(("queued", "running"))).limit(1)).first()
    return done, waiting


def pairs_of(session: Session, job: Job | None) -> list[Pair]:
    """A finished check's pairs, with the individuals' ids as they are now (merged ones gone)."""
    if job is None or not job.result:
        return []
    ids = dict(session.execute(select(Individual.code, Individual.id)).all())
    out = []
    for p in job.result.get("pairs", []):
        pair = Pair(**{k: p[k] for k in ("a", "b", "score", "a_image", "b_image")})
        if pair.a in ids and pair.b in ids:
            out.append(Pair(**asdict(pair) | {"a_id": ids[pair.a], "b_id": ids[pair.b]}))
    return out
