"""The species list: photo tags may add species, which an admin confirms or merges away."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker import audit
from tracker.errors import InvalidInput
from tracker.models import Individual, Sighting, Species, User


def with_counts(session: Session) -> list[tuple[Species, int]]:
    """Every species with its number of sightings; unconfirmed ones first."""
    counts = (
        select(Sighting.species_id, func.count().label("n"))
        .group_by(Sighting.species_id)
        .subquery()
    )
    query = (
        select(Species, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.species_id == Species.id)
        .order_by(Species.confirmed, Species.common_name)
    )
    return [(species, n) for species, n in session.execute(query)]


def confirm(session: Session, species: Species, actor: User | None = None) -> None:
    if not species.confirmed:
        species.confirmed = True
        audit.record(session, actor, "confirm", "species", species.id,
                     name=species.scientific_name)  # fmt: skip


def merge(session: Session, source: Species, target: Species, actor: User | None = None) -> int:
    """Move every sighting and individual of `source` to `target`, then delete `source`.

    For a species a photo tag spelled differently ("Amur Leopard ", "leopard").
    """
    if source.id == target.id:
        raise InvalidInput({"target": "Choose a different species to merge into."})
    if source.kind != target.kind:
        raise InvalidInput({"target": f"A {source.kind} cannot be merged into a {target.kind}."})
    moved = session.execute(
        update(Sighting).where(Sighting.species_id == source.id).values(species_id=target.id)
    ).rowcount
    session.execute(
        update(Individual).where(Individual.species_id == source.id).values(species_id=target.id)
    )
    audit.record(session, actor, "merge", "species", source.id, into=target.scientific_name,
                 name=source.scientific_name, sightings=moved)  # fmt: skip
    session.delete(source)
    session.flush()
    return moved
