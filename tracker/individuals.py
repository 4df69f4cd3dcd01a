"""The individual catalogue: finding, creating, renaming and merging known animals."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import audit
from tracker.errors import InvalidInput
from tracker.models import SEXES, Individual, IndividualCode, Species, User

# Like station codes: letters, digits and hyphens (AL-12), so they survive every export format.
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")


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
        return "Use 1 to 32 letters, digits or hyphens for the code (e.g. AL-12)."
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
    individual = Individual(code=code, name=name.strip(), sex=sex, species=species, notes=notes)
    session.add(individual)
    session.flush()
    audit.record(session, actor, "create", "individual", individual.id, code=code)
    return individual
