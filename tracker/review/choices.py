"""The species and individual codes a sighting may name, in the order a ranger wants them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from tracker.models import LEOPARD, Individual, Species

QUICK_KEYS = 9  # species 1-9 on the keyboard
KIND_ORDER = {"animal": 0, "human": 1, "vehicle": 2, "unknown": 3}


@dataclass
class Choices:
    """The species a sighting may name, in the order a ranger wants them, and the codes."""

    species: list[Species]  # leopard first, other animals, people and the rest
    blank: Species | None
    codes: list[tuple[str, str]]  # (code, name) of every individual, for the datalist

    @property
    def quick(self) -> list[Species]:
        return self.species[:QUICK_KEYS]

    @property
    def leopard(self) -> Species | None:
        return next((s for s in self.species if s.scientific_name == LEOPARD), None)


def label(species: Species) -> str:
    """A species as the select shows it: unconfirmed ones say so."""
    return species.common_name + ("" if species.confirmed else " (unconfirmed)")


def load_choices(session) -> Choices:
    """Every species not retired (blank apart) and every individual's code and name."""
    everything = list(session.scalars(select(Species).where(~Species.retired)))
    blank = next((s for s in everything if s.kind == "blank"), None)

    def order(s: Species):
        return (
            s.scientific_name != LEOPARD,
            not s.confirmed,
            KIND_ORDER.get(s.kind, 9),
            s.common_name.lower(),
        )

    species = sorted((s for s in everything if s.kind != "blank"), key=order)
    codes = session.execute(select(Individual.code, Individual.name).order_by(Individual.code))
    return Choices(species=species, blank=blank, codes=[tuple(row) for row in codes])
