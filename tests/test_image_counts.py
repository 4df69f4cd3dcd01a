"""Per-status counts per deployment, kept by database triggers, stay right after every change;
the image list's critical statements run on their indexes; a page runs a bounded number of
statements. Small data: nothing here is timed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import explain, trigger_names
from sqlalchemy import delete, event, exists, func, select, text, tuple_, update

from tracker import clockfix, fieldwork, imagelist, sightings, species
from tracker.models import (
    Deployment,
    Image,
    ImageCount,
    Sighting,
    Species,
    sighting_image,
)
from tracker.sightings import SightingInput

TRIGGERS = {
    "image_links_added",
    "image_links_removed",
    "image_links_moved",
    "sighting_species_changed",
    "species_kind_changed",
    "image_added",
    "image_removed",
    "image_changed",
}
T0 = datetime(2024, 3, 10, 12, tzinfo=UTC)
RAW = "%Y:%m:%d %H:%M:%S"


def recount(session) -> dict[int, tuple]:
    """Counted from scratch, with the list's original EXISTS rules, per deployment."""
    linked = exists().where(sighting_image.c.image_id == Image.id)

    def of_kind(blank: bool):
        kind = Species.kind == "blank" if blank else Species.kind != "blank"
        return (
            exists()
            .where(sighting_image.c.image_id == Image.id)
            .where(Sighting.id == sighting_image.c.sighting_id)
            .where(Species.id == Sighting.species_id, kind)
        )

    rows = {}
    for image in session.scalars(select(Image)):
        flags = session.execute(
            select(~linked, of_kind(False), of_kind(True)).where(Image.id == image.id)
        ).one()
        before = rows.get(image.deployment_id, (0, 0, 0, 0, 0))
        add = (1, *map(int, flags), int(image.timestamp_issue is not None))
        rows[image.deployment_id] = tuple(a + b for a, b in zip(before, add, strict=True))
    return rows


def kept(session) -> dict[int, tuple]:
    session.expire_all()
    rows = session.scalars(select(ImageCount)).all()
    return {
        r.deployment_id: (r.images, r.untagged, r.tagged, r.blank, r.timestamp_issues)
        for r in rows
        if r.images
    }


@pytest.fixture
def place(session):
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
    inputs = fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    first = fieldwork.create_deployment(session, station, inputs)
    other = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.8)
    second = fieldwork.create_deployment(session, other, inputs)
    session.commit()
    return first, second


def add(session, deployment, n: int, start: int = 0) -> list[Image]:
    images = [
        Image(
            sha256=f"{deployment.id:04x}{start + i:060x}",
            stored_path=f"x/{deployment.id}-{start + i}.jpg",
            original_filename=f"IMG_{start + i}.JPG",
            bytes=1,
            taken_at_utc=T0 + timedelta(minutes=start + i) if i % 5 else None,
            taken_at_raw=(T0 + timedelta(hours=10, minutes=start + i)).strftime(RAW)
            if i % 5
            else None,
            timestamp_issue=None if i % 5 else "no capture time in the file",
            deployment_id=deployment.id,
        )
        for i in range(n)
    ]
    session.add_all(images)
    session.flush()
    return images


def named(session, name: str) -> Species:
    return session.scalar(select(Species).where(Species.scientific_name == name))


def test_the_triggers_are_there_at_head(session):
    assert trigger_names(session) >= TRIGGERS


def test_counts_stay_right_through_imports_tags_merges_deletions_and_clock_fixes(
    session, place, users
):
    first, second = place
    images = add(session, first, 10) + add(session, second, 4)
    assert kept(session) == recount(session)
    leopard, blank = named(session, "Panthera pardus orientalis"), named(session, "Blank")
    tagged = sightings.tag_images(session, images[1:3], SightingInput(species_id=leopard.id))
    sightings.tag_images(session, images[2:4], SightingInput(species_id=blank.id))
    assert kept(session) == recount(session)
    assert kept(session)[first.id][:4] == (10, 7, 2, 2)

    # A species merged into another (a tag spelled differently), then a kind changed.
    tiger = named(session, "Panthera tigris altaica")
    species.merge(session, leopard, tiger)
    session.execute(update(Species).where(Species.id == tiger.id).values(kind="blank"))
    assert kept(session) == recount(session)
    session.execute(update(Species).where(Species.id == tiger.id).values(kind="animal"))

    sightings.delete_sighting(session, tagged)
    session.delete(images[3])  # its link to the blank sighting goes with it
    session.execute(delete(Image).where(Image.id == images[12].id))
    session.flush()
    assert kept(session) == recount(session)

    # A clock fix moves photos into and out of the deployment period: timestamp issues change.
    clockfix.set_clock_offset(session, first, -86_400 * 400, confirmed=True, reason="test")
    session.flush()
    after = kept(session)
    assert after == recount(session)
    assert after[first.id][4] == 10 - 1  # every photo left is outside the period now
    session.execute(update(Image).where(Image.id == images[5].id).values(deployment_id=second.id))
    session.commit()
    assert kept(session) == recount(session)


CASES = {
    "": "ix_image_taken_id",
    "status=untagged": "ix_image_untagged_taken",
    "status=tagged": "ix_image_tagged_taken",
    "status=blank": "ix_image_blank_taken",
    "status=timestamp": "ix_image_timestamp_taken",
    "status=untagged&from=2024-03-01&to=2024-03-31": "ix_image_untagged_taken",
    "deployment=1": "ix_image_deployment_taken",
}


@pytest.mark.parametrize(("query", "index"), list(CASES.items()))
def test_the_list_pages_run_on_their_indexes(session, place, query, index):
    add(session, place[0], 20)
    session.commit()
    args = dict(p.split("=") for p in query.split("&") if p)
    filters = imagelist.read_filters(args)
    where = [*imagelist.conditions(filters), Image.taken_at_utc.is_not(None)]
    key = (Image.taken_at_utc.desc(), Image.id.desc())
    statement = select(Image.id).where(*where).order_by(*key).limit(61)
    plan = explain(session, statement, sorting=False)
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan.split("->")[0], plan
    deeper = tuple_(Image.taken_at_utc, Image.id) < tuple_(T0 + timedelta(minutes=10), 999)
    deep = select(Image.id).where(*where, deeper).order_by(*key).limit(61)
    assert index in explain(session, deep, sorting=False)


def test_counts_without_dates_read_the_kept_counts_only(session, place):
    add(session, place[0], 20)
    session.commit()
    plan = explain(
        session,
        select(func.sum(ImageCount.images)).where(
            ImageCount.deployment_id.in_(select(Deployment.id).where(Deployment.station_id == 1))
        ),
    )
    assert " image " not in plan.lower().replace("image_count", "")


@pytest.mark.parametrize("query", ["", "?status=blank", "?from=2024-03-01", "?station=KP-01"])
def test_a_list_page_runs_a_bounded_number_of_statements(app, as_role, session, place, query):
    add(session, place[0], 150)
    session.commit()
    client = as_role("researcher")
    statements = []
    engine = app.extensions["tracker.engine"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(f"/images/{query}").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    # The user, the figures' version, three filter choices, the species of the tagging bar, the
    # counts (5 when dates cap them), the page, and the thumbnails' labels (sightings, boxes).
    assert len(statements) <= 14, statements


def test_a_common_species_page_walks_the_capture_order(session, place, monkeypatch):
    """A species with many sightings is found by walking the capture order's index, checking
    each photo: SQLite off the species' index (`+ 0`), PostgreSQL on the plain column, whose
    statistics tell its planner how common the species is (behind `+ 0` it guessed 0.5 % and
    sorted every photo of the species: 2.1 s for the leopards of a season)."""
    from tracker import imagecontent

    monkeypatch.setattr(imagecontent, "COMMON", 1)
    # Enough photos that the page's 61 are found long before the index ends. Even so, sorting
    # 160 matches costs PostgreSQL about what the walk does (a season's hundreds of thousands
    # do not), and its choice flipped between runs: the plan is asked with sorting switched
    # off (does the capture order's index serve the page?), and the statement's text is what
    # guards the cause of the 2.1 s (no `+ 0` on PostgreSQL).
    images = add(session, place[0], 400)
    leopard = named(session, "Panthera pardus orientalis")
    for i in range(1, 400, 2):
        sightings.tag_images(
            session, [images[i]], SightingInput(species_id=leopard.id), timestamp_confirmed=True
        )
    session.commit()
    session.execute(text("ANALYZE"))  # the planners' statistics, as a season's would have
    filters = imagelist.read_filters({"species": str(leopard.id)})
    assert imagecontent.walks(session, filters)
    where = [*imagelist.conditions(filters, walk=True), Image.taken_at_utc.is_not(None)]
    key = (Image.taken_at_utc.desc(), Image.id.desc())
    statement = select(Image.id).where(*where).order_by(*key).limit(61)
    sql = str(statement.compile(session.get_bind()))
    plain = session.get_bind().dialect.name != "sqlite"
    assert ("species_id + 0" not in sql) == plain, sql
    plan = explain(session, statement, sorting=False)
    assert "ix_image_taken_id" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan.split("->")[0], plan
    assert len(session.scalars(statement).all()) == 61  # a page (160 are timed leopards)
