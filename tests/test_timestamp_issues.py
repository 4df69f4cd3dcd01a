"""Sightings on photos with a timestamp issue stay out of every figure until the clock is fixed.

One rule (events.time_trusted) for the dashboard, the catalogue, the map and the events; the
exports' tests check the same set. Real database, real generated JPEGs through the real ingest.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from tracker import (
    catalogue,
    events,
    fieldwork,
    ingest,
    mapdata,
    mapfilters,
    sightings,
    sources,
    stats,
)
from tracker.models import LEOPARD, Image, Species
from tracker.synthetic import jpeg_bytes

PARK = "Asia/Vladivostok"


@pytest.fixture
def world(app, session, users):
    """AL-01 seen twice in May 2024, and once on a photo dated after the deployment ended
    (July 2024: a timestamp issue), tagged with confirmation."""
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    deployment = fieldwork.create_deployment(
        session,
        station,
        fieldwork.DeploymentInput(start_date=date(2024, 4, 1), end_date=date(2024, 6, 30)),
    )
    photos = [
        ("IMG_0001.JPG", datetime(2024, 5, 2, 10, 0)),
        ("IMG_0002.JPG", datetime(2024, 5, 20, 3, 0)),
        ("IMG_0003.JPG", datetime(2024, 7, 12, 22, 0)),  # after the end: flagged
    ]
    items = [sources.Item(n, jpeg_bytes(t, seed=i)) for i, (n, t) in enumerate(photos)]
    report = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    ids = [o.image_id for o in report.outcomes]
    leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
    for index, image_id in enumerate(ids):
        image = session.get(Image, image_id)
        data = sightings.SightingInput(
            species_id=leopard, individual_code="AL-01", new_individual=index == 0
        )
        sightings.tag_images(session, [image], data, users["ranger"], timestamp_confirmed=True)
    session.commit()
    return {"deployment": deployment, "ids": ids}


def figures(session) -> dict:
    (entry,) = catalogue.entries(session, minutes=30, not_seen_months=12, today=date(2025, 1, 1))
    board = stats.dashboard(session, 30, PARK)
    shown = mapdata.map_data(session, mapfilters.Filters(), timezone=PARK)
    return {
        "last_month": entry.last_seen.month,
        "events": session.scalar(select(func.count()).select_from(events.events().subquery())),
        "months": [m for m, n in board.population.months if n],
        "map": shown.events,
    }


def test_the_flagged_sighting_is_out_of_every_figure(session, world):
    flagged = session.get(Image, world["ids"][2])
    assert flagged.timestamp_issue == "capture time outside the deployment period"
    got = figures(session)
    assert got["last_month"] == 5  # not July
    assert got["events"] == 2 and got["map"] == 2
    assert got["months"] == ["2024-05"]


def test_once_the_dates_are_fixed_it_counts_again(session, world):
    deployment = world["deployment"]
    data = fieldwork.DeploymentInput(
        start_date=deployment.start_date, end_date=date(2024, 7, 31), timezone=deployment.timezone
    )
    fieldwork.update_deployment(session, deployment, data)
    session.commit()
    assert session.get(Image, world["ids"][2]).timestamp_issue is None
    got = figures(session)
    assert got["last_month"] == 7
    assert got["events"] == 3 and got["map"] == 3
    assert got["months"] == ["2024-05", "2024-07"]


def test_tagging_a_flagged_photo_without_confirmation_is_refused(session, world):
    image = session.get(Image, world["ids"][2])
    leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
    with pytest.raises(fieldwork.InvalidInput) as refused:
        sightings.tag_images(session, [image], sightings.SightingInput(species_id=leopard))
    assert "timestamp issue" in refused.value.errors["confirm_timestamp"]
