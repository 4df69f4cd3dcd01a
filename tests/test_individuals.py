"""The individual catalogue: the list and its numbers, one animal's profile, reference photos,
renaming without losing history, and merging two records of one cat. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from conftest import csrf_token, fetch, row_counts
from sqlalchemy import event, select

from tracker import catalogue, eventstore, fieldwork, individuals, ingest, profiles, sources
from tracker.errors import InvalidInput
from tracker.models import (
    LEOPARD,
    AuditLog,
    Image,
    Individual,
    IndividualCode,
    Sighting,
    Species,
    individual_reference_image,
)
from tracker.synthetic import jpeg_bytes

T0 = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
TODAY = date(2024, 6, 1)
XSS = "<script>alert(1)</script>"


@pytest.fixture
def world(app, session):
    """Stations KP-01 and KP-02 with a camera each; leopards AL-1 and AL-2, tiger T-1."""
    kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    kp2 = fieldwork.create_station(
        session, code="KP-02", name="Ridge", latitude=43.2, longitude=131.4
    )
    since = fieldwork.DeploymentInput(start_date=date(2019, 1, 1))
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    tiger = session.scalar(select(Species).where(Species.common_name == "Amur tiger"))
    w = SimpleNamespace(
        kp1=fieldwork.create_deployment(session, kp1, since),
        kp2=fieldwork.create_deployment(session, kp2, since),
        leopard=leopard,
        tiger=tiger,
        al1=individuals.create(session, code="AL-1", species=leopard, name="Kedrovaya"),
        al2=individuals.create(session, code="AL-2", species=leopard, sex="male"),
        t1=individuals.create(session, code="T-1", species=tiger),
        images=0,
    )
    session.commit()
    return w


def image(session, w, dep="kp1", at=T0) -> Image:
    """A stored photo's row (no file: pages only link to it)."""
    w.images += 1
    row = Image(
        sha256=f"{w.images:064x}",
        stored_path=f"aa/{w.images}.jpg",
        original_filename=f"IMG_{w.images:04d}.JPG",
        bytes=1000,
        taken_at_utc=at,
        deployment=getattr(w, dep),
    )
    session.add(row)
    session.flush()
    return row


def sight(session, w, cat, minutes=0.0, *, dep="kp1", timed=True, photos=0, start=T0, **fields):
    at = start + timedelta(minutes=minutes) if timed else None
    sighting = Sighting(
        deployment=getattr(w, dep),
        species=cat.species if cat is not None else w.leopard,
        individual=cat,
        event_start=at,
        event_end=at,
        images=[image(session, w, dep, at) for _ in range(photos)],
        **fields,
    )
    session.add(sighting)
    session.flush()
    return sighting


def listing(session, **kwargs):
    kwargs = {"minutes": 30, "not_seen_months": 12, "today": TODAY, **kwargs}
    return {row.code: row for row in catalogue.entries(session, **kwargs)}


def codes(session, sort, descending=False):
    rows = catalogue.entries(
        session, minutes=30, not_seen_months=12, today=TODAY, sort=sort, descending=descending
    )
    return [row.code for row in rows]


def page(response) -> str:
    """The page's text, as a reader sees it: no tags, single spaces."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


def table(response, table_id=None) -> list[list[str]]:
    text = response.get_data(as_text=True)
    if table_id:
        text = text.split(f'id="{table_id}"', 1)[1]
    body = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def audits(app, action):
    return [row[0] for row in fetch(app, select(AuditLog).where(AuditLog.action == action))]


# --- the list ---------------------------------------------------------------------------------


def test_numbers_per_individual(session, world):
    w = world
    sight(session, w, w.al1, 0)
    sight(session, w, w.al1, 10)  # 10 minutes later at the same station: the same event
    sight(session, w, w.al1, 15, dep="kp2")  # another station: another event
    sight(session, w, w.al1, timed=False)  # a reset clock: a sighting, but in no event
    sight(session, w, None, 5)  # an unidentified leopard counts for nobody
    sight(session, w, w.al2, 24 * 60, dep="kp2")
    sight(session, w, w.al2, 24 * 60 + 45, dep="kp2")  # 45 minutes later: a new event
    rows = listing(session)
    al1, al2, t1 = rows["AL-1"], rows["AL-2"], rows["T-1"]
    assert (al1.sightings, al1.events, al1.stations) == (4, 2, 2)
    assert (al1.first_seen, al1.last_seen) == (T0, T0 + timedelta(minutes=15))
    assert (al1.name, al1.sex, al1.species) == ("Kedrovaya", "unknown", "Amur leopard")
    assert (al2.sightings, al2.events, al2.stations) == (2, 2, 1)
    assert al2.first_seen == T0 + timedelta(days=1)
    assert (t1.sightings, t1.events, t1.stations, t1.first_seen, t1.last_seen) == (
        0,
        0,
        0,
        None,
        None,
    )


def test_the_event_window_is_the_setting(session, world):
    sight(session, world, world.al1, 0)
    sight(session, world, world.al1, 20)
    assert listing(session, minutes=30)["AL-1"].events == 1
    assert listing(session, minutes=15)["AL-1"].events == 2


def test_sorting_by_each_column(session, world):
    w = world
    w.al3 = individuals.create(session, code="al-3", species=w.leopard, name="Amba")
    for minutes in (0, 60, 120):  # three events at one station
        sight(session, w, w.al2, minutes + 24 * 60)
    sight(session, w, w.al3, -60, dep="kp1")
    sight(session, w, w.al3, 0, dep="kp2")
    assert codes(session, "code") == ["AL-1", "AL-2", "al-3", "T-1"]  # case-insensitive
    assert codes(session, "code", descending=True) == ["T-1", "al-3", "AL-2", "AL-1"]
    assert codes(session, "name") == ["al-3", "AL-1", "AL-2", "T-1"]  # unnamed last
    assert codes(session, "first") == ["al-3", "AL-2", "AL-1", "T-1"]  # never seen last...
    assert codes(session, "first", True) == ["AL-2", "al-3", "AL-1", "T-1"]  # ...either way
    assert codes(session, "last", True) == ["AL-2", "al-3", "AL-1", "T-1"]
    assert codes(session, "sightings", True) == ["AL-2", "al-3", "AL-1", "T-1"]
    assert codes(session, "events") == ["AL-1", "T-1", "al-3", "AL-2"]  # ties by code
    assert codes(session, "stations", True) == ["al-3", "AL-2", "AL-1", "T-1"]
    assert codes(session, "nonsense; DROP TABLE individual") == codes(session, "code")


def test_not_seen_flag_is_relative_to_today(session, world):
    sight(session, world, world.al1, 0)  # 2024-05-01
    sight(session, world, world.al2, -400 * 24 * 60)  # about 13 months earlier
    assert listing(session, today=date(2024, 6, 1))["AL-2"].not_seen
    assert not listing(session, today=date(2024, 6, 1))["AL-1"].not_seen
    assert not listing(session, today=date(2024, 6, 1))["T-1"].not_seen  # never seen at all
    assert listing(session, today=date(2025, 5, 2))["AL-1"].not_seen
    assert not listing(session, today=date(2025, 5, 1))["AL-1"].not_seen
    assert not listing(session, today=date(2025, 5, 2), not_seen_months=13)["AL-1"].not_seen


class CountQueries:
    def __init__(self, app):
        self.engine, self.statements = app.extensions["tracker.engine"], []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self.seen)
        return self.statements

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self.seen)

    def seen(self, conn, cursor, statement, *args):
        self.statements.append(statement)


def test_a_few_queries_however_many_sightings(app, session, world):
    """Aggregates in SQL: the query count does not grow with sightings or individuals."""
    for n in range(30):
        cat = individuals.create(session, code=f"AL-{n + 10}", species=world.leopard)
        sight(session, world, cat, n * 45, dep="kp2" if n % 2 else "kp1", photos=2)
        sight(session, world, world.al1, n * 45, photos=1)
    session.commit()
    eventstore.refresh(session)  # the kept events up to date, as after any figure page
    with CountQueries(app) as statements:
        assert len(catalogue.entries(session, minutes=30, not_seen_months=12, today=TODAY)) == 33
    assert len(statements) == 2  # whether any group is marked stale, then the catalogue
    session.expire_all()
    with CountQueries(app) as statements:
        found = profiles.profile(session, world.al1, profiles.summary(session, world.al1.id, 30))
        assert [len(s.images) for s in found.timeline] == [1] * 30
        assert (found.sightings, found.older) == (30, None)
        assert found.timeline[0].deployment.station.code == "KP-01"
    assert len(statements) <= 8


def test_months_before_keeps_to_the_calendar():
    assert catalogue.months_before(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert catalogue.months_before(date(2024, 1, 15), 12) == date(2023, 1, 15)
    assert catalogue.months_before(date(2024, 1, 15), 13) == date(2022, 12, 15)


def test_list_page_shows_numbers_flag_and_escapes(app, session, world, as_role):
    world.al1.name = XSS
    recent = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    sight(session, world, world.al1, 0, start=recent)
    sight(session, world, world.al1, 10, dep="kp2", start=recent)
    sight(session, world, world.al2, start=datetime(2020, 1, 1, tzinfo=UTC))
    session.commit()
    client = as_role("researcher")
    response = client.get("/individuals/")
    assert response.status_code == 200
    rows = table(response)
    assert rows[0] == [
        "AL-1",
        XSS,
        "unknown",
        "Amur leopard",
        recent.strftime("%Y-%m-%d %H:%M"),
        (recent + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M"),
        "2",
        "2",
        "2",
    ]
    assert rows[1][5] == "2020-01-01 00:00 not seen for 12 months"
    assert "not seen" not in rows[0][5] and rows[2][0] == "T-1"
    raw = response.get_data(as_text=True)
    assert XSS not in raw and "&lt;script&gt;" in raw
    assert f'href="/individuals/{world.al1.id}"' in raw

    by_sightings = client.get("/individuals/?sort=sightings&dir=desc")
    assert [r[0] for r in table(by_sightings)] == ["AL-1", "AL-2", "T-1"]
    assert 'aria-sort="descending"' in by_sightings.get_data(as_text=True)
    # The active column's heading flips the direction; unknown keys fall back to the code.
    assert "/individuals/?sort=sightings&amp;dir=asc" in by_sightings.get_data(as_text=True)
    fallback = client.get("/individuals/?sort=id;DROP&dir=sideways")
    assert fallback.status_code == 200
    assert [r[0] for r in table(fallback)] == ["AL-1", "AL-2", "T-1"]


def test_empty_catalogue_says_so(client, as_role):
    as_role("ranger")
    response = client.get("/individuals/")
    assert response.status_code == 200
    assert "No individuals identified yet." in page(response)


# --- one individual ---------------------------------------------------------------------------


def test_detail_shows_history_timeline_stations_and_references(app, session, world, as_role):
    w = world
    first = sight(session, w, w.al1, 0, photos=2, flank="left", life_stage="adult")
    sight(session, w, w.al1, 10)
    last = sight(session, w, w.al1, 60 * 24, dep="kp2", photos=1, flank="right")
    individuals.rename(session, w.al1, code="AL-100", name=XSS, sex="female")
    individuals.set_reference(session, w.al1, first.images[0].id, "left", None)
    session.commit()
    client = as_role("researcher")
    response = client.get(f"/individuals/{w.al1.id}")
    assert response.status_code == 200
    text = page(response)
    raw = response.get_data(as_text=True)
    assert XSS not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    history = raw.split('id="former-codes"', 1)[1].split("</ul>", 1)[0]
    assert "AL-1</strong> · renamed on " in history
    assert "Amur leopard" in text and "female" in text
    assert [r[:4] for r in table(response, "timeline")] == [
        ["2024-05-02 22:00", "KP-02", "right", "—"],
        ["2024-05-01 22:10", "KP-01", "—", "—"],
        ["2024-05-01 22:00", "KP-01", "left", "adult"],
    ]
    assert table(response, "stations") == [
        ["KP-01", "—", "2", "1", "2024-05-01 22:00", "2024-05-01 22:10"],
        ["KP-02", "Ridge", "1", "1", "2024-05-02 22:00", "2024-05-02 22:00"],
    ]
    refs = raw.split('id="references"', 1)[1].split("</ul>", 1)[0]
    left = refs.split('data-flank="left"', 1)[1].split("</li>", 1)[0]
    assert f'src="/images/{first.images[0].id}/thumb"' in left
    assert f'href="/images/{first.images[0].id}"' in left
    assert "none chosen" in refs.split('data-flank="right"', 1)[1].split("</li>", 1)[0]
    for shot in (*first.images, *last.images):  # every photo of the timeline, as a thumbnail
        assert f'src="/images/{shot.id}/thumb"' in raw
    assert 'href="/map?individual=AL-100"' in raw
    # A researcher tags, so may choose reference photos; only admins curate.
    assert f'action="/individuals/{w.al1.id}/reference"' in raw
    assert f'/individuals/{w.al1.id}/edit"' not in raw


def test_timeline_is_paged_newest_first(session, world, as_role, monkeypatch):
    """A page of sightings at a time, with an "older" cursor: however many sightings an animal
    has, a page lists TIMELINE_LIMIT of them; untimed ones come last."""
    monkeypatch.setattr(profiles, "TIMELINE_LIMIT", 2)
    for minutes in (0, 60, 120):
        sight(session, world, world.al1, minutes)
    sight(session, world, world.al1, timed=False)
    session.commit()
    client = as_role("ranger")
    first = client.get(f"/individuals/{world.al1.id}")
    assert [r[0] for r in table(first, "timeline")] == ["2024-05-02 00:00", "2024-05-01 23:00"]
    assert "2 of 4 a page" in page(first)
    older = re.search(r'href="(/individuals/\d+\?before=[^"#]+)', first.get_data(as_text=True))
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert [r[0] for r in table(second, "timeline")] == ["2024-05-01 22:00", "no time yet"]
    assert "?before=" not in second.get_data(as_text=True)  # the last page
    assert f'href="/individuals/{world.al1.id}#timeline"' in second.get_data(as_text=True)
    for junk in ("nonsense", "2024-99-01T00:00:00_1", "none_x", "none_-4"):
        assert table(client.get(f"/individuals/{world.al1.id}?before={junk}"), "timeline")[0][
            0
        ] == ("2024-05-02 00:00")


def test_detail_of_an_unknown_individual_is_404(client, as_role):
    as_role("researcher")
    assert client.get("/individuals/999").status_code == 404


def test_reference_photos_from_real_uploads(app, session, world, as_role):
    """Ingested JPEGs: the reference's thumbnail link really serves an image."""
    limits = sources.ZipLimits()
    items = list(
        sources.file_item(io.BytesIO(jpeg_bytes(T0.replace(tzinfo=None))), "A.JPG", limits)
    )
    report = ingest.ingest(session, items, world.kp1, app.config["MEDIA_DIR"])
    photo = session.get(Image, report.outcomes[0].image_id)
    session.add(Sighting(deployment=world.kp1, species=world.leopard, individual=world.al1,
                         event_start=photo.taken_at_utc, event_end=photo.taken_at_utc,
                         images=[photo]))  # fmt: skip
    session.commit()
    client = as_role("ranger")
    url = f"/individuals/{world.al1.id}/reference"
    token = csrf_token(client, f"/individuals/{world.al1.id}")
    response = client.post(url, data={"csrf_token": token, "image_id": photo.id, "flank": "both"})
    assert response.status_code == 302
    detail = client.get(f"/individuals/{world.al1.id}").get_data(as_text=True)
    both = detail.split('data-flank="both"', 1)[1].split("</li>", 1)[0]
    thumb = re.search(r'src="([^"]+/thumb)"', both).group(1)
    with client.get(thumb) as served:
        assert served.status_code == 200 and served.mimetype == "image/jpeg"


# --- reference photos -------------------------------------------------------------------------


def reference_rows(app, individual_id):
    ref = individual_reference_image
    return sorted(
        (row.image_id, row.flank)
        for row in fetch(app, select(ref).where(ref.c.individual_id == individual_id))
    )


def test_a_reference_replaces_the_previous_one_for_its_flank(app, session, world):
    s = sight(session, world, world.al1, photos=3)
    a, b, c = (i.id for i in s.images)
    individuals.set_reference(session, world.al1, a, "left", None)
    individuals.set_reference(session, world.al1, b, "right", None)
    individuals.set_reference(session, world.al1, c, "left", None)
    individuals.set_reference(session, world.al1, b, "both", None)  # moves b from right to both
    session.commit()
    assert reference_rows(app, world.al1.id) == [(b, "both"), (c, "left")]
    assert {i.id for i in world.al1.reference_images} == {b, c}
    changes = [(e.details["flank"], e.details["before"], e.details["after"])
               for e in audits(app, "set_reference")]  # fmt: skip
    assert changes == [("left", None, a), ("right", None, b), ("left", a, c), ("both", None, b)]


def test_only_its_own_sightings_photos_can_be_references(app, session, world):
    mine = sight(session, world, world.al1, photos=1)
    theirs = sight(session, world, world.al2, photos=1)
    loose = image(session, world)
    session.commit()
    before = row_counts(app)
    for image_id in (theirs.images[0].id, loose.id, 99999):
        with pytest.raises(InvalidInput) as refused:
            individuals.set_reference(session, world.al1, image_id, "left", None)
        assert "not a photo of a sighting of AL-1" in str(refused.value)
    with pytest.raises(InvalidInput):
        individuals.set_reference(session, world.al1, mine.images[0].id, "top", None)
    session.commit()
    assert row_counts(app) == before


def test_reference_form_refuses_another_animals_photo(app, session, world, as_role):
    theirs = sight(session, world, world.al2, photos=1)
    session.commit()
    client = as_role("ranger")
    before = row_counts(app)
    token = csrf_token(client, f"/individuals/{world.al1.id}")
    response = client.post(
        f"/individuals/{world.al1.id}/reference",
        data={"csrf_token": token, "image_id": theirs.images[0].id, "flank": "left"},
    )
    assert response.status_code == 400
    assert "not a photo of a sighting of AL-1" in page(response)
    for huge in ("99999999999", "-1", "x"):
        response = client.post(
            f"/individuals/{world.al1.id}/reference",
            data={"csrf_token": token, "image_id": huge, "flank": "left"},
        )
        assert response.status_code == 400
    bad_flank = client.post(
        f"/individuals/{world.al1.id}/reference",
        data={"csrf_token": token, "image_id": theirs.images[0].id, "flank": "top"},
    )
    assert bad_flank.status_code == 400
    assert row_counts(app) == before


# --- rename -----------------------------------------------------------------------------------


def test_rename_keeps_the_old_code_as_history(app, session, world):
    cat = world.al1
    individuals.rename(session, cat, code="AL-12", name="Kedrovaya", sex="female", notes="n")
    session.commit()
    assert cat.code == "AL-12"
    assert individuals.find(session, "AL-1") is cat
    assert individuals.find(session, "al-1") is cat
    assert individuals.find(session, "AL-12") is cat
    assert [(c.code, c.reason) for c in cat.former_codes] == [("AL-1", "rename")]
    (entry,) = audits(app, "rename")
    assert entry.entity == "individual" and entry.entity_id == str(cat.id)
    assert entry.details == {
        "before": {"code": "AL-1", "sex": "unknown", "notes": ""},
        "after": {"code": "AL-12", "sex": "female", "notes": "n"},
    }
    # The old code can name no new animal, nor another's rename.
    assert individuals.check_new_code(session, "AL-1") is not None
    with pytest.raises(InvalidInput):
        individuals.rename(session, world.al2, code="AL-1", name="", sex="male")
    # Its own former code may come back; the history keeps both steps.
    individuals.rename(session, cat, code="AL-1", name="Kedrovaya", sex="female", notes="n")
    session.commit()
    assert [c.code for c in cat.former_codes] == ["AL-1", "AL-12"]
    assert individuals.find(session, "AL-12") is cat


def test_editing_without_a_new_code_is_an_update(app, session, world):
    individuals.rename(session, world.al1, code="AL-1", name="Kedrovaya", sex="female")
    individuals.rename(session, world.al1, code="AL-1", name="Kedrovaya", sex="female")
    session.commit()
    assert world.al1.former_codes == []
    (entry,) = audits(app, "update")
    assert entry.details == {"before": {"sex": "unknown"}, "after": {"sex": "female"}}
    assert audits(app, "rename") == []


def test_rename_page(app, session, world, as_role):
    client = as_role("admin")
    url = f"/individuals/{world.al1.id}/edit"
    token = csrf_token(client, url)
    data = {"csrf_token": token, "code": "AL-12", "name": "Kedrovaya", "sex": "female", "notes": ""}
    response = client.post(url, data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/individuals/{world.al1.id}"
    detail = page(client.get(f"/individuals/{world.al1.id}"))
    assert "AL-1 renamed to AL-12" in detail
    assert "AL-1 · renamed on" in detail
    before = row_counts(app)
    for bad, message in (
        ({"code": "AL-2"}, "already used"),
        ({"code": "AL 2"}, "letters, digits or hyphens"),
        ({"code": ""}, "This field is required."),
        ({"sex": "tomcat"}, "Not a valid choice"),
        ({"name": "n" * 121}, "cannot be longer than 120"),
    ):
        response = client.post(url, data={**data, **bad})
        assert response.status_code == 400, bad
        assert message in page(response)
    assert row_counts(app) == before


# --- merge ------------------------------------------------------------------------------------


def test_merge_moves_everything_and_keeps_both_codes(app, session, world):
    w = world
    keep, absorb = w.al1, w.al2
    kept = sight(session, w, keep, 0, photos=2)
    moved = [sight(session, w, absorb, m, dep="kp2", photos=1) for m in (60, 120)]
    moved.append(sight(session, w, absorb, timed=False))
    individuals.set_reference(session, keep, kept.images[0].id, "left", None)
    individuals.set_reference(session, absorb, moved[0].images[0].id, "left", None)
    individuals.set_reference(session, absorb, moved[1].images[0].id, "right", None)
    individuals.rename(session, absorb, code="AL-2b", name="", sex="male", notes="scar on ear")
    session.commit()
    absorbed_id = absorb.id

    plan = individuals.merge(session, keep, absorb, None)
    session.commit()
    assert (plan.sightings, plan.references, plan.codes) == (3, 2, ["AL-2b", "AL-2"])
    assert session.get(Individual, absorbed_id) is None
    owners = fetch(app, select(Sighting.id, Sighting.individual_id))
    assert {owner for _, owner in owners} == {keep.id}
    assert len(owners) == 4
    # Both of the absorbed one's flank photos move; its left one yields to the kept one's left.
    first, second = (s.images[0].id for s in moved[:2])
    assert reference_rows(app, keep.id) == sorted(
        [(kept.images[0].id, "left"), (first, None), (second, "right")]
    )
    assert reference_rows(app, absorbed_id) == []
    history = fetch(app, select(IndividualCode.code, IndividualCode.reason,
                                IndividualCode.individual_id))  # fmt: skip
    assert sorted(history) == [("AL-2", "merge", keep.id), ("AL-2b", "merge", keep.id)]
    assert individuals.find(session, "AL-2b") is keep
    assert individuals.find(session, "AL-2") is keep
    assert (keep.sex, keep.notes) == ("male", "From AL-2b: scar on ear")
    (entry,) = audits(app, "merge")
    assert entry.entity_id == str(keep.id)
    assert entry.details["kept"] == "AL-1"
    assert entry.details["absorbed"]["code"] == "AL-2b"
    assert entry.details["absorbed"]["id"] == absorbed_id
    assert entry.details["sightings_moved"] == 3
    assert entry.details["former_codes_moved"] == ["AL-2b", "AL-2"]
    # The catalogue counts the merged animal as one.
    al1 = listing(session)["AL-1"]
    assert (al1.sightings, al1.events, al1.stations) == (4, 3, 2)
    assert "AL-2b" not in listing(session)


def test_refused_merges_write_nothing(app, session, world):
    sight(session, world, world.al2, photos=1)
    session.commit()
    before = row_counts(app)
    with pytest.raises(InvalidInput, match="cannot be merged with itself"):
        individuals.merge(session, world.al1, world.al1, None)
    with pytest.raises(InvalidInput, match="only individuals of one species"):
        individuals.merge(session, world.t1, world.al2, None)
    session.commit()
    assert row_counts(app) == before


def test_merge_page_reviews_then_merges(app, session, world, as_role):
    sight(session, world, world.al2, 0, photos=1)
    sight(session, world, world.al2, 90)
    session.commit()
    client = as_role("admin")
    url = f"/individuals/{world.al1.id}/merge"
    form = client.get(url)
    assert form.status_code == 200
    choices = form.get_data(as_text=True)
    assert "AL-2 (2 sightings)" in choices and "T-1" not in choices  # one species only
    token = csrf_token(client, url)
    before = row_counts(app)
    # Step 1: keep the other one (AL-2) and fold this one (AL-1) into it: a review, no change.
    review = client.post(url, data={"csrf_token": token, "other": world.al2.id, "keep": "other"})
    assert review.status_code == 200
    text = page(review)
    assert "Keep AL-2 and fold AL-1 (Kedrovaya) into it" in text
    assert "0 sightings and 0 reference photos move to AL-2" in text
    assert 'name="confirm" value="yes"' in review.get_data(as_text=True)
    assert row_counts(app) == before
    # Step 2: confirmed.
    done = client.post(
        url, data={"csrf_token": token, "other": world.al2.id, "keep": "other", "confirm": "yes"}
    )
    assert done.status_code == 302
    assert done.headers["Location"] == f"/individuals/{world.al2.id}"
    assert fetch(app, select(Individual.code).order_by(Individual.code)) == [("AL-2",), ("T-1",)]
    detail = page(client.get(done.headers["Location"]))
    assert "AL-1 merged into AL-2: 0 sightings moved." in detail
    assert "AL-1 · merged in on" in detail
    assert len(audits(app, "merge")) == 1


def test_merge_page_refuses_itself_and_another_species(app, session, world, as_role):
    client = as_role("admin")
    url = f"/individuals/{world.al1.id}/merge"
    token = csrf_token(client, url)
    before = row_counts(app)
    for other, message in (
        (world.al1.id, "AL-1 cannot be merged with itself."),
        (world.t1.id, "only individuals of one species can be merged"),
        (99999, "Choose an individual from the list."),
        ("", "Choose an individual from the list."),
        ("AL-2", "Choose an individual from the list."),
        ("99999999999999999999", "Choose an individual from the list."),
    ):
        for confirm in ("", "yes"):
            response = client.post(
                url, data={"csrf_token": token, "other": other, "keep": "this", "confirm": confirm}
            )
            assert response.status_code == 400, (other, confirm)
            assert message in page(response), page(response)
    assert row_counts(app) == before


# --- who may do what --------------------------------------------------------------------------


def test_permissions(app, session, world, client, users, as_role):
    """Everyone signed in views; taggers choose reference photos; only admins curate."""
    shot = sight(session, world, world.al1, photos=1).images[0].id
    session.commit()
    detail = f"/individuals/{world.al1.id}"
    curate = (f"{detail}/edit", f"{detail}/merge")
    reference = {"image_id": shot, "flank": "left"}
    token = csrf_token(client, "/login")
    for path in ("/individuals/", detail, *curate):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    for path in (f"{detail}/reference", *curate):
        response = client.post(path, data={"csrf_token": token, **reference})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    for role in ("ranger", "researcher"):
        as_role(role)
        assert client.get("/individuals/").status_code == 200
        assert client.get(detail).status_code == 200
        token = csrf_token(client, detail)
        before = row_counts(app)
        for path in curate:
            assert client.get(path).status_code == 403
            refused = client.post(path, data={"csrf_token": token, "code": "X-1", "other": "2"})
            assert refused.status_code == 403
        assert row_counts(app) == before
        chosen = client.post(f"{detail}/reference", data={"csrf_token": token, **reference})
        assert chosen.status_code == 302
        client.post("/logout", data={"csrf_token": token})
    as_role("admin")
    for path in curate:
        assert client.get(path).status_code == 200
