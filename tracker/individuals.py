"""Known animals: finding, creating, renaming and merging them, and their reference photos (the
catalogue's list is tracker.catalogue).

Every function takes the session, flushes, and leaves the commit to its caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from tracker import audit, upsert
from tracker.errors import InvalidInput
from tracker.models import (
    FLANKS,
    SEXES,
    AuditLog,
    Individual,
    IndividualCode,
    PhotoIdDecision,
    Sighting,
    Species,
    User,
    individual_reference_image,
    sighting_image,
)

# Like station codes: letters, digits and hyphens (AL-12), so they survive every export format.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
CODE_HINT = "Use 1 to 32 letters, digits or hyphens for the code (e.g. AL-12)."


def find(session: Session, code: str) -> Individual | None:
    """The individual known by this code now, or formerly (before a rename or a merge)."""
    code = code.strip()
    found = session.scalar(select(Individual).where(func.lower(Individual.code) == code.lower()))
    if found is not None:
        return found
    former = (
        select(IndividualCode.individual_id)
        .where(func.lower(IndividualCode.code) == code.lower())
        .order_by(IndividualCode.replaced_at.desc())
        .limit(1)
    )
    individual_id = session.scalar(former)
    return session.get(Individual, individual_id) if individual_id else None


def check_new_code(session: Session, code: str) -> str | None:
    """Why `code` cannot name a new individual, or None."""
    if not CODE_RE.match(code):
        return CODE_HINT
    if find(session, code) is not None:
        return f"Code {code} is already used (or was used) by an individual."
    return None


def create(
    session: Session,
    *,
    code: str,
    species: Species,
    name: str = "",
    sex: str = "unknown",
    notes: str = "",
    actor: User | None = None,
) -> Individual:
    code = code.strip()
    errors = {}
    problem = check_new_code(session, code)
    if problem:
        errors["individual_code"] = problem
    if sex not in SEXES:
        errors["sex"] = f"Sex must be one of: {', '.join(SEXES)}."
    if len(name) > 120:
        errors["individual_name"] = "Use at most 120 characters for the name."
    if errors:
        raise InvalidInput(errors)
    individual_id = _insert(session, code, species, name=name.strip(), sex=sex, notes=notes)
    if individual_id is None:  # someone else created it since the check above
        raise InvalidInput({"individual_code": f"Code {code} is already used by an individual."})
    audit.record(session, actor, "create", "individual", individual_id, code=code)
    return session.get(Individual, individual_id)


def _insert(session: Session, code: str, species: Species, **values) -> int | None:
    """Insert a new individual unless its code is taken (by a concurrent import, say)."""
    values |= {"code": code, "species_id": species.id}
    return upsert.insert_one(session, Individual.__table__, values, ["code"])


def from_tag(
    session: Session, code: str, species: Species, actor: User | None = None
) -> Individual:
    """The individual a photo tag names (by a current or former code), or a new one; created
    once however many imports race. `code` must match CODE_RE."""
    found = find(session, code)
    if found is not None:
        return found
    individual_id = _insert(session, code, species, name="", sex="unknown", notes="")
    if individual_id is not None:
        audit.record(session, actor, "create", "individual", individual_id, code=code)
        return session.get(Individual, individual_id)
    return find(session, code)


def discard_unused(session: Session, individual: Individual, actor: User | None) -> bool:
    """Remove an individual `actor` created that nothing refers to (no sighting, reference
    photo or former code): undoing the tagging that created it in place takes it away too.
    Returns whether it was removed; anyone else's, or one in use, stays."""
    created_by = session.scalar(
        select(AuditLog.user_id).where(
            AuditLog.entity == "individual",
            AuditLog.action == "create",
            AuditLog.entity_id == str(individual.id),
        )
    )
    in_use = session.scalar(select(func.count()).where(Sighting.individual_id == individual.id))
    if (
        actor is None
        or created_by != actor.id
        or in_use
        or individual.reference_images
        or individual.former_codes
    ):
        return False
    audit.record(session, actor, "delete", "individual", individual.id, code=individual.code)
    session.delete(individual)
    session.flush()
    return True


MAX_NOTES = 5000
MAX_NAME = 120


def _check_fields(name: str, sex: str, notes: str) -> dict[str, str]:
    errors = {}
    if len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters for the name."
    if sex not in SEXES:
        errors["sex"] = f"Sex must be one of: {', '.join(SEXES)}."
    if len(notes) > MAX_NOTES:
        errors["notes"] = f"Use at most {MAX_NOTES} characters for the notes."
    return errors


def _values(individual: Individual) -> dict:
    return {
        "code": individual.code,
        "name": individual.name,
        "sex": individual.sex,
        "notes": individual.notes,
    }


def rename(
    session: Session,
    individual: Individual,
    *,
    code: str,
    name: str,
    sex: str,
    notes: str = "",
    actor: User | None = None,
) -> None:
    """Change an individual's code (the old one stays findable, as history) and its name, sex
    and notes. Refused input raises InvalidInput and changes nothing."""
    code, name, notes = code.strip(), name.strip(), notes.strip()
    errors = _check_fields(name, sex, notes)
    new_code = code != individual.code
    if new_code:
        holder = find(session, code) if CODE_RE.match(code) else None
        if holder is None or holder.id != individual.id:  # its own former code may come back
            problem = check_new_code(session, code)
            if problem:
                errors["code"] = problem
    if errors:
        raise InvalidInput(errors)
    before = _values(individual)
    if new_code and code.lower() != individual.code.lower():  # not a mere change of case
        session.add(
            IndividualCode(individual_id=individual.id, code=individual.code, reason="rename")
        )
    individual.code, individual.name, individual.sex, individual.notes = code, name, sex, notes
    session.flush()
    after = _values(individual)
    changed = [f for f in after if after[f] != before[f]]
    if changed:
        session.expire(individual, ["former_codes"])
        audit.record(
            session,
            actor,
            "rename" if new_code else "update",
            "individual",
            individual.id,
            before={f: before[f] for f in changed},
            after={f: after[f] for f in changed},
        )


def check_merge(keep: Individual, absorb: Individual) -> None:
    """Refuse a merge that cannot be right (raises InvalidInput)."""
    if keep.id == absorb.id:
        raise InvalidInput({"other": f"{keep.code} cannot be merged with itself."})
    if keep.species_id != absorb.species_id:
        raise InvalidInput(
            {
                "other": f"{keep.code} is a {keep.species.common_name} and {absorb.code} a "
                f"{absorb.species.common_name}: only individuals of one species can be merged."
            }
        )


@dataclass(frozen=True)
class MergePlan:
    """What a merge will move, for the confirmation page."""

    sightings: int
    references: int
    codes: list[str]  # the absorbed one's code and former codes, all kept as history


def merge_plan(session: Session, keep: Individual, absorb: Individual) -> MergePlan:
    check_merge(keep, absorb)
    sightings = session.scalar(
        select(func.count(Sighting.id)).where(Sighting.individual_id == absorb.id)
    )
    references = session.scalar(
        select(func.count())
        .select_from(individual_reference_image)
        .where(individual_reference_image.c.individual_id == absorb.id)
    )
    former = session.scalars(
        select(IndividualCode.code)
        .where(IndividualCode.individual_id == absorb.id)
        .order_by(IndividualCode.replaced_at, IndividualCode.id)
    ).all()
    return MergePlan(sightings=sightings, references=references, codes=[absorb.code, *former])


def merge(session: Session, keep: Individual, absorb: Individual, actor: User | None) -> MergePlan:
    """Fold `absorb` into `keep`: the same cat, catalogued twice.

    Every sighting and reference photo of `absorb` moves to `keep`; its code and former codes
    become former codes of `keep` (reason "merge"), so they still find the animal; the absorbed
    row is deleted. Where both had a reference photo for one flank, `keep`'s stays chosen and
    the other is kept as a reference without a flank. A name, sex or notes `keep` lacks are taken
    from `absorb`. Refused merges raise InvalidInput before anything is written.
    """
    session.flush()
    plan = merge_plan(session, keep, absorb)
    absorbed = {"id": absorb.id, **_values(absorb)}
    moved = session.execute(
        update(Sighting)
        .where(Sighting.individual_id == absorb.id)
        .values(individual_id=keep.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(  # what a person took from photo-ID suggestions follows the sightings
        update(PhotoIdDecision)
        .where(PhotoIdDecision.individual_id == absorb.id)
        .values(individual_id=keep.id)
        .execution_options(synchronize_session=False)
    )
    ref = individual_reference_image
    kept_refs = select(ref.c.image_id, ref.c.flank).where(ref.c.individual_id == keep.id)
    kept = dict(session.execute(kept_refs).all())
    taken_flanks = {flank for flank in kept.values() if flank}
    references = []
    for image_id, flank in session.execute(
        select(ref.c.image_id, ref.c.flank)
        .where(ref.c.individual_id == absorb.id)
        .order_by(ref.c.image_id)
    ):
        if image_id in kept:
            continue
        if flank in taken_flanks:
            flank = None
        taken_flanks.add(flank)
        references.append({"individual_id": keep.id, "image_id": image_id, "flank": flank})
    session.execute(delete(ref).where(ref.c.individual_id == absorb.id))
    if references:
        session.execute(insert(ref), references)
    session.execute(
        update(IndividualCode)
        .where(IndividualCode.individual_id == absorb.id)
        .values(individual_id=keep.id, reason="merge")
        .execution_options(synchronize_session=False)
    )
    session.add(IndividualCode(individual_id=keep.id, code=absorb.code, reason="merge"))
    filled = {}
    if not keep.name and absorb.name:
        filled["name"] = absorb.name
    if keep.sex == "unknown" and absorb.sex != "unknown":
        filled["sex"] = absorb.sex
    if absorb.notes:
        filled["notes"] = "\n\n".join(
            n for n in (keep.notes, f"From {absorb.code}: {absorb.notes}") if n
        )[:MAX_NOTES]
    filled = audit.changes(keep, filled)
    for name, (_before, after) in filled.items():
        setattr(keep, name, after)
    session.flush()
    # Bulk statements bypassed the identity map: reload whatever the session holds.
    session.expire_all()
    session.delete(absorb)
    session.flush()
    audit.record(
        session,
        actor,
        "merge",
        "individual",
        keep.id,
        kept=keep.code,
        absorbed=absorbed,
        former_codes_moved=plan.codes,
        sightings_moved=moved,
        references_moved=[r["image_id"] for r in references],
        filled_in=filled,
    )
    return plan


def set_reference(
    session: Session, individual: Individual, image_id: int, flank: str, actor: User | None
) -> None:
    """Make one of the animal's sighting photos its reference for a flank, replacing the
    previous one; photos of other animals' sightings are refused."""
    errors = {}
    if flank not in FLANKS:
        errors["flank"] = f"Flank must be one of: {', '.join(FLANKS)}."
    own = (
        select(sighting_image.c.image_id)
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .where(Sighting.individual_id == individual.id, sighting_image.c.image_id == image_id)
        .limit(1)
    )
    if session.scalar(own) is None:
        errors["image_id"] = (
            f"Image {image_id} is not a photo of a sighting of {individual.code}: choose a "
            "reference photo from its own sightings."
        )
    if errors:
        raise InvalidInput(errors)
    ref = individual_reference_image
    mine = ref.c.individual_id == individual.id
    previous = session.scalar(select(ref.c.image_id).where(mine, ref.c.flank == flank))
    if previous == image_id:
        return
    session.execute(delete(ref).where(mine, (ref.c.flank == flank) | (ref.c.image_id == image_id)))
    session.execute(insert(ref).values(individual_id=individual.id, image_id=image_id, flank=flank))
    session.flush()
    session.expire(individual, ["reference_images"])
    audit.record(
        session,
        actor,
        "set_reference",
        "individual",
        individual.id,
        flank=flank,
        before=previous,
        after=image_id,
    )
