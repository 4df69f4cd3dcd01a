"""The species list: photo tags may add species, which an admin confirms or merges away."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker import audit
from tracker.errors import InvalidInput
from tracker.models import SPECIES_KINDS, Individual, Sighting, Species, User


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


MAX_NAME = 120


def _check_names(session: Session, scientific: str, common: str, kind: str,
                 species: Species | None = None) -> dict[str, str]:  # fmt: skip
    errors = {}
    if not scientific or len(scientific) > MAX_NAME:
        errors["scientific_name"] = f"Give the scientific name (at most {MAX_NAME} characters)."
    if not common or len(common) > MAX_NAME:
        errors["common_name"] = f"Give the common name (at most {MAX_NAME} characters)."
    if kind not in SPECIES_KINDS:
        errors["kind"] = f"Choose one of: {', '.join(SPECIES_KINDS)}."
    clash = session.scalar(
        select(Species).where(func.lower(Species.scientific_name) == scientific.lower())
    )
    if scientific and clash is not None and clash is not species:
        errors["scientific_name"] = f"{clash.scientific_name} is on the list already."
    return errors


def add(session: Session, scientific: str, common: str, kind: str = "animal",
        actor: User | None = None) -> Species:  # fmt: skip
    """A species for the park's list (confirmed: an admin added it)."""
    scientific, common = scientific.strip(), common.strip()
    errors = _check_names(session, scientific, common, kind)
    if errors:
        raise InvalidInput(errors)
    species = Species(scientific_name=scientific, common_name=common, kind=kind, confirmed=True)
    session.add(species)
    session.flush()
    audit.record(session, actor, "create", "species", species.id, name=scientific, common=common)
    return species


def rename(session: Session, species: Species, scientific: str, common: str,
           actor: User | None = None) -> None:  # fmt: skip
    """New names for a species; its sightings and individuals keep it."""
    scientific, common = scientific.strip(), common.strip()
    errors = _check_names(session, scientific, common, species.kind, species)
    if errors:
        raise InvalidInput(errors)
    diff = audit.changes(species, {"scientific_name": scientific, "common_name": common})
    if diff:
        species.scientific_name, species.common_name = scientific, common
        session.flush()
        audit.record(session, actor, "update", "species", species.id, changes=diff)


def retire(session: Session, species: Species, retired: bool, actor: User | None = None) -> None:
    """A retired species leaves the review form; its sightings stay as they are."""
    if species.retired != retired:
        species.retired = retired
        session.flush()
        audit.record(session, actor, "retire" if retired else "restore", "species", species.id,
                     name=species.scientific_name)  # fmt: skip
