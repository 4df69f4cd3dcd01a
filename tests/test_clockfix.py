"""Camera clocks: corrections recompute every time from what the camera wrote; the report finds
what a correction can explain. Real database, real generated JPEGs."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import csrf_token, fetch, row_counts
from sqlalchemy import select

from tracker import clockfix, clockoffsets, fieldwork, ingest, sources, timestamps
from tracker.errors import InvalidInput
from tracker.models import LEOPARD, AuditLog, Deployment, Image, Sighting, Species
from tracker.synthetic import jpeg_bytes

_seeds = itertools.count(1)
HOUR = 3600
DAY = 86400
# The day the timestamp reports are read on: after every test deployment here.
TODAY = date(2024, 12, 1)
# A clock set to PM instead of AM: the set-up and take-down photos show night-time hours.
AM_PM = [
    ("IMG_0001.JPG", datetime(2024, 1, 1, 21, 10)),  # set-up at 09:10, the clock set to PM
    ("IMG_0002.JPG", datetime(2024, 2, 10, 15, 0)),  # a leopard at 03:00
    ("IMG_0003.JPG", datetime(2024, 3, 5, 2, 30)),  # a deer at 14:30
    ("IMG_0004.JPG", datetime(2024, 6, 30, 22, 30)),  # take-down at 10:30
]


def make_deployment(session, code="KP-01", start=date(2024, 1, 1), end=date(2024, 6, 30)):
    station = fieldwork.create_station(session, code=code, latitude=43.1, longitude=131.5)
    deployment = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=start, end_date=end)
    )
    session.commit()
    return deployment


@pytest.fixture
def deployment(session):
    return make_deployment(session)


def add_images(app, session, deployment, photos) -> dict[str, int]:
    """Ingest (name, camera time[, utc_offset]) photos; returns image id by file name."""
    items = []
    for name, taken, *offset in photos:
        data = jpeg_bytes(taken, seed=next(_seeds), utc_offset=offset[0] if offset else None)
        items.append(sources.Item(name, data))
    report = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    assert report.count("added") == len(photos), report.outcomes
    return {o.name: o.image_id for o in report.outcomes}


def add_sighting(session, deployment, image_ids, kind_name=LEOPARD) -> int:
    species = session.scalar(select(Species).where(Species.scientific_name == kind_name))
    images = [session.get(Image, i) for i in image_ids]
    times = [i.taken_at_utc for i in images if i.taken_at_utc is not None]
    sighting = Sighting(
        species_id=species.id,
        deployment_id=deployment.id,
        event_start=min(times) if times else None,
        event_end=max(times) if times else None,
        images=images,
    )
    session.add(sighting)
    session.commit()
    return sighting.id


def image_state(app) -> dict[str, tuple]:
    rows = fetch(
        app,
        select(
            Image.original_filename, Image.taken_at_raw, Image.taken_at_utc, Image.timestamp_issue
        ),
    )
    return {name: (raw, utc, issue) for name, raw, utc, issue in rows}


def audit_rows(app) -> list[AuditLog]:
    return [
        row[0]
        for row in fetch(
            app, select(AuditLog).where(AuditLog.action == "clock-correction").order_by(AuditLog.id)
        )
    ]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- offsets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5400", 5400),
        ("-300", -300),
        ("+01:30:00", 5400),
        ("-00:05:00", -300),
        ("+1:30", 5400),
        ("\u221200:00:07", -7),
        (" +12:00:00 ", 43200),
        ("+438000:00:00", 438000 * 3600),
    ],
)
def test_parse_offset(text, seconds):
    assert clockoffsets.parse_offset(text) == seconds
    assert clockoffsets.parse_offset(clockoffsets.format_offset(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1.5", "+01:60:00", "01:00:61", "+1h", "99999999999"])
def test_parse_offset_refuses_what_is_not_an_offset(text):
    with pytest.raises(InvalidInput) as refused:
        clockoffsets.parse_offset(text)
    assert set(refused.value.errors) == {"offset"}


def test_format_offset():
    assert clockoffsets.format_offset(0) == "+00:00:00"
    assert clockoffsets.format_offset(-300) == "-00:05:00"
    assert clockoffsets.format_offset(5430) == "+01:30:30"


# --- a fixed offset ------------------------------------------------------------------------------


def test_fixed_offset_recomputes_images_sightings_and_audits(app, session, deployment, users):
    ids = add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2024, 1, 1, 10, 0)),  # first morning: inside
            ("IMG_0002.JPG", datetime(2024, 6, 30, 20, 0)),  # last evening: inside
            ("IMG_0003.JPG", datetime(2024, 7, 1, 1, 0)),  # after the end: outside
            ("IMG_0004.JPG", "0000:00:00 00:00:00"),  # no usable time
        ],
    )
    both = add_sighting(session, deployment, [ids["IMG_0001.JPG"], ids["IMG_0002.JPG"]])
    late = add_sighting(session, deployment, [ids["IMG_0003.JPG"]])
    timeless = add_sighting(session, deployment, [ids["IMG_0004.JPG"]])
    before = image_state(app)
    assert before["IMG_0003.JPG"][2] == "capture time outside the deployment period"
    assert before["IMG_0001.JPG"][2] is None

    change = clockfix.set_clock_offset(
        session, deployment, -11 * HOUR, users["admin"], reason="ran 11 h fast"
    )
    session.commit()

    after = image_state(app)
    # What the camera wrote never changes.
    assert {n: s[0] for n, s in after.items()} == {n: s[0] for n, s in before.items()}
    # Vladivostok is UTC+10: 2024-01-01 10:00 local - 11 h = 2023-12-31 23:00 local.
    assert after["IMG_0001.JPG"][1:] == (
        utc(2023, 12, 31, 13, 0),
        "capture time outside the deployment period",
    )
    assert after["IMG_0002.JPG"][1:] == (utc(2024, 6, 29, 23, 0), None)
    assert after["IMG_0003.JPG"][1:] == (utc(2024, 6, 30, 4, 0), None)
    assert after["IMG_0004.JPG"] == before["IMG_0004.JPG"]
    assert (change.offset_before, change.offset_after) == (0, -11 * HOUR)
    assert change.images_changed == 3
    assert change.sightings_changed == 2

    events = dict(
        (row[0], row[1:])
        for row in fetch(app, select(Sighting.id, Sighting.event_start, Sighting.event_end))
    )
    assert events[both] == (utc(2023, 12, 31, 13, 0), utc(2024, 6, 29, 23, 0))
    assert events[late] == (utc(2024, 6, 30, 4, 0), utc(2024, 6, 30, 4, 0))
    assert events[timeless] == (None, None)
    assert fetch(app, select(Deployment.clock_offset_s))[0][0] == -11 * HOUR

    (entry,) = audit_rows(app)
    assert entry.entity == "deployment" and entry.entity_id == str(deployment.id)
    assert entry.user_id == users["admin"].id
    assert entry.details["before_s"] == 0 and entry.details["after_s"] == -39600
    assert entry.details["before"] == "+00:00:00" and entry.details["after"] == "-11:00:00"
    assert entry.details["via"] == {"method": "fixed"}
    assert entry.details["reason"] == "ran 11 h fast"
    assert entry.details["images_changed"] == 3
    assert entry.details["sightings_changed"] == 2

    # Back to zero: everything is as ingest computed it.
    clockfix.set_clock_offset(session, deployment, 0, users["admin"])
    session.commit()
    assert image_state(app) == before
    assert fetch(app, select(Sighting.event_start).where(Sighting.id == late))[0][0] == utc(
        2024, 6, 30, 15, 0
    )
    assert len(audit_rows(app)) == 2


def test_loaded_objects_show_the_new_times(app, session, deployment):
    ids = add_images(app, session, deployment, [("a.jpg", datetime(2024, 3, 1, 12, 0))])
    image = session.get(Image, ids["a.jpg"])
    assert image.taken_at_utc == utc(2024, 3, 1, 2, 0)
    clockfix.set_clock_offset(session, deployment, 60)
    assert image.taken_at_utc == utc(2024, 3, 1, 2, 1)
    assert image.taken_at_raw == "2024:03:01 12:00:00"


def test_recompute_after_the_dates_change(app, session, deployment):
    ids = add_images(
        app,
        session,
        deployment,
        [("a.jpg", datetime(2024, 6, 30, 12, 0)), ("b.jpg", datetime(2024, 7, 3, 12, 0))],
    )
    sighting = add_sighting(session, deployment, list(ids.values()))
    assert image_state(app)["b.jpg"][2] == "capture time outside the deployment period"
    data = fieldwork.DeploymentInput(start_date=date(2024, 1, 1), end_date=date(2024, 7, 31))
    fieldwork.update_deployment(session, deployment, data)  # recomputes on its own
    session.commit()
    assert image_state(app)["b.jpg"][2] is None
    assert fetch(app, select(Sighting.event_end).where(Sighting.id == sighting)) == [
        (utc(2024, 7, 3, 2, 0),)
    ]
    assert clockfix.recompute_times(session, deployment) == (0, 0)


def test_same_offset_is_refused(session, deployment):
    with pytest.raises(InvalidInput, match="already"):
        clockfix.set_clock_offset(session, deployment, 0)


def test_offset_over_sixty_years_is_refused(app, session, deployment):
    with pytest.raises(InvalidInput, match="60 years"):
        clockfix.set_clock_offset(session, deployment, 61 * 365 * DAY, confirmed=True)
    assert audit_rows(app) == []


# --- a time-check photo --------------------------------------------------------------------------


def test_offset_from_a_time_check_photo(app, session, deployment):
    ids = add_images(
        app,
        session,
        deployment,
        [
            ("check.jpg", datetime(2024, 3, 10, 22, 15, 0)),
            ("own-offset.jpg", datetime(2024, 3, 10, 22, 15, 0), "+09:00"),
            ("other.jpg", datetime(2024, 3, 11, 6, 0, 0)),
        ],
    )
    check = session.get(Image, ids["check.jpg"])
    assert (
        clockoffsets.offset_from_photo(deployment, check, datetime(2024, 3, 10, 23, 45, 30)) == 5430
    )
    # A camera that wrote its own offset: its time is read in that offset.
    own = session.get(Image, ids["own-offset.jpg"])
    assert (
        clockoffsets.offset_from_photo(deployment, own, datetime(2024, 3, 10, 23, 45, 30)) == 1830
    )

    derived = clockoffsets.from_time_check(session, deployment, check.id, "2024-03-10 23:45:30")
    assert derived.offset_s == 5430
    change = clockfix.set_clock_offset(session, deployment, derived.offset_s, via=derived.via)
    session.commit()
    assert change.images_changed == 3
    state = image_state(app)
    # The time-check photo now shows the true time: 23:45:30 in Vladivostok (UTC+10).
    assert state["check.jpg"][1] == utc(2024, 3, 10, 13, 45, 30)
    assert state["other.jpg"][1] == utc(2024, 3, 10, 21, 30, 30)
    assert state["check.jpg"][0] == "2024:03:10 22:15:00"
    (entry,) = audit_rows(app)
    assert entry.details["via"] == {
        "method": "time-check photo",
        "image_id": check.id,
        "filename": "check.jpg",
        "camera_time": "2024:03:10 22:15:00",
        "true_local_time": "2024-03-10 23:45:30",
    }


@pytest.mark.parametrize(
    ("image", "true_time", "field", "message"),
    [
        (None, "2024-03-10 23:45:30", "image", "Choose the time-check photo"),
        (999_999, "2024-03-10 23:45:30", "image", "There is no image 999999"),
        ("other", "2024-03-10 23:45:30", "image", "belongs to deployment"),
        ("unset", "2024-03-10 23:45:30", "image", "no usable camera time"),
        ("check", "tomorrow at noon", "true_time", "YYYY-MM-DD HH:MM:SS"),
        ("check", "2024-02-30 10:00", "true_time", "does not exist"),
        ("check", "", "true_time", "YYYY-MM-DD HH:MM:SS"),
        ("check", "1930-03-10 23:45:30", "offset", "60 years"),
    ],
)
def test_bad_time_check_input_is_refused(
    app, session, deployment, image, true_time, field, message
):
    elsewhere = make_deployment(session, code="KP-02")
    ids = add_images(
        app,
        session,
        deployment,
        [("check", datetime(2024, 3, 10, 22, 15)), ("unset", "0000:00:00 00:00:00")],
    )
    ids |= add_images(app, session, elsewhere, [("other", datetime(2024, 3, 10, 22, 15))])
    with pytest.raises(InvalidInput) as refused:
        clockoffsets.from_time_check(session, deployment, ids.get(image, image), true_time)
    assert message in refused.value.errors[field]


# --- confirmation --------------------------------------------------------------------------------


def test_large_correction_needs_confirmation(app, session, deployment):
    ids = add_images(app, session, deployment, [("a.jpg", datetime(2024, 3, 1, 12, 0))])
    add_sighting(session, deployment, list(ids.values()))
    before, counts = image_state(app), row_counts(app)
    forty_years = -40 * 365 * DAY
    with pytest.raises(clockfix.NeedsConfirmation) as refused:
        clockfix.set_clock_offset(session, deployment, forty_years)
    assert "about 40 years earlier" in refused.value.errors["confirm"]
    session.rollback()
    assert image_state(app) == before
    assert row_counts(app) == counts
    assert fetch(app, select(Deployment.clock_offset_s))[0][0] == 0

    change = clockfix.set_clock_offset(session, deployment, forty_years, confirmed=True)
    session.commit()
    assert change.preview.warnings
    # 1984 is before any camera trap: the image keeps no time, and says why.
    assert image_state(app)["a.jpg"][1:] == (None, "date before 1990 (2024:03:01 12:00:00)")
    assert audit_rows(app)[0].details["confirmed"] is True


def test_pushing_images_far_outside_the_period_needs_confirmation(app, session, deployment):
    add_images(app, session, deployment, [("a.jpg", datetime(2023, 3, 1, 12, 0))])
    # 306 days before the start already; 100 days more puts it over a year away.
    preview = clockfix.preview(session, deployment, -100 * DAY)
    assert preview.warnings == (
        "It puts images up to 405 days 12:00:00 before the deployment starts "
        "(2024-01-01 to 2024-06-30).",
    )
    with pytest.raises(clockfix.NeedsConfirmation):
        clockfix.set_clock_offset(session, deployment, -100 * DAY)
    # Moving them closer needs no confirmation.
    assert clockfix.preview(session, deployment, 100 * DAY).warnings == ()


def test_images_already_far_away_do_not_block_a_small_fix(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [*AM_PM, ("IMG_0005.JPG", "2000:01:01 00:00:05")],  # a reset partway
    )
    report = timestamps.timestamp_report(session, deployment, TODAY)
    (shift,) = report.finding("twelve-hour").suggestions
    assert shift.warnings == ()
    change = clockfix.set_clock_offset(session, deployment, shift.offset_s)
    assert change.preview.warnings == ()


def test_a_clock_reset_to_1970_is_brought_back(app, session, deployment):
    ids = add_images(
        app,
        session,
        deployment,
        [("IMG_0001.JPG", "1970:01:01 00:10:00"), ("IMG_0002.JPG", "1970:01:03 04:00:00")],
    )
    add_sighting(session, deployment, list(ids.values()))
    assert image_state(app)["IMG_0001.JPG"][1:] == (None, "date before 1990 (1970:01:01 00:10:00)")
    report = timestamps.timestamp_report(session, deployment, TODAY)
    reset = report.finding("reset-clock")
    assert reset.count == 2 and report.finding("no-time") is None
    (shift,) = [s for s in reset.suggestions if s.offset_s is not None]
    assert shift.needs_confirmation
    with pytest.raises(clockfix.NeedsConfirmation):
        clockfix.set_clock_offset(session, deployment, shift.offset_s)
    clockfix.set_clock_offset(session, deployment, shift.offset_s, confirmed=True)
    session.commit()
    state = image_state(app)
    # Whole days: the first image lands on the start date at the time of day the clock showed.
    assert state["IMG_0001.JPG"][1:] == (utc(2023, 12, 31, 14, 10), None)
    assert state["IMG_0002.JPG"][1:] == (utc(2024, 1, 2, 18, 0), None)
    assert fetch(app, select(Sighting.event_start, Sighting.event_end))[0] == (
        utc(2023, 12, 31, 14, 10),
        utc(2024, 1, 2, 18, 0),
    )
    report = timestamps.timestamp_report(session, deployment, TODAY)
    assert report.finding("reset-clock") is None and report.finding("outside-period") is None
    # Set-up at ten past midnight: the reset clock's time of day may well be wrong too.
    assert report.finding("twelve-hour").count == 1


# --- the timestamp report ------------------------------------------------------------------------


def test_clean_deployment_has_no_findings(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2024, 1, 1, 11, 0)),
            ("IMG_0002.JPG", datetime(2024, 2, 1, 23, 0)),
            ("IMG_0003.JPG", datetime(2024, 6, 30, 14, 0)),
        ],
    )
    report = timestamps.timestamp_report(session, deployment, TODAY)
    assert report.findings == ()
    assert (report.images, report.with_time) == (3, 3)


def test_report_images_after_the_end_suggests_last_on_end_date(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2024, 6, 20, 11, 0)),
            ("IMG_0002.JPG", datetime(2024, 6, 29, 3, 0)),
            ("IMG_0003.JPG", datetime(2024, 7, 2, 12, 0)),
            ("IMG_0004.JPG", datetime(2024, 7, 3, 15, 30)),
        ],
    )
    finding = timestamps.timestamp_report(session, deployment, TODAY).finding("outside-period")
    assert finding.count == 2
    assert [e.filename for e in finding.examples] == ["IMG_0003.JPG", "IMG_0004.JPG"]
    assert finding.examples[1].local == "2024-07-03 15:30:00"
    assert "0 before the start date" in finding.detail and "2 after" in finding.detail
    shift, photo, dates = finding.suggestions
    assert shift.offset_s == -3 * DAY and not shift.needs_confirmation
    assert "end date" in shift.detail
    assert photo.image_id is not None and dates.edit_dates
    clockfix.set_clock_offset(session, deployment, shift.offset_s)
    session.commit()
    assert timestamps.timestamp_report(session, deployment, TODAY).finding("outside-period") is None


def test_report_images_before_the_start_suggests_first_on_start_date(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2023, 12, 30, 11, 0)),
            ("IMG_0002.JPG", datetime(2024, 2, 1, 3, 0)),
        ],
    )
    finding = timestamps.timestamp_report(session, deployment, TODAY).finding("outside-period")
    assert finding.count == 1
    assert finding.suggestions[0].offset_s == 2 * DAY


def test_a_running_deployment_is_shifted_no_later_than_today(app, session):
    """A deployment with no end yet ends today: a shift that would carry photos past the day the
    report is read on is not suggested."""
    running = make_deployment(session, start=date(2024, 6, 1), end=None)
    add_images(
        app,
        session,
        running,
        [
            ("IMG_0001.JPG", datetime(2024, 5, 20, 11, 0)),
            ("IMG_0002.JPG", datetime(2024, 5, 26, 11, 0)),
        ],
    )

    def shifts(today: date) -> list[int]:
        report = timestamps.timestamp_report(session, running, today)
        suggested = report.finding("outside-period").suggestions
        return [s.offset_s for s in suggested if s.offset_s is not None]  # not "check the card"

    assert shifts(date(2024, 12, 1)) == [12 * DAY]  # the first photo on the start date
    assert shifts(date(2024, 6, 3)) == []  # the last would land on 6 June, after today


def test_report_images_on_both_sides_only_suggests_checking(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [("a.jpg", datetime(2023, 12, 30, 11, 0)), ("b.jpg", datetime(2024, 7, 2, 3, 0))],
    )
    finding = timestamps.timestamp_report(session, deployment, TODAY).finding("outside-period")
    assert finding.count == 2
    assert all(s.offset_s is None for s in finding.suggestions)


def test_report_reset_clock_and_images_without_time(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2024, 1, 1, 12, 0)),
            ("IMG_0002.JPG", datetime(2024, 1, 5, 12, 0)),
            ("IMG_0003.JPG", "2000:01:01 00:00:05"),  # batteries changed: the clock reset
            ("IMG_0004.JPG", "2000:01:01 03:12:00"),
            ("IMG_0005.JPG", "0000:00:00 00:00:00"),
            ("IMG_0006.JPG", None),
        ],
    )
    report = timestamps.timestamp_report(session, deployment, TODAY)
    reset = report.finding("reset-clock")
    assert reset.count == 2
    assert [e.filename for e in reset.examples] == ["IMG_0003.JPG", "IMG_0004.JPG"]
    assert reset.examples[0].raw == "2000:01:01 00:00:05"
    assert "partway" in reset.detail
    # Part of the deployment only: no single offset fixes it, so only a time-check photo.
    (photo,) = reset.suggestions
    assert photo.offset_s is None and photo.image_id is not None
    none = report.finding("no-time")
    assert none.count == 2
    assert {e.note for e in none.examples} == {
        "camera clock not set (0000:00:00 00:00:00)",
        "no capture time in the file",
    }
    assert none.suggestions[0].label == "Nothing to apply"
    assert report.finding("outside-period").count == 2
    assert report.finding("backwards").count == 1


def test_report_whole_deployment_on_a_reset_clock(app, session, deployment):
    add_images(
        app,
        session,
        deployment,
        [("IMG_0001.JPG", "2000:01:01 00:00:05"), ("IMG_0002.JPG", "2000:01:09 17:00:00")],
    )
    reset = timestamps.timestamp_report(session, deployment, TODAY).finding("reset-clock")
    assert "Every image" in reset.detail
    shift = reset.suggestions[0]
    assert shift.offset_s == (date(2024, 1, 1) - date(2000, 1, 1)).days * DAY
    assert shift.needs_confirmation  # 24 years
    assert any("about 24 years later" in w for w in shift.warnings)
    clockfix.set_clock_offset(session, deployment, shift.offset_s, confirmed=True)
    session.commit()
    report = timestamps.timestamp_report(session, deployment, TODAY)
    assert report.finding("reset-clock") is None and report.finding("outside-period") is None


def test_report_time_going_backwards_in_natural_file_order(app, session, deployment):
    # IMG_10 sorts before IMG_8 as text; in natural order the times rise.
    photos = [(f"IMG_{n}.JPG", datetime(2024, 3, 1, n, 0)) for n in (8, 9, 10, 11)]
    add_images(app, session, deployment, photos)
    assert timestamps.timestamp_report(session, deployment, TODAY).finding("backwards") is None

    ids = add_images(
        app,
        session,
        deployment,
        [
            ("IMG_12.JPG", datetime(2024, 2, 27, 9, 0)),  # the clock was set back
            ("IMG_13.JPG", datetime(2024, 2, 27, 10, 0)),
            ("IMG_14.JPG", datetime(2024, 2, 26, 10, 0)),
        ],
    )
    finding = timestamps.timestamp_report(session, deployment, TODAY).finding("backwards")
    assert finding.count == 2
    assert [e.filename for e in finding.examples] == ["IMG_12.JPG", "IMG_14.JPG"]
    assert finding.examples[0].note == "3 days 02:00:00 before IMG_11.JPG"  # 2024 is a leap year
    (photo,) = finding.suggestions
    assert photo.image_id == ids["IMG_12.JPG"]


def test_natural_key():
    names = ["IMG_10.JPG", "img_9.jpg", "DCIM/101RECNX/IMG_0001.JPG", "DCIM/100RECNX/IMG_9999.JPG"]
    assert sorted(names, key=timestamps.natural_key) == [
        "DCIM/100RECNX/IMG_9999.JPG",
        "DCIM/101RECNX/IMG_0001.JPG",
        "img_9.jpg",
        "IMG_10.JPG",
    ]


def test_report_twelve_hour_error_and_its_fix(app, session, deployment):
    add_images(app, session, deployment, AM_PM)
    report = timestamps.timestamp_report(session, deployment, TODAY)
    assert [f.kind for f in report.findings] == ["twelve-hour"]
    finding = report.finding("twelve-hour")
    assert finding.count == 2
    assert [e.filename for e in finding.examples] == ["IMG_0001.JPG", "IMG_0004.JPG"]
    assert "set-up" in finding.examples[0].note
    (shift,) = finding.suggestions
    # Minus 12 hours keeps the set-up and take-down on the dates they show.
    assert shift.offset_s == -12 * HOUR and shift.offset_text == "-12:00:00"
    assert not shift.needs_confirmation
    clockfix.set_clock_offset(session, deployment, shift.offset_s)
    session.commit()
    assert timestamps.timestamp_report(session, deployment, TODAY).findings == ()
    assert image_state(app)["IMG_0001.JPG"][1] == utc(2023, 12, 31, 23, 10)


def test_report_twelve_hour_error_from_people_photographed_at_night(app, session, deployment):
    ids = add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2024, 1, 2, 3, 0)),  # not on the start date: no anchor
            ("IMG_0002.JPG", datetime(2024, 2, 10, 2, 15)),  # a patrol at 14:15
            ("IMG_0003.JPG", datetime(2024, 2, 11, 4, 40)),  # a patrol at 16:40
            ("IMG_0004.JPG", datetime(2024, 3, 1, 21, 0)),
        ],
    )
    add_sighting(session, deployment, [ids["IMG_0002.JPG"]], "Homo sapiens")
    add_sighting(session, deployment, [ids["IMG_0003.JPG"]], "Homo sapiens")
    finding = timestamps.timestamp_report(session, deployment, TODAY).finding("twelve-hour")
    assert finding.count == 2
    assert {e.note for e in finding.examples} == {"a person in a sighting"}
    assert finding.suggestions[0].offset_s == 12 * HOUR
    clockfix.set_clock_offset(session, deployment, 12 * HOUR)
    session.commit()
    assert timestamps.timestamp_report(session, deployment, TODAY).finding("twelve-hour") is None


def test_report_no_twelve_hour_error_from_one_evening_among_days(app, session, deployment):
    ids = add_images(
        app,
        session,
        deployment,
        [
            ("IMG_0001.JPG", datetime(2024, 1, 1, 11, 0)),
            ("IMG_0002.JPG", datetime(2024, 2, 10, 21, 0)),
            ("IMG_0003.JPG", datetime(2024, 2, 11, 10, 0)),
            ("IMG_0004.JPG", datetime(2024, 6, 30, 12, 0)),
        ],
    )
    add_sighting(session, deployment, [ids["IMG_0002.JPG"]], "Homo sapiens")  # a night patrol
    add_sighting(session, deployment, [ids["IMG_0003.JPG"]], "Homo sapiens")
    assert timestamps.timestamp_report(session, deployment, TODAY).findings == ()


# --- web -----------------------------------------------------------------------------------------


def clock_url(deployment) -> str:
    return f"/deployments/{deployment.id}/clock"


def post_clock(client, deployment, **data):
    token = csrf_token(client, clock_url(deployment))
    return client.post(clock_url(deployment), data={"csrf_token": token, **data})


def test_admin_sets_a_fixed_correction(app, session, deployment, as_role):
    add_images(app, session, deployment, [("a.jpg", datetime(2024, 3, 1, 12, 0))])
    client = as_role("admin")
    page = client.get(clock_url(deployment))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Current correction" in html and "+00:00:00" in html
    assert "a.jpg" in html  # offered as a time-check photo

    counts = row_counts(app)
    preview = post_clock(client, deployment, method="fixed", offset="+01:30:00", action="preview")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "2024-03-01 12:00:00" in html and "2024-03-01 13:30:00" in html
    assert row_counts(app) == counts

    response = post_clock(
        client, deployment, method="fixed", offset="+01:30:00", reason="GPS time", action="apply"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/deployments/{deployment.id}/timestamps"
    assert fetch(app, select(Deployment.clock_offset_s))[0][0] == 5400
    assert image_state(app)["a.jpg"][1] == utc(2024, 3, 1, 3, 30)
    (entry,) = audit_rows(app)
    assert entry.details["reason"] == "GPS time"
    assert entry.details["via"] == {"method": "fixed", "entered": "+01:30:00"}
    followed = client.get(response.headers["Location"])
    assert "set to +01:30:00 (was +00:00:00): 1 image(s)" in followed.get_data(as_text=True)


def test_admin_sets_the_correction_from_a_time_check_photo(app, session, deployment, as_role):
    ids = add_images(app, session, deployment, [("check.jpg", datetime(2024, 3, 10, 22, 15))])
    client = as_role("admin")
    page = client.get(f"{clock_url(deployment)}?method=photo&image={ids['check.jpg']}")
    assert page.status_code == 200
    response = post_clock(
        client,
        deployment,
        method="photo",
        image=str(ids["check.jpg"]),
        true_time="2024-03-10 23:45:30",
        action="apply",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert fetch(app, select(Deployment.clock_offset_s))[0][0] == 5430
    assert image_state(app)["check.jpg"][1] == utc(2024, 3, 10, 13, 45, 30)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"method": "fixed", "offset": "soon"}, "Enter the correction in seconds"),
        ({"method": "fixed", "offset": ""}, "Enter the correction in seconds"),
        ({"method": "fixed", "offset": "0"}, "already +00:00:00"),
        ({"method": "photo", "image": "999999", "true_time": "2024-03-10 23:00"}, "no image 9"),
        ({"method": "photo", "image": "other", "true_time": "2024-03-10 23:00"}, "belongs to"),
        ({"method": "photo", "image": "abc", "true_time": "2024-03-10 23:00"}, "Not a valid"),
        ({"method": "photo", "image": "mine", "true_time": "half past ten"}, "YYYY-MM-DD"),
        ({"method": "sundial", "offset": "60"}, "Not a valid choice"),
        ({"method": "fixed", "offset": "60", "reason": "x" * 501}, "longer than 500"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(app, session, deployment, as_role, data, message):
    elsewhere = make_deployment(session, code="KP-02")
    ids = add_images(app, session, deployment, [("mine", datetime(2024, 3, 10, 22, 15))])
    ids |= add_images(app, session, elsewhere, [("other", datetime(2024, 3, 10, 22, 15))])
    if data.get("image") in ids:
        data = {**data, "image": str(ids[data["image"]])}
    client = as_role("admin")
    before, counts = image_state(app), row_counts(app)
    response = post_clock(client, deployment, action="apply", **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert image_state(app) == before
    assert row_counts(app) == counts
    assert fetch(app, select(Deployment.clock_offset_s).where(Deployment.id == deployment.id)) == [
        (0,)
    ]


def test_web_large_correction_asks_for_confirmation(app, session, deployment, as_role):
    add_images(app, session, deployment, [("a.jpg", datetime(2024, 3, 1, 12, 0))])
    client = as_role("admin")
    before, counts = image_state(app), row_counts(app)
    forty_years = clockoffsets.format_offset(-40 * 365 * DAY)
    response = post_clock(client, deployment, method="fixed", offset=forty_years, action="apply")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "about 40 years earlier" in html
    assert 'name="confirm"' in html
    assert image_state(app) == before and row_counts(app) == counts
    assert audit_rows(app) == []

    response = post_clock(
        client, deployment, method="fixed", offset=forty_years, confirm="y", action="apply"
    )
    assert response.status_code == 302
    assert fetch(app, select(Deployment.clock_offset_s))[0][0] == -40 * 365 * DAY
    assert len(audit_rows(app)) == 1


@pytest.mark.parametrize("role", ["ranger", "researcher"])
def test_only_admins_correct_clocks_everyone_sees_the_report(
    app, session, deployment, as_role, role
):
    add_images(app, session, deployment, AM_PM)
    client = as_role(role)
    assert client.get(clock_url(deployment)).status_code == 403
    token = csrf_token(client, "/")
    counts = row_counts(app)
    response = client.post(
        clock_url(deployment),
        data={"csrf_token": token, "method": "fixed", "offset": "60", "action": "apply"},
    )
    assert response.status_code == 403
    assert row_counts(app) == counts
    report = client.get(f"/deployments/{deployment.id}/timestamps")
    assert report.status_code == 200
    html = report.get_data(as_text=True)
    assert "Probable 12-hour (AM/PM) error" in html
    assert "-12:00:00" in html
    assert "Apply</button>" not in html and "Correct the clock" not in html
    detail = client.get(f"/deployments/{deployment.id}").get_data(as_text=True)
    assert "Timestamp report" in detail and "Correct the clock" not in detail


def test_admin_applies_a_suggested_fix_from_the_report(app, session, deployment, as_role):
    add_images(app, session, deployment, AM_PM)
    client = as_role("admin")
    detail = client.get(f"/deployments/{deployment.id}").get_data(as_text=True)
    assert "Correct the clock" in detail and "Timestamp report" in detail
    html = client.get(f"/deployments/{deployment.id}/timestamps").get_data(as_text=True)
    assert 'name="offset" value="-12:00:00"' in html
    assert "Apply</button>" in html
    # The suggestion's own form, as the browser sends it.
    token = csrf_token(client, f"/deployments/{deployment.id}/timestamps")
    response = client.post(
        clock_url(deployment),
        data={
            "csrf_token": token,
            "method": "fixed",
            "offset": "-12:00:00",
            "reason": "Timestamp report: Probable 12-hour (AM/PM) error",
            "action": "apply",
        },
    )
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Probable 12-hour" not in html
    assert "No timestamp problems found" in html
    assert audit_rows(app)[0].details["reason"].startswith("Timestamp report")


def test_report_links_prefill_the_clock_form_with_a_preview(app, session, deployment, as_role):
    add_images(app, session, deployment, AM_PM)
    client = as_role("admin")
    page = client.get(f"{clock_url(deployment)}?method=fixed&offset=-12:00:00")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Effect of -12:00:00" in html
    assert "2024-01-01 09:10:00" in html  # the set-up photo after the fix
    assert audit_rows(app) == []


def test_large_suggestion_shows_a_confirm_box(app, session, deployment, as_role):
    add_images(app, session, deployment, [("IMG_0001.JPG", "2000:01:01 00:00:05")])
    html = as_role("admin").get(f"/deployments/{deployment.id}/timestamps").get_data(as_text=True)
    assert 'name="confirm" value="y" required' in html
    assert "about 24 years later" in html


def test_unknown_deployment_is_404(as_role):
    client = as_role("admin")
    assert client.get("/deployments/999/clock").status_code == 404
    assert client.get("/deployments/999/timestamps").status_code == 404


def test_times_shown_are_local(session, deployment):
    assert timestamps.local_time(deployment, utc(2024, 3, 1, 2, 0)) == "2024-03-01 12:00:00"
    assert timestamps.local_time(deployment, None) == "—"
    assert timedelta(seconds=clockfix.LARGE_SHIFT_S) == timedelta(days=365)


def test_editing_a_deployment_recomputes_its_images(app, session):
    """The deployment edit form (and close) change dates and offsets through fieldwork too."""
    station = fieldwork.create_station(session, code="ED-1", latitude=43.0, longitude=131.0)
    data = fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    dep = fieldwork.create_deployment(session, station, data)
    session.commit()
    photo = sources.Item("a.jpg", jpeg_bytes(datetime(2024, 3, 1, 12, 0), seed=1))
    ingest.ingest(session, [photo], dep, app.config["MEDIA_DIR"])
    image = session.scalar(select(Image))
    assert image.taken_at_utc == datetime(2024, 3, 1, 2, 0, tzinfo=UTC)

    data.clock_offset_s = 3600
    fieldwork.update_deployment(session, dep, data)
    session.commit()
    session.refresh(image)
    assert image.taken_at_utc == datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
    assert image.taken_at_raw == "2024:03:01 12:00:00"

    fieldwork.close_deployment(session, dep, date(2024, 2, 1), confirmed=True)
    session.commit()
    session.refresh(image)
    assert image.timestamp_issue == "capture time outside the deployment period"


def test_a_clock_fix_that_moves_a_photo_out_of_a_skipped_hour_clears_its_flag(app, session, users):
    station = fieldwork.create_station(session, code="US-02", latitude=41.9, longitude=-87.6)
    deployment = fieldwork.create_deployment(
        session,
        station,
        fieldwork.DeploymentInput(
            start_date=date(2024, 3, 1), end_date=date(2024, 3, 31), timezone="America/Chicago"
        ),
    )
    session.commit()
    # The camera was set an hour late: 02:30 on the night the clocks jumped forward.
    add_images(app, session, deployment, [("IMG_0001.JPG", datetime(2024, 3, 10, 2, 30))])
    assert "does not exist in America/Chicago" in image_state(app)["IMG_0001.JPG"][2]
    clockfix.set_clock_offset(session, deployment, HOUR, users["admin"], reason="an hour slow")
    session.commit()
    # 03:30 CDT is a real time: the flag goes, and the time is read as written plus the fix.
    assert image_state(app)["IMG_0001.JPG"][1:] == (utc(2024, 3, 10, 8, 30), None)
