"""Two rangers import different cards at the same moment, both naming a new species and a new
individual: both cards land whole, and the names are created once.

Real threads, each with its own session and connection, on both databases, started together.
(Holding both PostgreSQL transactions at the contested INSERT made the old code lose a card
every time; since the figures' data_version row, bumped by a trigger on every image insert,
serialises imports at their first image row, the two can no longer meet there. The insert-or-get
stays: it keeps any other writer of a name, and a future without that row, safe.)
"""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from tracker import fieldwork, ingest, sources
from tracker.db import get_session
from tracker.models import AuditLog, Deployment, Image, Individual, Sighting, Species
from tracker.sightings import TagRules
from tracker.synthetic import jpeg_bytes, xmp_packet

TAKEN = "2024:03:10 22:15:00"
CARDS = 2
PHOTOS = 4


def card(number: int, tags: list[str]) -> list[sources.Item]:
    return [
        sources.Item(f"card{number}/IMG_{i}.JPG",
                     jpeg_bytes(TAKEN, seed=100 * number + i, xmp=xmp_packet([], tags)))
        for i in range(PHOTOS)
    ]  # fmt: skip


def import_at_once(app, deployment_ids: list[int], cards: list[list[sources.Item]]):
    start = threading.Barrier(len(cards), timeout=20)
    reports, errors = [], []

    def run(deployment_id, items):
        try:
            with app.app_context():
                session = get_session()
                deployment = session.get(Deployment, deployment_id)
                start.wait()
                media = app.config["MEDIA_DIR"]
                reports.append(ingest.ingest(session, items, deployment, media,
                                             tag_rules=TagRules()))  # fmt: skip
        except Exception as exc:  # surfaced by the assertion of the caller
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=pair) for pair in zip(deployment_ids, cards, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return reports, errors


@pytest.mark.parametrize(
    ("tags", "contested"),
    [
        (["Species|Panthera uncia", "individual|SL-1"], "species"),
        (["individual|AL-99"], "individual"),
    ],
    ids=["new-species-and-individual", "new-individual"],
)
def test_two_imports_naming_the_same_new_names_both_land(app, session, deployment, tags, contested,
                                                         backend):  # fmt: skip
    # Two cameras at two stations: imports into one deployment already wait for each other
    # (its image counts row), so the race is between deployments.
    station = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.6)
    other = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    session.commit()
    cards = [card(n, tags) for n in range(CARDS)]
    reports, errors = import_at_once(app, [deployment.id, other.id], cards)
    assert errors == []
    assert [r.summary for r in reports] == [{"added": PHOTOS, "duplicate": 0, "rejected": 0}] * 2
    count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
    assert count(Image) == CARDS * PHOTOS
    assert count(Sighting) == CARDS * PHOTOS
    code = tags[-1].split("|")[1]
    (individual,) = session.scalars(select(Individual))
    assert individual.code == code
    sightings = session.scalars(select(Sighting))
    assert {s.individual_id for s in sightings} == {individual.id}
    new_species = session.scalars(select(Species).where(Species.confirmed.is_(False))).all()
    assert [s.scientific_name for s in new_species] == (
        ["Panthera uncia"] if contested == "species" else []
    )
    names = AuditLog.entity.in_(["species", "individual"])
    created = select(AuditLog.entity).where(AuditLog.action == "create", names)
    assert sorted(session.scalars(created)) == (
        ["individual", "species"] if contested == "species" else ["individual"]
    )
