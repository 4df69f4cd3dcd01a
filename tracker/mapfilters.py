"""What a map shows, from query parameters (bookmarkable, shareable): `parse_filters` turns them
into `Filters`, naming each bad one in plain words, and the filter's SQL conditions come in two
kinds: those that keep or drop whole groups of events (species, individual), which the kept
events answer (tracker.eventstore), and those on single sightings (dates, sex, life stage), over
which the event rule runs again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func as sql
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tracker import clock, eventstore, individuals
from tracker.errors import InvalidInput
from tracker.models import LEOPARD, LIFE_STAGES, SEXES, Sighting, Species

ALL_SPECIES = "all"
PARAMS = ("from", "to", "species", "individual", "sex", "life_stage")
PUBLIC_PARAMS = ("from", "to", "species")


@dataclass(frozen=True)
class Filters:
    """What a map shows, parsed from query parameters (bookmarkable, shareable)."""

    date_from: date | None = None  # local dates in the park's time zone, both included
    date_to: date | None = None
    species_id: int | None = None  # None: every animal species
    species_label: str = "all animals"
    individual_id: int | None = None
    individual_code: str | None = None  # its current code
    individual_note: str | None = None  # e.g. "AL-12 is now known as AL-15"
    sex: str | None = None
    life_stage: str | None = None
    values: dict[str, str] = field(default_factory=dict)  # the parameters as given, for the form

    @property
    def query(self) -> dict[str, str]:
        """The non-empty parameters, to build links with."""
        return {k: v for k, v in self.values.items() if v}


def parse_filters(
    session: Session, args: Mapping[str, str], allowed: Sequence[str] = PARAMS
) -> Filters:
    """Filters from query parameters; InvalidInput names each bad one in plain words.

    `species`: a species id, its scientific or common name, or "all" (every animal species);
    absent, the individual's species if one is chosen, else the Amur leopard.
    `from`/`to`: YYYY-MM-DD, local dates of the park. `individual`: a code, current or former.
    """
    values = {name: (args.get(name) or "").strip() for name in allowed}
    errors: dict[str, str] = {}
    dates = {}
    for name in ("from", "to"):
        raw = values.get(name, "")
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"“{raw}” is not a date: write it as YYYY-MM-DD, e.g. 2025-06-30."
    if "from" in dates and "to" in dates and dates["from"] > dates["to"]:
        errors["to"] = f"The period ends ({dates['to']}) before it starts ({dates['from']})."

    found = None
    note = None
    code = values.get("individual", "")
    if code:
        found = individuals.find(session, code) if len(code) <= 64 else None
        if found is None:
            errors["individual"] = f"No individual has the code “{code}”, now or formerly."
        elif found.code.lower() != code.lower():
            note = f"{code} is now known as {found.code}."

    species_id, species_label = None, "all animals"
    raw = values.get("species", "")
    if raw.lower() == ALL_SPECIES:
        pass
    elif raw:
        species = _find_species(session, raw)
        if species is None:
            errors["species"] = f"No species “{raw}”: choose one from the list."
        else:
            species_id, species_label = species.id, species.common_name
    elif found is not None:
        species_id, species_label = found.species_id, found.species.common_name
    else:
        leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
        if leopard is not None:
            species_id, species_label = leopard.id, leopard.common_name

    for name, choices in (("sex", SEXES), ("life_stage", LIFE_STAGES)):
        raw = values.get(name, "")
        if raw and raw not in choices:
            label = name.replace("_", " ").capitalize()
            errors[name] = f"{label} “{raw}” is not one of: {', '.join(choices)}."
    if errors:
        raise InvalidInput(errors)
    return Filters(
        date_from=dates.get("from"),
        date_to=dates.get("to"),
        species_id=species_id,
        species_label=species_label,
        individual_id=found.id if found else None,
        individual_code=found.code if found else None,
        individual_note=note,
        sex=values.get("sex") or None,
        life_stage=values.get("life_stage") or None,
        values=values,
    )


def _find_species(session: Session, raw: str) -> Species | None:
    if raw.isdigit():
        return session.get(Species, int(raw)) if len(raw) < 10 else None
    lowered = raw.lower()
    return session.scalar(
        select(Species)
        .where(
            or_(
                sql.lower(Species.scientific_name) == lowered,
                sql.lower(Species.common_name) == lowered,
            )
        )
        .order_by(Species.id)
        .limit(1)
    )


def _utc_bounds(filters: Filters, timezone: str) -> tuple[datetime | None, datetime | None]:
    """The period as UTC instants: from local midnight of `from` to local midnight after `to`."""
    start = clock.local_day_bounds(filters.date_from, timezone) if filters.date_from else None
    end = None
    if filters.date_to:
        end = clock.local_day_bounds(filters.date_to + timedelta(days=1), timezone)
    return start, end


def conditions(filters: Filters, timezone: str, *, species: bool = True) -> list:
    """Conditions on Sighting for the filter (the species one left out when asked)."""
    live = eventstore.LIVE
    return [*group_conditions(filters, species=species)(live), *per_sighting(filters, timezone)]


def group_conditions(filters: Filters, *, species: bool = True) -> eventstore.GroupFilter:
    """The filter's conditions that keep or drop whole groups of events: species, individual."""

    def conditions(key: eventstore.Key) -> list:
        where = []
        if species:
            if filters.species_id is not None:
                where.append(key.species_id == filters.species_id)
            else:
                animals = select(Species.id).where(Species.kind == "animal")
                where.append(key.species_id.in_(animals))
        if filters.individual_id is not None:
            where.append(key.individual_id == filters.individual_id)
        return where

    return conditions


def per_sighting(filters: Filters, timezone: str) -> list:
    """The filter's conditions on single sightings (the event rule runs over those it keeps)."""
    where = []
    if filters.sex:
        where.append(Sighting.sex == filters.sex)
    if filters.life_stage:
        where.append(Sighting.life_stage == filters.life_stage)
    start, end = _utc_bounds(filters, timezone)
    if start is not None:
        where.append(Sighting.event_start >= start)
    if end is not None:
        where.append(Sighting.event_start < end)
    return where
