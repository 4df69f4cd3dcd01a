"""The pages of a season stay fast without timing anything: their critical statements run on
their indexes (both databases), and a page runs as many statements with many rows as with few."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import explain
from sqlalchemy import event, func, select

from tracker import fieldwork, individuals
from tracker.models import Image, Sighting, Species, sighting_image

T0 = datetime(2024, 3, 1, 20, tzinfo=UTC)


@pytest.fixture
def place(session):
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
    deployment = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    leopard = session.scalar(select(Species).where(Species.kind == "animal").order_by(Species.id))
    cat = individuals.create(session, code="AL-1", species=leopard)
    session.commit()
    return deployment, leopard, cat


def add_sightings(session, place, n: int, start: int = 0) -> None:
    deployment, leopard, cat = place
    for k in range(start, start + n):
        when = T0 + timedelta(hours=k)
        image = Image(
            deployment=deployment,
            sha256=f"{k:064x}",
            stored_path=f"{k}.jpg",
            original_filename=f"IMG_{k}.JPG",
            bytes=1000,
            width=64,
            height=48,
            taken_at_utc=when,
        )
        row = Sighting(
            species=leopard, individual=cat, deployment=deployment, event_start=when, event_end=when
        )
        row.images.append(image)
        session.add(row)
    session.commit()


class Statements:
    """The SQL statements run while it is open."""

    def __init__(self, app):
        self.engine, self.seen = app.extensions["tracker.engine"], []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self.record)
        return self.seen

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, *args):
        self.seen.append(statement)


def test_a_page_of_an_individuals_timeline_runs_on_its_index(session, place):
    add_sightings(session, place, 20)
    _, _, cat = place
    page = (
        select(Sighting.id)
        .where(Sighting.individual_id == cat.id)
        .order_by(Sighting.event_start.is_(None), Sighting.event_start.desc(), Sighting.id.desc())
        .limit(51)
    )
    assert "ix_sighting_individual" in explain(session, page)


def test_the_effort_finds_each_open_deployments_latest_photo_on_an_index(session, place):
    add_sightings(session, place, 20)
    latest = (
        select(Image.deployment_id, func.max(Image.taken_at_utc))
        .where(Image.deployment_id.in_([place[0].id]))
        .group_by(Image.deployment_id)
    )
    assert "ix_image_deployment_taken" in explain(session, latest)


def test_a_photos_sightings_are_found_on_an_index(session, place):
    add_sightings(session, place, 5)
    linked = select(sighting_image.c.sighting_id).where(sighting_image.c.image_id == 3)
    assert "ix_sighting_image_image" in explain(session, linked)


@pytest.mark.parametrize(
    "path",
    ["/individuals/{cat}", "/individuals/{cat}?before=2024-03-02T10:00:00_40", "/exports/effort"],
)
def test_a_page_runs_as_many_statements_with_many_sightings_as_with_few(
    app, as_role, session, place, path
):
    client = as_role("researcher")
    url = path.format(cat=place[2].id)
    counts = []
    for start, n in ((0, 3), (3, 120)):
        add_sightings(session, place, n, start)
        client.get(url)  # the figures are computed once per change
        with Statements(app) as seen:
            assert client.get(url).status_code == 200
        counts.append(len(seen))
    few, many = counts
    assert many == few, (few, many)
    assert many <= 12
