"""What every export shares: the filters a person types, checked."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tracker import fieldwork
from tracker.errors import InvalidInput
from tracker.exports import core as export
from tracker.models import LEOPARD, Individual, IndividualCode, Species


@pytest.fixture
def park(session):
    fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.4)
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    cat = Individual(code="AL-12", species=leopard)
    session.add(cat)
    session.flush()
    session.add(IndividualCode(individual_id=cat.id, code="AL-OLD", reason="rename"))
    session.commit()
    return {"leopard": leopard.id, "cat": cat.id}


def test_filters_resolve_names_to_ids(session, park):
    parsed = export.Filters.parse(
        session, date_from="2024-01-01", date_to="2024-12-31", stations=["KP-02"],
        species="amur LEOPARD", individual="AL-OLD",
    )  # fmt: skip
    assert parsed.date_from == date(2024, 1, 1) and parsed.date_to == date(2024, 12, 31)
    assert parsed.species_id == park["leopard"]
    assert parsed.individual_id == park["cat"]  # found by its former code
    assert len(parsed.station_ids) == 1
    assert parsed.described["individual"] == "AL-OLD"


@pytest.mark.parametrize(
    ("typed", "field", "words"),
    [
        ({"individual": "AL-99"}, "individual", "No individual with code AL-99"),
        ({"date_from": "2024-06-01", "date_to": "2024-01-01"}, "to", "before the start date"),
        ({"date_from": "01/06/2024"}, "from", "YYYY-MM-DD"),
        ({"species": "snow leopard"}, "species", "No species called"),
        ({"stations": ["KP-01", "XX-9"]}, "stations", "XX-9"),
    ],
)
def test_bad_filters_are_named(session, park, typed, field, words):
    with pytest.raises(InvalidInput) as refused:
        export.Filters.parse(session, **typed)
    assert words in refused.value.errors[field]


def test_no_filters_is_everything(session, park):
    parsed = export.Filters.parse(session)
    assert (parsed.date_from, parsed.station_ids, parsed.species_id) == (None, (), None)
