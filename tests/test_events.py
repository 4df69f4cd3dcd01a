"""The independent-event rule, on its edge cases, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tracker import events, fieldwork
from tracker.models import LEOPARD, Individual, Sighting, Species

T0 = datetime(2024, 5, 1, 23, 40, tzinfo=UTC)


@pytest.fixture
def world(session):
    """Two stations; at KP-01 a camera swap on 2024-05-02; one known leopard."""
    kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    kp2 = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.4)
    first = fieldwork.DeploymentInput(start_date=date(2024, 4, 1), end_date=date(2024, 5, 2))
    deployments = {
        "kp1-old": fieldwork.create_deployment(session, kp1, first),
        "kp1-new": fieldwork.create_deployment(
            session, kp1, fieldwork.DeploymentInput(start_date=date(2024, 5, 2))
        ),
        "kp2": fieldwork.create_deployment(
            session, kp2, fieldwork.DeploymentInput(start_date=date(2024, 4, 1))
        ),
    }
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    deer = session.scalar(select(Species).where(Species.common_name == "Sika deer"))
    cat = Individual(code="AL-12", sex="female", species=leopard)
    session.add(cat)
    session.flush()
    return {"dep": deployments, "leopard": leopard, "deer": deer, "cat": cat}


def sight(session, world, minutes, *, dep="kp1-old", species="leopard", cat=True, length=0):
    start = T0 + timedelta(minutes=minutes)
    sighting = Sighting(
        deployment=world["dep"][dep],
        species=world[species],
        individual=world["cat"] if cat and species == "leopard" else None,
        event_start=start,
        event_end=start + timedelta(minutes=length),
    )
    session.add(sighting)
    session.flush()
    return sighting.id


def event_of(session, minutes=30) -> dict[int, int]:
    return {
        row.sighting_id: row.event_id for row in session.execute(events.sighting_events(minutes))
    }


def test_exactly_n_minutes_apart_is_one_event_and_a_second_more_is_two(session, world):
    a = sight(session, world, 0)
    b = sight(session, world, 30)
    c = sight(session, world, 60.0 + 1 / 60)  # 30 minutes and 1 second after b
    found = event_of(session)
    assert found[a] == found[b] == a
    assert found[c] == c


def test_gap_counts_from_the_latest_end_not_the_last_start(session, world):
    a = sight(session, world, 0, length=50)  # a long burst, 0 to 50 minutes
    b = sight(session, world, 10)
    c = sight(session, world, 75)  # 25 minutes after a ended
    found = event_of(session)
    assert found[a] == found[b] == found[c] == a


def test_identical_times_are_one_event_with_a_stable_id(session, world):
    a = sight(session, world, 5)
    b = sight(session, world, 5)
    found = event_of(session)
    assert found[a] == found[b] == min(a, b)


def test_unidentified_and_identified_leopards_are_separate_events(session, world):
    known = sight(session, world, 0)
    unknown = sight(session, world, 1, cat=False)
    unknown_later = sight(session, world, 20, cat=False)
    found = event_of(session)
    assert found[known] == known
    assert found[unknown] == found[unknown_later] == unknown


def test_across_midnight_and_a_deployment_change_at_one_station(session, world):
    # T0 is 23:40 UTC on 1 May; the next sighting is after midnight, from the new camera.
    a = sight(session, world, 0, dep="kp1-old")
    b = sight(session, world, 25, dep="kp1-new")
    found = event_of(session)
    assert found[a] == found[b] == a


def test_other_station_and_other_species_are_other_events(session, world):
    a = sight(session, world, 0)
    b = sight(session, world, 2, dep="kp2")
    c = sight(session, world, 3, species="deer")
    found = event_of(session)
    assert len({found[a], found[b], found[c]}) == 3


def test_untimed_sightings_belong_to_no_event(session, world):
    timed = sight(session, world, 0)
    untimed = Sighting(deployment=world["dep"]["kp1-old"], species=world["leopard"])
    session.add(untimed)
    session.flush()
    assert set(event_of(session)) == {timed}


def test_event_rows_aggregate_counts_and_span(session, world):
    a = sight(session, world, 0)
    sight(session, world, 10, length=5)
    session.get(Sighting, a).count = 2
    session.flush()
    (row,) = session.execute(events.events(30)).all()
    assert row.event_id == a
    assert row.sightings == 2 and row.count == 2
    assert row.start == T0 and row.end == T0 + timedelta(minutes=15)


def test_the_window_is_a_setting(session, world):
    a = sight(session, world, 0)
    b = sight(session, world, 20)
    assert event_of(session, minutes=30)[b] == a
    assert event_of(session, minutes=15)[b] == b
