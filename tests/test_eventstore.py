"""The kept events (tracker.eventstore) equal the event rule run on the fly, after every kind of
write, from the code paths that make them: imports, tags, undo, bulk tags, merges, deletions,
clock fixes, a deployment moved to another station, a species changed."""

from __future__ import annotations

import itertools
import runpy
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import trigger_names
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from tracker import (
    clockfix,
    demo,
    events,
    eventstore,
    fieldwork,
    individuals,
    ingest,
    library,
    outages,
    sightings,
    sources,
    species,
)
from tracker.exports import effort
from tracker.exports.core import Filters, Options
from tracker.models import (
    LEOPARD,
    Deployment,
    Image,
    Individual,
    Sighting,
    SightingEvent,
    SightingEventDirty,
    Species,
    Station,
)
from tracker.review import tagging
from tracker.synthetic import jpeg_bytes, xmp_packet

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
T0 = datetime(2024, 4, 10, 20, 0, tzinfo=UTC)
_n = itertools.count(1)
TRIGGERS = {
    "sighting_events_added",
    "sighting_events_removed",
    "sighting_events_changed",
    "sighting_image_events_linked",
    "sighting_image_events_unlinked",
    "sighting_image_events_moved",
    "image_events_trust_changed",
    "image_events_removed",
    "deployment_events_moved",
}


def kept(session) -> dict[int, tuple]:
    eventstore.refresh(session)
    e = SightingEvent
    rows = session.execute(
        select(e.sighting_id, e.event_id, e.station_id, e.species_id, e.individual_id).add_columns(
            e.event_start, e.event_end, e.count, e.starts_event
        )
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def computed(session) -> dict[int, tuple]:
    rows = session.execute(events.sighting_events())
    return {
        r.sighting_id: (
            r.event_id,
            r.station_id,
            r.species_id,
            r.individual_id,
            r.event_start,
            r.event_end,
            r.count,
            r.event_id == r.sighting_id,
        )
        for r in rows
    }


def assert_same(session) -> dict[int, tuple]:
    session.flush()
    found = computed(session)
    assert kept(session) == found
    assert session.scalar(select(SightingEventDirty.id).limit(1)) is None
    return found


@pytest.fixture
def world(session):
    kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    kp2 = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.4)
    start = fieldwork.DeploymentInput(start_date=date(2024, 4, 1), timezone="UTC")
    deployments = {
        "kp1": fieldwork.create_deployment(session, kp1, start),
        "kp2": fieldwork.create_deployment(session, kp2, start),
    }
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    deer = session.scalar(select(Species).where(Species.common_name == "Sika deer"))
    cats = [Individual(code=f"AL-{n}", sex="female", species=leopard) for n in (1, 2)]
    session.add_all(cats)
    session.commit()
    return {"dep": deployments, "leopard": leopard, "deer": deer, "cats": cats, "kp2": kp2}


def photo(session, deployment, minutes: float, issue: str | None = None) -> Image:
    n = next(_n)
    image = Image(
        sha256=f"{n:064x}",
        stored_path=f"x/{n}.jpg",
        original_filename=f"IMG_{n:04d}.JPG",
        bytes=1,
        deployment=deployment,
        taken_at_utc=T0 + timedelta(minutes=minutes),
        timestamp_issue=issue,
    )
    session.add(image)
    session.flush()
    return image


def tag(session, world, minutes, *, dep="kp1", who="leopard", cat=None, n=1, issue=None):
    images = [photo(session, world["dep"][dep], minutes + i, issue) for i in range(n)]
    data = sightings.SightingInput(
        species_id=world[who].id, individual_code=cat.code if cat else ""
    )
    return sightings.tag_images(session, images, data, timestamp_confirmed=True)


def season(session, world) -> list[Sighting]:
    """Leopards known and unknown, deer, at two stations, some within 30 minutes."""
    cat1, cat2 = world["cats"]
    found = [tag(session, world, m, cat=cat1) for m in (0, 20, 45, 100, 200, 225)] + [
        tag(session, world, m, cat=cat2, dep="kp2") for m in (10, 50)
    ]
    found += [tag(session, world, m) for m in (5, 30, 300)]
    found += [tag(session, world, m, who="deer") for m in (0, 15, 16, 90)]
    session.commit()
    return found


def test_the_triggers_are_there_at_head(session):
    assert trigger_names(session) >= TRIGGERS


def test_the_migration_window_is_the_default():
    path = MIGRATIONS / "7b3e9f1c2a4d_independent_events_kept_per_sighting.py"
    migration = runpy.run_path(str(path))
    assert migration["MINUTES"] == events.DEFAULT_MINUTES
    assert migration["TOLERANCE_S"] == events.TOLERANCE_S


def test_tags_edits_and_undo(session, world):
    found = season(session, world)
    before = assert_same(session)
    assert len(before) == len(found)
    cat1, cat2 = world["cats"]
    # A tag that joins two events of AL-1 (at 45 and 100: 55 minutes apart) into one.
    tag(session, world, 70, cat=cat1)
    after = assert_same(session)
    assert sum(v[-1] for v in after.values()) == sum(v[-1] for v in before.values()) - 1
    # Re-identified: an unknown leopard becomes AL-2, a leopard becomes a deer.
    sightings.update_sighting(
        session,
        found[8],
        sightings.SightingInput(species_id=world["leopard"].id, individual_code="AL-2"),
    )
    assert_same(session)
    sightings.update_sighting(session, found[2], sightings.SightingInput(world["deer"].id))
    assert_same(session)
    session.execute(update(Sighting).where(Sighting.id == found[0].id).values(count=3))
    assert_same(session)
    # Undo from the review queue; a plain delete.
    fresh = tag(session, world, 400, cat=cat2)
    assert_same(session)
    tagging.untag(session, fresh, None, None)
    assert_same(session)
    sightings.delete_sighting(session, found[1])
    assert_same(session)


def test_bulk_tags_and_merges(session, world):
    season(session, world)
    chosen = [photo(session, world["dep"]["kp2"], m).id for m in (500, 505, 600, 601)]
    data = sightings.SightingInput(species_id=world["leopard"].id, individual_code="AL-1")
    library.tag_selected(session, chosen, data, None, 10, 0.2, timestamp_confirmed=True)
    assert_same(session)
    cat1, cat2 = world["cats"]
    individuals.merge(session, cat1, cat2, None)  # AL-2's events join AL-1's groups
    assert_same(session)
    roe = Species(
        scientific_name="Cervus nipponicus x", common_name="Sika, misspelt", kind="animal"
    )
    session.add(roe)
    session.flush()
    tag(session, world, 17, who="deer")
    session.execute(update(Sighting).where(Sighting.species_id == world["deer"].id).values(
        species_id=roe.id))  # fmt: skip
    assert_same(session)
    species.merge(session, roe, world["deer"])
    assert_same(session)
    individuals.discard_unused(session, cat1, None)  # in use: kept
    session.execute(delete(Individual).where(Individual.id == cat1.id))  # sightings: SET NULL
    assert_same(session)


def test_photos_with_a_timestamp_issue_and_their_deletion(session, world):
    found = season(session, world)
    cat1 = world["cats"][0]
    flagged = tag(session, world, 30, cat=cat1, issue="outside the deployment")
    before = assert_same(session)
    assert flagged.id not in before
    image = found[1].images[0]
    session.execute(update(Image).where(Image.id == image.id).values(timestamp_issue="skipped"))
    assert found[1].id not in assert_same(session)
    session.execute(update(Image).where(Image.id == image.id).values(timestamp_issue=None))
    assert found[1].id in assert_same(session)
    # A flagged photo linked to a trusted sighting, then unlinked, then deleted.
    other = photo(session, world["dep"]["kp1"], 21, issue="outside")
    found[1].images.append(other)
    assert found[1].id not in assert_same(session)
    found[1].images.remove(other)
    assert found[1].id in assert_same(session)
    session.delete(flagged.images[0])
    session.flush()
    assert flagged.id in assert_same(session)  # its only photo, the flagged one, is gone
    session.delete(found[3].images[0])
    assert_same(session)


def test_clock_fixes_and_deployments_moved_or_deleted(app, session, world):
    found = season(session, world)
    deployment = world["dep"]["kp1"]
    items = [
        sources.Item(f"P{i}.JPG", jpeg_bytes(datetime(2024, 4, 10, 20, 3 * i), seed=900 + i))
        for i in range(3)
    ]
    report = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    ids = [o.image_id for o in report.outcomes]
    data = sightings.SightingInput(species_id=world["leopard"].id, individual_code="AL-1")
    sightings.tag_images(session, [session.get(Image, i) for i in ids], data)
    session.commit()
    assert_same(session)
    clockfix.set_clock_offset(session, deployment, 2 * 3600, None, confirmed=True)
    assert_same(session)
    clockfix.set_clock_offset(session, deployment, -400 * 86400, None, confirmed=True)
    assert_same(session)  # now outside the deployment: flagged, out of every event
    clockfix.set_clock_offset(session, deployment, 0, None, confirmed=True)
    assert_same(session)
    # The deployment moved to the other station: its events join KP-02's.
    session.execute(
        update(Deployment).where(Deployment.id == deployment.id).values(station_id=world["kp2"].id)
    )
    moved = assert_same(session)
    assert {v[1] for v in moved.values()} == {world["kp2"].id}
    # A sighting moved to another deployment, then the deployment deleted with its photos.
    other = world["dep"]["kp2"]
    session.execute(update(Sighting).where(Sighting.id == found[0].id).values(
        deployment_id=other.id))  # fmt: skip
    assert_same(session)
    session.execute(delete(Sighting).where(Sighting.deployment_id == other.id))
    session.execute(delete(Image).where(Image.deployment_id == other.id))
    session.execute(delete(Deployment).where(Deployment.id == other.id))
    assert_same(session)


def test_imports_with_tags(app, session, world):
    tags = ["Species|Amur leopard", "individual|AL-9"]
    items = [
        sources.Item(
            f"T{i}.JPG",
            jpeg_bytes(T0 + timedelta(minutes=i), seed=700 + i, xmp=xmp_packet([], tags)),
        )
        for i in range(3)
    ]
    ingest.ingest(
        session, items, world["dep"]["kp2"], app.config["MEDIA_DIR"], tag_rules=sightings.TagRules()
    )
    session.commit()
    assert len(assert_same(session)) == 3


def test_a_demo_import_recomputes_everything_at_once(session):
    demo.load_demo(session, stations=12, sightings=1500)
    session.commit()
    marked = session.scalar(select(SightingEventDirty.id).limit(1))
    assert marked is not None
    assert len(assert_same(session)) > 1000
    session.execute(update(Station).values(name="renamed"))  # not what events rest on
    assert session.scalar(select(SightingEventDirty.id).limit(1)) is None


def test_figures_read_kept_events_only_for_whole_groups(session, world):
    season(session, world)
    eventstore.refresh(session)

    def sql(query) -> str:
        return str(query.compile(session.get_bind()))

    assert "FROM sighting_event" in sql(eventstore.starts(session))
    dated = eventstore.starts(session, where=[Sighting.event_start >= T0])
    assert "sighting_event" not in sql(dated)
    assert "sighting_event" not in sql(eventstore.starts(session, minutes=10))

    def leopards(key):
        return [key.species_id == world["leopard"].id]

    stored = sorted(session.execute(eventstore.starts(session, groups=leopards)).all())
    live = sorted(
        session.execute(
            events.event_starts(where=[Sighting.species_id == world["leopard"].id])
        ).all()
    )
    assert stored == live


def test_two_workers_refreshing_at_once_take_turns_and_miss_no_write(app, session, world):
    """The first refresh holds the marks it took (and, on PostgreSQL, an advisory lock) until
    it commits; a second waits, then finds them done; a write committed meanwhile leaves a mark
    of its own for the next refresh."""
    season(session, world)
    engine = app.extensions["tracker.engine"]
    first, second, writer = (Session(engine) for _ in range(3))
    try:
        assert eventstore.refresh(first) > 0  # not committed yet
        postgresql = engine.dialect.name == "postgresql"
        if postgresql:  # SQLite: the writer would wait for the first's write lock
            cat = writer.get(Individual, world["cats"][0].id)
            tag(writer, world | {"dep": {"kp1": writer.get(Deployment, world["dep"]["kp1"].id)},
                                 "leopard": writer.get(Species, world["leopard"].id)},
                130, cat=cat)  # fmt: skip
            writer.commit()
        done = {}
        worker = threading.Thread(target=lambda: done.update(n=eventstore.refresh(second)))
        worker.start()
        if postgresql:
            _wait_for_a_lock_wait(session)
        first.commit()
        worker.join()
        second.commit()
        assert done["n"] == (1 if postgresql else 0)  # the writer's group, or nothing
    finally:
        for s in (first, second, writer):
            s.close()
    session.expire_all()
    assert_same(session)


def _wait_for_a_lock_wait(session) -> None:
    """Until another connection waits for a lock (PostgreSQL), at most 30 seconds."""
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    for _ in range(300):
        session.rollback()
        if session.scalar(query):
            return
        time.sleep(0.1)
    raise AssertionError("the second refresh never waited for the first")


def test_effort_from_kept_events_equals_effort_day_by_day(session, world, monkeypatch):
    """Effort counts kept events per station in SQL and looks only at those near a day without
    a camera; the answer is the one of looking at every event's local day."""
    kp1 = world["dep"]["kp1"]
    kp1.timezone = "Asia/Vladivostok"  # UTC+10: 20:00 UTC is the next local day
    kp1.end_date = date(2024, 4, 20)
    outages.add_outage(session, kp1, date(2024, 4, 12), date(2024, 4, 13), "card full")
    day = 24 * 60
    for minutes in (-10 * day, -9 * day - 300, 0, day, 2 * day, 3 * day, 9 * day, 10 * day):
        for who in ("leopard", "deer"):
            tag(session, world, minutes, who=who)
            tag(session, world, minutes + 3 * 60, who=who, dep="kp2")
    session.commit()
    options = Options(now=datetime(2024, 6, 1, tzinfo=UTC))
    kept = effort.effort(session, Filters(), options, today=date(2024, 6, 1))
    monkeypatch.setattr(eventstore, "kept", lambda minutes, where=(): False)
    by_day = effort.effort(session, Filters(), options, today=date(2024, 6, 1))
    assert kept.off_duty == by_day.off_duty > 0
    assert [s.events for s in kept.stations] == [s.events for s in by_day.stations]
    assert sum(sum(s.events.values()) for s in kept.stations) > 0
