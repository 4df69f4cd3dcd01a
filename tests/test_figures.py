"""Cached figures (dashboard, maps) are served until, and only until, what they rest on changes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from itertools import pairwise

import pytest
from sqlalchemy import delete, select, update

from tracker import fieldwork, figures, individuals
from tracker.models import Deployment, Sighting, Species, Station


@pytest.fixture
def place(session):
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
    deployment = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    session.commit()
    return deployment


def leopard(session) -> Species:
    return session.scalar(select(Species).where(Species.kind == "animal").order_by(Species.id))


def sighting(session, deployment: Deployment, day: int) -> Sighting:
    when = datetime(2024, 3, day, 20, tzinfo=UTC)
    row = Sighting(
        species=leopard(session), deployment=deployment, event_start=when, event_end=when
    )
    session.add(row)
    session.commit()
    return row


def test_every_write_to_what_figures_rest_on_moves_the_version(session, place):
    seen = [figures.data_version(session)]
    changes = [
        lambda: sighting(session, place, 1),
        lambda: session.execute(update(Sighting).values(count=2)),
        lambda: session.execute(update(Deployment).values(notes="moved")),
        lambda: session.execute(update(Station).values(name="Gorge")),
        lambda: session.execute(update(Species).where(Species.id == 1).values(common_name="x")),
        lambda: session.execute(delete(Sighting)),
    ]
    for change in changes:
        change()
        session.commit()
        seen.append(figures.data_version(session))
    assert all(b is not None and (a or 0) < b for a, b in pairwise(seen)), seen


def _page(client, path: str) -> str:
    """A page without its forms' CSRF tokens (the sign-out form is on every page): a token
    carries the second it was signed in, so two requests in different seconds differ there, and
    only there."""
    page = client.get(path).get_data(as_text=True)
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def test_the_dashboard_is_computed_once_per_change(app, as_role, session, place):
    cache = app.extensions["tracker.figures"]
    client = as_role("researcher")
    sighting(session, place, 1)
    first = _page(client, "/")
    computed = cache.computed
    assert _page(client, "/") == first
    assert cache.computed == computed  # served from the cache
    sighting(session, place, 20)  # another independent event
    page = _page(client, "/")
    assert cache.computed == computed + 1
    assert page != first


def test_the_map_is_computed_once_per_filter_and_change(app, as_role, session, place):
    cache = app.extensions["tracker.figures"]
    client = as_role("researcher")
    sighting(session, place, 1)
    assert client.get("/map?species=all").status_code == 200
    computed = cache.computed
    assert client.get("/map?species=all").status_code == 200
    assert cache.computed == computed
    assert client.get("/map").status_code == 200
    assert cache.computed == computed + 1  # another filter, another figure
    session.execute(update(Station).values(latitude=43.2))
    session.commit()
    assert client.get("/map?species=all").status_code == 200
    assert cache.computed == computed + 2


def test_effort_is_computed_once_per_filter_and_change(app, as_role, session, place):
    cache = app.extensions["tracker.figures"]
    client = as_role("researcher")
    sighting(session, place, 1)
    first = _page(client, "/exports/effort")
    computed = cache.computed
    assert _page(client, "/exports/effort") == first
    assert cache.computed == computed
    assert client.get("/exports/effort?date_from=2024-03-01").status_code == 200
    assert cache.computed == computed + 1  # another filter, another figure
    sighting(session, place, 20)  # another event: the effort changes
    page = _page(client, "/exports/effort")
    assert cache.computed == computed + 2
    assert page != first


def test_an_individuals_figures_are_computed_once_per_change(app, as_role, session, place):
    cat = individuals.create(session, code="AL-1", species=leopard(session))
    session.commit()
    cache = app.extensions["tracker.figures"]
    client = as_role("ranger")
    row = sighting(session, place, 1)
    row.individual = cat
    session.commit()
    assert "1 independent event" in client.get(f"/individuals/{cat.id}").get_data(as_text=True)
    computed = cache.computed
    client.get(f"/individuals/{cat.id}")
    assert cache.computed == computed
    later = sighting(session, place, 20)
    later.individual = cat
    session.commit()
    assert "2 independent events" in client.get(f"/individuals/{cat.id}").get_data(as_text=True)
    assert cache.computed == computed + 1


def test_the_timestamp_report_is_computed_once_per_change(app, as_role, session, place):
    cache = app.extensions["tracker.figures"]
    client = as_role("ranger")
    assert client.get(f"/deployments/{place.id}/timestamps").status_code == 200
    computed = cache.computed
    assert client.get(f"/deployments/{place.id}/timestamps").status_code == 200
    assert cache.computed == computed
    session.execute(update(Deployment).values(clock_offset_s=3600))
    session.commit()
    assert client.get(f"/deployments/{place.id}/timestamps").status_code == 200
    assert cache.computed == computed + 1


def test_a_transaction_of_many_statements_moves_the_version_once_on_postgresql(session, place):
    """PostgreSQL bumps once per transaction: n bumps of one row in one transaction cost
    O(n^2) (a season's demo load never finished). SQLite bumps per row, in place."""
    before = figures.data_version(session) or 0
    for day in range(1, 21):
        session.add(
            Sighting(
                species=leopard(session),
                deployment=place,
                event_start=datetime(2024, 4, day, tzinfo=UTC),
            )
        )
        session.flush()  # one INSERT statement each
    session.execute(update(Sighting).values(count=3))
    assert figures.data_version(session) > before  # seen inside the transaction too
    session.commit()
    after = figures.data_version(session)
    if session.get_bind().dialect.name == "postgresql":
        assert after == before + 1
    else:
        assert after >= before + 21
    sighting(session, place, 25)  # the next transaction moves it again
    assert figures.data_version(session) == after + 1


def test_the_public_map_is_computed_once_per_filter_and_change(app, session, place):
    app.config["PUBLIC_MAP"] = True
    cache = app.extensions["tracker.figures"]
    visitor = app.test_client()  # nobody signed in

    def public_map() -> str:  # without the per-request CSP nonces
        return re.sub(r'nonce="[^"]*"', "", visitor.get("/map/public").get_data(as_text=True))

    sighting(session, place, 1)
    first = public_map()
    computed = cache.computed
    assert public_map() == first
    assert cache.computed == computed
    sighting(session, place, 20)  # another event: a cell's count changes
    page = public_map()
    assert cache.computed == computed + 1
    assert page != first
