"""R's secr reads what the tracker exports: read.capthist with README.txt's own call, then
verify. Four data sets: the demo, a winter survey across new year, a wide date range reaching
beyond the cameras, and a hand-built set with outages.

When secr is not installed these tests skip (or fail, when CI asked for them: see tests/rsecr.py);
test_capthist.py checks the same rules in Python.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rsecr import read_with_secr, require_secr
from sqlalchemy import select

from tracker import clock, demo, fieldwork, outages
from tracker.exports import formats
from tracker.exports.capthist import parse_sessions
from tracker.exports.core import Filters, Options
from tracker.exports.effort import effort
from tracker.models import LEOPARD, Individual, Sighting, Species

pytestmark = pytest.mark.usefixtures("_secr")
PARK = "Asia/Vladivostok"
STATIONS = [("KP-01", 43.10, 131.40), ("KP-02", 43.15, 131.47), ("KP-03", 43.05, 131.52)]


@pytest.fixture
def _secr():
    require_secr()


def write_secr(session, tmp_path, filters=None, **options):
    out = tmp_path / "secr.zip"
    options = {"now": clock.now(), "timezone": PARK} | options
    with out.open("wb") as fh:
        formats.run_export(session, "secr", filters or Filters(), fh, Options(**options))
    return out


def trap_nights(session) -> int:
    return effort(session, Filters(), Options(now=clock.now(), timezone=PARK)).trap_nights


def test_the_demo_is_read_and_verified(session, tmp_path):
    demo.load_demo(session)
    session.commit()
    result = read_with_secr(write_secr(session, tmp_path, park_code="ZOV"), tmp_path)
    assert result.errors is False, result.output
    (one,) = result.sessions
    assert one.name == "ZOV" and one.animals >= 5
    # One trap-night rule: with 1-day occasions, secr's usage is the effort export's trap-nights.
    assert one.usage == trap_nights(session)


@pytest.fixture
def field(session):
    """Three stations with cameras from 2024-11-01 to 2025-02-28 (KP-03 from 2024-11-10) and
    three identified leopards seen across the winter, new year included."""
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    deployments = {}
    for code, lat, lon in STATIONS:
        station = fieldwork.create_station(session, code=code, latitude=lat, longitude=lon)
        start = date(2024, 11, 10) if code == "KP-03" else date(2024, 11, 1)
        deployments[code] = fieldwork.create_deployment(
            session, station, fieldwork.DeploymentInput(start, date(2025, 2, 28))
        )
    cats = [
        Individual(code=f"AL-0{n}", sex=sex, species=leopard)
        for n, sex in ((1, "female"), (2, "male"), (3, "female"))
    ]
    session.add_all(cats)
    zone = ZoneInfo(PARK)
    visits = [
        (0, "KP-01", date(2024, 11, 5)), (0, "KP-02", date(2025, 1, 8)),
        (0, "KP-03", date(2025, 2, 20)), (1, "KP-02", date(2024, 12, 30)),
        (1, "KP-02", date(2025, 1, 2)), (1, "KP-03", date(2024, 12, 1)),
        (2, "KP-01", date(2025, 1, 20)), (2, "KP-03", date(2024, 11, 20)),
        (2, "KP-01", date(2024, 12, 31)),
    ]  # fmt: skip
    for cat, code, day in visits:
        start = datetime.combine(day, datetime.min.time(), zone) + timedelta(hours=2)
        session.add(
            Sighting(
                deployment=deployments[code],
                species=leopard,
                individual=cats[cat],
                event_start=start,
                event_end=start + timedelta(seconds=30),
            )
        )
    session.commit()
    return deployments


def test_a_winter_survey_across_new_year_is_one_session(session, tmp_path, field):
    result = read_with_secr(write_secr(session, tmp_path, park_code="ZOV"), tmp_path)
    assert result.errors is False, result.output
    (winter,) = result.sessions
    assert (winter.name, winter.animals, winter.detections) == ("ZOV", 3, 9)
    assert winter.occasions == (date(2025, 2, 28) - date(2024, 11, 1)).days + 1


def test_named_sessions_each_get_their_traps(session, tmp_path, field):
    sessions = parse_sessions(["early:2024-11-01:2024-12-31", "late:2025-01-01:2025-02-28"])
    result = read_with_secr(write_secr(session, tmp_path, sessions=sessions), tmp_path)
    assert result.errors is False, result.output
    assert [(s.name, s.detections) for s in result.sessions] == [("early", 5), ("late", 4)]


def test_a_wide_date_range_is_trimmed_to_the_cameras(session, tmp_path, field):
    filters = Filters(date_from=date(2020, 1, 1), date_to=date(2026, 12, 31))
    result = read_with_secr(write_secr(session, tmp_path, filters, occasion_days=7), tmp_path)
    assert result.errors is False, result.output
    (one,) = result.sessions
    assert one.occasions == 18  # the weeks with a camera working, 2024-11-01 .. 2025-02-28
    assert one.usage == 2 * 120 + 111  # camera-days


def test_outages_are_left_out_of_usage_and_detections(session, tmp_path, field):
    # KP-02's card was full from 25 December to 10 January: its 30 December, 2 and 8 January
    # detections are dropped; KP-01 and KP-03 stopped for good on 15 February (KP-03's 20
    # February detection is dropped too).
    outages.add_outage(session, field["KP-02"], date(2024, 12, 25), date(2025, 1, 10), "card full")
    for code in ("KP-01", "KP-03"):
        outages.add_outage(session, field[code], date(2025, 2, 15), None, "stolen")
    session.commit()
    files = write_secr(session, tmp_path, park_code="ZOV")
    result = read_with_secr(files, tmp_path)
    assert result.errors is False, result.output
    (one,) = result.sessions
    assert one.detections == 9 - 4
    assert one.occasions == (date(2025, 2, 28) - date(2024, 11, 1)).days + 1
    flat = effort(session, Filters(), Options(now=clock.now(), timezone=PARK))
    assert one.usage == flat.trap_nights
    assert flat.off_duty == 4  # the same events are out of the effort rates
