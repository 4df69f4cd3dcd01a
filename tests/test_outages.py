"""Days a deployed camera was not working: recording them, and what effort, capture histories and
Camtrap DP make of them.

The example: station KP-01 with a camera from 1 to 11 May 2024 whose card was full from 3 May
until it was serviced on 5 May (the nights of 3 and 4 May lost), and a second camera there from
4 to 6 May that covers the night of 4 May; a third camera there since 12 May, whose card came in
"today", 21 May 2024.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import csrf_token, row_counts
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from test_camtrapdp import validate

from tracker import fieldwork, outages
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.exports import effort, formats
from tracker.exports.core import Filters, Options
from tracker.models import LEOPARD, AuditLog, DeploymentOutage, Individual, Sighting, Species

TZ = ZoneInfo("Asia/Vladivostok")
TODAY = date(2024, 5, 21)
NOW = datetime(2024, 5, 21, 3, tzinfo=UTC)  # noon in Vladivostok


def d(day: int, month: int = 5) -> date:
    return date(2024, month, day)


# --- working periods: the arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        ([], [(d(1), d(11))]),
        ([(d(3), d(5))], [(d(1), d(3)), (d(5), d(11))]),
        ([(d(3), None)], [(d(1), d(3))]),  # never worked again
        ([(d(1), d(2))], [(d(2), d(11))]),  # from the first day
        ([(d(9), d(11))], [(d(1), d(9))]),  # to the last night
        ([(d(3), d(5)), (d(4), d(7))], [(d(1), d(3)), (d(7), d(11))]),  # overlapping
        ([(d(6), d(8)), (d(2), d(3))], [(d(1), d(2)), (d(3), d(6)), (d(8), d(11))]),  # unsorted
        ([(d(20, 4), d(2)), (d(10), d(30))], [(d(2), d(10))]),  # reaching outside
        ([(d(1), None)], []),
    ],
)
def test_working_periods(gaps, expected):
    assert outages.working_periods(d(1), d(11), gaps) == expected


def test_union_days_counts_overlaps_once():
    assert outages.union_days([(d(1), d(3)), (d(5), d(11)), (d(4), d(6))]) == 9
    assert outages.union_days([]) == 0


# --- recording them ------------------------------------------------------------------------------


@pytest.fixture
def park(session):
    kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.10512, longitude=131.40377)
    first = fieldwork.create_deployment(session, kp1, fieldwork.DeploymentInput(d(1), d(11)))
    second = fieldwork.create_deployment(session, kp1, fieldwork.DeploymentInput(d(4), d(6)))
    running = fieldwork.create_deployment(session, kp1, fieldwork.DeploymentInput(d(12)))
    # The running camera's card came in this morning: its data reaches today.
    deer = session.scalar(select(Species).where(Species.common_name == "Sika deer"))
    morning = datetime(2024, 5, 21, 8, 0, tzinfo=TZ)
    session.add(Sighting(deployment=running, species=deer, event_start=morning, event_end=morning))
    session.commit()
    return {"kp1": kp1, "first": first, "second": second, "running": running}


def test_record_and_remove_an_outage(session, park):
    first = park["first"]
    outage = outages.add_outage(session, first, d(3), d(5), "  card full ", today=TODAY)
    session.commit()
    assert (outage.start_date, outage.end_date, outage.reason) == (d(3), d(5), "card full")
    assert first.outages == [outage]
    [entry] = session.scalars(select(AuditLog).where(AuditLog.entity == "deployment_outage"))
    assert (entry.action, entry.details) == (
        "create", {"deployment": first.id, "start": "2024-05-03", "end": "2024-05-05",
                   "reason": "card full"},
    )  # fmt: skip
    outages.remove_outage(session, outage)
    session.commit()
    assert session.scalar(select(func.count(DeploymentOutage.id))) == 0
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.entity == "deployment_outage").order_by(AuditLog.id)
    )
    assert list(actions) == ["create", "delete"]


@pytest.mark.parametrize(
    ("which", "start", "end", "reason", "field", "message"),
    [
        ("first", None, None, "", "start_date", "Enter the day the camera stopped"),
        ("first", d(30, 4), d(3), "", "start_date", "The deployment started on 2024-05-01"),
        ("first", d(12), None, "", "start_date", "taken down on 2024-05-11: no day left"),
        ("first", d(3), d(3), "", "end_date", "works again on a later day"),
        ("first", d(3), d(2), "", "end_date", "works again on a later day"),
        ("first", d(3), d(12), "", "end_date", "leave the end empty"),
        ("first", d(3), d(5), "x" * 201, "reason", "at most 200"),
        ("running", d(22), None, "", "start_date", "has not come yet"),
        ("first", d(4), d(6), "", "start_date", "overlaps the outage recorded from 2024-05-02"),
        ("first", d(1), None, "", "start_date", "overlaps the outage recorded from 2024-05-02"),
    ],
)
def test_bad_outages_are_refused_and_write_nothing(
    session, park, which, start, end, reason, field, message
):
    outages.add_outage(session, park["first"], d(2), d(5), today=TODAY)
    session.commit()
    before = session.scalar(select(func.count(AuditLog.id)))
    with pytest.raises(InvalidInput) as refused:
        outages.add_outage(session, park[which], start, end, reason, today=TODAY)
    assert message in refused.value.errors[field]
    session.rollback()
    assert session.scalar(select(func.count(DeploymentOutage.id))) == 1
    assert session.scalar(select(func.count(AuditLog.id))) == before


def test_the_database_refuses_an_outage_ending_before_it_starts(session, park):
    session.add(DeploymentOutage(deployment=park["first"], start_date=d(5), end_date=d(3)))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


# --- what they change ----------------------------------------------------------------------------


def test_effort_leaves_the_outage_out_unless_another_camera_covers_it(session, park):
    outages.add_outage(session, park["first"], d(3), d(5), "card full", today=TODAY)
    session.commit()
    found = effort.effort(session, Filters(), Options(now=NOW), today=TODAY)
    [kp1] = found.stations
    first, second, running = kp1.deployments
    # Camera-days: 1 to 11 May is 11 days, both ends included, less 3 and 4 May.
    assert (first.trap_nights, first.outage_nights) == (9, 2)
    assert (second.trap_nights, second.outage_nights) == (3, 0)  # 4 to 6 May
    assert (running.trap_nights, running.outage_nights) == (10, 0)  # 12 to 21 May
    # Days 1, 2, 4 (the second camera), 5 to 11, then 12 to 21: one day (3) had none.
    assert kp1.trap_nights == 2 + 1 + 7 + 10


def test_effort_of_an_outage_without_an_end_and_in_a_date_range(session, park):
    outages.add_outage(session, park["running"], d(15), None, "stolen", today=TODAY)
    outages.add_outage(session, park["first"], d(8), None, today=TODAY)
    session.commit()
    found = effort.effort(session, Filters(), Options(now=NOW), today=TODAY)
    first, _, running = found.stations[0].deployments
    assert (first.trap_nights, running.trap_nights, running.outage_nights) == (7, 3, 7)
    clipped = Filters.parse(session, date_from="2024-05-07", date_to="2024-05-16")
    first, running = (
        effort.effort(session, clipped, Options(now=NOW), today=TODAY).stations[0].deployments
    )
    assert (first.trap_nights, first.outage_nights) == (1, 4)  # days 7 | 8, 9, 10, 11
    assert (running.trap_nights, running.outage_nights) == (3, 2)  # 12, 13, 14 | 15, 16


def test_effort_csv_has_the_outage_nights(session, park, monkeypatch):
    outages.add_outage(session, park["first"], d(3), d(5), today=TODAY)
    session.commit()
    buffer = io.BytesIO()
    formats.run_export(session, "effort", Filters(), buffer, Options(now=NOW))
    lines = buffer.getvalue().decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    first = next(r for r in rows if r["deploymentID"] == str(park["first"].id))
    assert (first["trapNights"], first["outageNights"]) == ("9", "2")


def test_capture_history_usage_leaves_the_outage_out(session, park):
    """KP-01's two first cameras, 1 to 11 May, days inclusive: the full card kept the first
    from 3 and 4 May, and the second covered 4 to 6 May; nothing covered 3 May."""
    outages.add_outage(session, park["first"], d(3), d(5), today=TODAY)
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    cat = Individual(code="AL-01", sex="female", species=leopard)
    for day in (2, 3):  # 3 May: the camera said it was not working, yet here is a sighting
        start = datetime(2024, 5, day, 22, 0, tzinfo=TZ)
        session.add(
            Sighting(deployment=park["first"], species=leopard, individual=cat,
                     event_start=start, event_end=start + timedelta(seconds=10))
        )  # fmt: skip
    session.commit()
    buffer = io.BytesIO()
    filters = Filters.parse(session, date_from="2024-05-01", date_to="2024-05-11")
    formats.run_export(session, "secr", filters, buffer, Options(now=NOW))
    with zipfile.ZipFile(buffer) as archive:
        traps = archive.read("traps.txt").decode()
        captures = archive.read("captures.txt").decode()
        readme = archive.read("README.txt").decode()
    # 3 May, when no camera worked, is no occasion at all (secr refuses one): 10 occasions.
    assert "KP-01" in traps and "".join(traps.split()[-10:]) == "1111111111"
    assert "no detector worked then (secr refuses such occasions): 2024-05-03;" in readme
    assert [line for line in captures.splitlines() if not line.startswith("#")] == [
        "survey AL-01 2 KP-01 F"
    ]
    assert "1 detection(s) fell on a day their station had no working camera" in readme


def test_camtrap_dp_comments_name_the_outages(session, park, tmp_path):
    outages.add_outage(session, park["first"], d(3), d(5), "batteries flat", today=TODAY)
    outages.add_outage(session, park["second"], d(5), None, today=TODAY)
    session.commit()
    for public in (False, True):
        buffer = io.BytesIO()
        formats.run_export(
            session,
            "camtrap-dp",
            Filters(),
            buffer,
            Options(public=public, now=NOW, base_url="https://tracker.park.test"),
        )
        with zipfile.ZipFile(buffer) as archive:
            text = archive.read("deployments.csv").decode("utf-8")
        assert "Camera not working from 2024-05-05 until it was taken down." in text
        if public:
            assert "Camera not working from 2024-05-03 to 2024-05-05." in text
            assert "batteries flat" not in text
        else:
            assert "Camera not working from 2024-05-03 to 2024-05-05 (batteries flat)." in text


# --- the page and the command --------------------------------------------------------------------


def test_a_ranger_records_and_removes_an_outage_on_the_page(app, as_role, park):
    ranger = as_role("ranger")
    deployment = park["first"].id
    page = ranger.get(f"/deployments/{deployment}")
    assert b"None recorded" in page.data and b"Record days it was not working" in page.data
    form = f"/deployments/{deployment}/outages/new"
    assert b"Stopped working on" in ranger.get(form).data
    token = csrf_token(ranger, form)
    done = ranger.post(
        form,
        data={"start_date": "2024-05-03", "end_date": "2024-05-05", "reason": "card full",
              "csrf_token": token},
        follow_redirects=True,
    )  # fmt: skip
    text = done.get_data(as_text=True)
    assert "Camera recorded as not working from 2024-05-03 to 2024-05-05." in text
    assert "card full" in text and "None recorded" not in text
    with app.app_context():
        [outage] = get_session().scalars(select(DeploymentOutage))
        outage_id = outage.id
    gone = ranger.post(
        f"/deployments/{deployment}/outages/{outage_id}/delete",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert b"Outage removed" in gone.data and b"None recorded" in gone.data


def test_the_page_refuses_bad_dates_with_reasons_and_writes_nothing(app, as_role, park):
    ranger = as_role("ranger")
    form = f"/deployments/{park['first'].id}/outages/new"
    token = csrf_token(ranger, form)
    before = row_counts(app)
    refused = ranger.post(
        form, data={"start_date": "2024-05-07", "end_date": "2024-05-04", "csrf_token": token}
    )
    assert refused.status_code == 400
    assert b"The camera works again on a later day than it stopped." in refused.data
    assert row_counts(app) == before


def test_remove_checks_the_outage_belongs_to_the_deployment(app, as_role, park, session):
    outage = outages.add_outage(session, park["first"], d(3), d(5), today=TODAY)
    session.commit()
    admin = as_role("admin")
    token = csrf_token(admin, "/")
    wrong = admin.post(
        f"/deployments/{park['second'].id}/outages/{outage.id}/delete", data={"csrf_token": token}
    )
    assert wrong.status_code == 404
    assert session.scalar(select(func.count(DeploymentOutage.id))) == 1


def test_photos_inside_an_outage_are_pointed_out(app, as_role, park, session):
    from tracker import ingest, sources
    from tracker.synthetic import jpeg_bytes

    outages.add_outage(session, park["first"], d(3), d(5), today=TODAY)
    session.commit()
    photos = [
        sources.Item("IMG_0001.JPG", jpeg_bytes(datetime(2024, 5, 3, 23, 0), seed=1)),
        sources.Item("IMG_0002.JPG", jpeg_bytes(datetime(2024, 5, 5, 1, 0), seed=2)),
    ]
    ingest.ingest(session, photos, park["first"], app.config["MEDIA_DIR"])
    page = as_role("researcher").get(f"/deployments/{park['first'].id}")
    assert b"1 photo</span>" in page.data  # 3 May 23:00 falls in it; 5 May does not
    assert b"Record days it was not working" not in page.data  # researchers do not record


def test_cli_records_an_outage(runner, park, session):
    deployment = park["first"].id
    done = runner.invoke(
        args=["deployment", "outage", str(deployment), "--from", "2024-05-03", "--to",
              "2024-05-05", "--reason", "card full"]
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    outage = session.get(DeploymentOutage, int(done.output.strip()))
    assert (outage.deployment_id, outage.start_date, outage.reason) == (
        deployment,
        d(3),
        "card full",
    )
    bad = runner.invoke(args=["deployment", "outage", str(deployment), "--from", "2024-04-01"])
    assert bad.exit_code == 2
    assert "start_date: The deployment started on 2024-05-01" in bad.output
    missing = runner.invoke(args=["deployment", "outage", "999", "--from", "2024-05-03"])
    assert missing.exit_code == 2 and "No deployment with id 999" in missing.output


def _package(session, tmp_path) -> dict:
    buffer = io.BytesIO()
    options = Options(now=NOW, base_url="https://tracker.park.test")
    formats.run_export(session, "camtrap-dp", Filters(), buffer, options)
    folder = tmp_path / f"package{len(list(tmp_path.glob('package*')))}"
    with zipfile.ZipFile(buffer) as archive:
        archive.extractall(folder)
    read = {}
    for name in ("deployments", "observations"):
        with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            read[name] = list(csv.DictReader(fh))
    read["description"] = json.loads((folder / "datapackage.json").read_text())["description"]
    read["folder"] = folder
    return read


def _leopard_at(session, *visits):
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    cat = Individual(code="AL-01", sex="female", species=leopard)
    for deployment, moment in visits:
        session.add(Sighting(deployment=deployment, species=leopard, individual=cat,
                             event_start=moment, event_end=moment))  # fmt: skip
    session.commit()


def test_camtrap_dp_splits_a_deployment_around_its_outages(session, park, tmp_path):
    outages.add_outage(session, park["first"], d(3), d(5), "batteries flat", today=TODAY)
    _leopard_at(session, *((park["first"], datetime(2024, 5, n, 22, tzinfo=TZ)) for n in (2, 3, 6)))
    found = _package(session, tmp_path)
    first = park["first"].id
    parts = [r for r in found["deployments"] if r["deploymentID"].startswith(f"D{first}-")]
    assert [(r["deploymentID"], r["deploymentStart"], r["deploymentEnd"]) for r in parts] == [
        (f"D{first}-1", "2024-05-01T00:00:00+10:00", "2024-05-02T23:59:59+10:00"),
        (f"D{first}-2", "2024-05-05T00:00:00+10:00", "2024-05-11T23:59:59+10:00"),
    ]
    assert parts[0]["deploymentComments"].startswith(f"Part 1 of 2 of deployment {first}")
    assert "(batteries flat)" in parts[1]["deploymentComments"]
    events_rows = [r for r in found["observations"] if r["observationLevel"] == "event"
                   and r["scientificName"] == LEOPARD]  # fmt: skip
    assert [(r["deploymentID"], r["eventStart"][:10]) for r in events_rows] == [
        (f"D{first}-1", "2024-05-02"),
        (f"D{first}-2", "2024-05-06"),
    ]  # 3 May, in the outage, is left out and said
    assert "1 independent event" in found["description"]
    validate(found["folder"])


def test_camtrap_dp_event_ends_inside_its_deployment_at_a_camera_swap(session, park, tmp_path):
    # The first camera came down on 11 May, the running one went up on the 12th: one visit
    # at midnight is one event, begun on the first deployment.
    _leopard_at(
        session,
        (park["first"], datetime(2024, 5, 11, 23, 50, tzinfo=TZ)),
        (park["running"], datetime(2024, 5, 12, 0, 10, tzinfo=TZ)),
    )
    found = _package(session, tmp_path)
    (event,) = [r for r in found["observations"] if r["observationLevel"] == "event"
                and r["scientificName"] == LEOPARD]  # fmt: skip
    assert event["deploymentID"] == f"D{park['first'].id}"
    assert (event["eventStart"], event["eventEnd"]) == (
        "2024-05-11T23:50:00+10:00", "2024-05-11T23:59:59+10:00"
    )  # fmt: skip
    validate(found["folder"])
