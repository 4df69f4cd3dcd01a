"""Capture histories for secr: a small example computed by hand, checked line by line."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import csrf_token
from pyproj import Transformer
from sqlalchemy import select

from tracker import clock, fieldwork, outages
from tracker.errors import InvalidInput
from tracker.exports import effort, formats
from tracker.exports.capthist import parse_sessions
from tracker.exports.core import Filters, Options
from tracker.models import LEOPARD, Deployment, Individual, Sighting, Species, Station

TZ = ZoneInfo("Asia/Vladivostok")
KP1 = (43.10512, 131.40377)
KP2 = (43.15026, 131.47291)


@pytest.fixture
def survey(session):
    """Two stations; KP-02's camera goes up on 3 May, so it misses the first 2-day occasion."""
    kp1 = fieldwork.create_station(session, code="KP-01", latitude=KP1[0], longitude=KP1[1])
    kp2 = fieldwork.create_station(session, code="KP-02", latitude=KP2[0], longitude=KP2[1])
    deployments = {
        "KP-01": fieldwork.create_deployment(
            session, kp1, fieldwork.DeploymentInput(date(2024, 5, 1), date(2024, 5, 6))
        ),
        "KP-02": fieldwork.create_deployment(
            session, kp2, fieldwork.DeploymentInput(date(2024, 5, 3), date(2024, 5, 6))
        ),
    }
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    tiger = session.scalar(select(Species).where(Species.common_name == "Amur tiger"))
    cats = {
        "AL-01": Individual(code="AL-01", sex="female", species=leopard),
        "AL-02": Individual(code="AL-02", sex="male", species=leopard),
        "AT-01": Individual(code="AT-01", sex="male", species=tiger),
    }
    session.add_all(cats.values())
    session.flush()

    def sight(station, day, hour, who=None, species=leopard, minute=0):
        start = datetime(2024, 5, day, hour, minute, tzinfo=TZ)
        session.add(
            Sighting(
                deployment=deployments[station],
                species=species,
                individual=cats[who] if who else None,
                event_start=start,
                event_end=start + timedelta(seconds=20),
            )
        )

    sight("KP-01", 1, 22, "AL-01")  # occasion 1
    sight("KP-01", 2, 3, "AL-01")  # occasion 1 again, another event: one proximity detection
    sight("KP-02", 4, 1, "AL-01")  # occasion 2
    sight("KP-02", 5, 20, "AL-02")  # occasion 3
    sight("KP-01", 6, 23, "AL-02", minute=30)  # occasion 3, late on the last local day
    sight("KP-01", 3, 2)  # an unidentified leopard: not a capture
    sight("KP-01", 4, 2, "AT-01", species=tiger)  # another species
    session.commit()
    return deployments


def export_secr(session, filters=None, **options) -> dict[str, str]:
    buffer = io.BytesIO()
    options = {"now": clock.now()} | options
    rows = formats.run_export(session, "secr", filters or Filters(), buffer, Options(**options))
    with zipfile.ZipFile(buffer) as archive:
        files = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    files["rows"] = rows
    return files


def data_lines(text: str) -> list[list[str]]:
    """What secr reads: blank lines and anything after # are ignored, fields split on blanks."""
    lines = (line.split("#", 1)[0].split() for line in text.splitlines())
    return [fields for fields in lines if fields]


def test_hand_computed_example(session, survey):
    filters = Filters.parse(session, date_from="2024-05-01", date_to="2024-05-06")
    files = export_secr(session, filters, occasion_days=2, park_code="ZOV")
    assert sorted(files) == ["README.txt", "captures.txt", "rows", "traps.txt"]
    assert data_lines(files["captures.txt"]) == [
        ["ZOV", "AL-01", "1", "KP-01", "F"],
        ["ZOV", "AL-01", "2", "KP-02", "F"],
        ["ZOV", "AL-02", "3", "KP-01", "M"],
        ["ZOV", "AL-02", "3", "KP-02", "M"],
    ]
    assert files["rows"] == 4
    assert "# Session ID Occasion Detector Sex" in files["captures.txt"]
    traps = data_lines(files["traps.txt"])
    # Usage: camera-days per 2-day occasion; KP-02's camera went up on 3 May.
    assert [(t[0], t[3:]) for t in traps] == [
        ("KP-01", ["2", "2", "2"]),
        ("KP-02", ["0", "2", "2"]),
    ]
    project = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True)
    for (name, x, y, *_usage), (lat, lon) in zip(traps, (KP1, KP2), strict=True):
        expected = project.transform(lon, lat)
        assert (float(x), float(y)) == pytest.approx(expected, abs=0.05), name
        assert 600_000 < float(x) < 800_000  # the park lies near the zone's eastern edge
        assert 4_700_000 < float(y) < 4_800_000
    readme = files["README.txt"]
    assert (
        'read.capthist("captures.txt", "traps.txt",\n'
        '        detector = "proximity", covnames = "Sex", noccasions = 3,\n'
        "        binary.usage = FALSE)"
    ) in readme
    assert "ZOV: 2024-05-01 to 2024-05-06, 3 occasions of 2 day(s), 2 detectors" in readme
    assert "Coordinates: EPSG:32652 (WGS 84 / UTM zone 52N), metres." in readme
    assert "EPSG:32652" in files["traps.txt"]


def test_one_day_occasions_and_the_survey_from_the_deployments(session, survey):
    files = export_secr(session)  # no dates: the deployments' span, 1-day occasions
    assert [(t[0], "".join(t[3:])) for t in data_lines(files["traps.txt"])] == [
        ("KP-01", "111111"),
        ("KP-02", "001111"),
    ]
    captures = data_lines(files["captures.txt"])
    assert ["survey", "AL-01", "1", "KP-01", "F"] in captures  # no TRACKER_PARK_CODE: "survey"
    assert ["survey", "AL-01", "2", "KP-01", "F"] in captures  # 2 May: another occasion now
    assert len(captures) == 5 and files["rows"] == 5


def test_one_trap_night_rule_usage_sums_to_the_effort_export(session, survey):
    files = export_secr(session)
    usage = sum(int(u) for t in data_lines(files["traps.txt"]) for u in t[3:])
    found = effort.effort(session, Filters(), Options(now=clock.now()), today=date(2024, 6, 1))
    assert usage == found.trap_nights == 6 + 4  # 1 to 6 May, and 3 to 6 May, days included


def test_chosen_stations_only(session, survey):
    filters = Filters.parse(session, stations=["KP-02"])
    files = export_secr(session, filters)
    assert [(t[0], "".join(t[3:])) for t in data_lines(files["traps.txt"])] == [("KP-02", "1111")]
    assert data_lines(files["captures.txt"]) == [
        ["survey", "AL-01", "2", "KP-02", "F"],
        ["survey", "AL-02", "3", "KP-02", "M"],
    ]  # occasions count from 3 May, when KP-02's camera went up


def test_another_species_and_unknown_sex(session, survey):
    tiger = session.scalar(select(Individual).where(Individual.code == "AT-01"))
    tiger.sex = "unknown"
    session.commit()
    files = export_secr(session, Filters.parse(session, species="Amur tiger"))
    assert data_lines(files["captures.txt"]) == [["survey", "AT-01", "4", "KP-01", "NA"]]
    assert "Panthera tigris altaica" in files["captures.txt"]


def test_days_beyond_the_cameras_are_trimmed_and_said(session, survey):
    filters = Filters.parse(session, date_from="2024-04-25", date_to="2024-05-10")
    files = export_secr(session, filters, park_code="ZOV")
    assert [len(t[3:]) for t in data_lines(files["traps.txt"])] == [6, 6]
    assert ["ZOV", "AL-01", "1", "KP-01", "F"] in data_lines(files["captures.txt"])
    assert "noccasions = 6" in files["README.txt"]
    assert "2024-04-25 to 2024-04-30, 2024-05-07 to 2024-05-10" in files["README.txt"]


def test_an_outage_is_no_usage_and_its_detections_are_left_out_of_secr_and_rates(session, survey):
    # KP-01 stopped on 6 May (AL-02 at 23:30 that day is left out); KP-02 lost 4 May.
    outages.add_outage(session, survey["KP-01"], date(2024, 5, 6), None, "stolen")
    outages.add_outage(session, survey["KP-02"], date(2024, 5, 4), date(2024, 5, 5), "card")
    session.commit()
    files = export_secr(session, occasion_days=1)
    traps = {t[0]: "".join(t[3:]) for t in data_lines(files["traps.txt"])}
    assert traps == {"KP-01": "111110", "KP-02": "001011"}
    captures = data_lines(files["captures.txt"])
    assert ["survey", "AL-02", "6", "KP-01", "M"] not in captures
    assert ["survey", "AL-01", "4", "KP-02", "F"] not in captures  # 4 May 01:00, in the outage
    assert "2 detection(s) fell on a day their station had no working camera" in files["README.txt"]
    found = effort.effort(session, Filters(), Options(now=clock.now()), today=date(2024, 6, 1))
    assert found.trap_nights == sum(traps[k].count("1") for k in traps) == 5 + 3
    assert found.off_duty == 2


def test_an_occasion_no_detector_worked_is_left_out(session, survey):
    for code in ("KP-01", "KP-02"):
        outages.add_outage(session, survey[code], date(2024, 5, 4), date(2024, 5, 5), "snow")
    session.commit()
    files = export_secr(session)
    assert [(t[0], "".join(t[3:])) for t in data_lines(files["traps.txt"])] == [
        ("KP-01", "11111"),
        ("KP-02", "00111"),
    ]
    assert "Left out, as no detector worked then" in files["README.txt"]
    assert "2024-05-04;" in files["README.txt"]
    # AL-02 on 5 May is now on occasion 4.
    assert ["survey", "AL-02", "4", "KP-02", "M"] in data_lines(files["captures.txt"])


def test_detections_are_dated_in_their_deployment_zone(session):
    """A camera in Kuala Lumpur (UTC+8) with the tracker in Vladivostok (UTC+10)."""
    station = fieldwork.create_station(session, code="MY-01", latitude=3.14, longitude=101.69)
    dep = fieldwork.create_deployment(
        session,
        station,
        fieldwork.DeploymentInput(date(2024, 5, 1), date(2024, 5, 3), "Asia/Kuala_Lumpur"),
    )
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    cat = Individual(code="ML-01", sex="male", species=leopard)
    start = datetime(2024, 5, 1, 23, 30, tzinfo=ZoneInfo("Asia/Kuala_Lumpur"))  # 2 May at home
    session.add(Sighting(deployment=dep, species=leopard, individual=cat, event_start=start,
                         event_end=start))  # fmt: skip
    session.commit()
    files = export_secr(session, timezone="Asia/Vladivostok")
    assert data_lines(files["captures.txt"]) == [["survey", "ML-01", "1", "MY-01", "M"]]
    # Malaysia is in UTM zone 47N, not the park's 52N.
    assert "EPSG:32647" in files["README.txt"]
    (trap,) = data_lines(files["traps.txt"])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32647", always_xy=True).transform(101.69, 3.14)
    assert (float(trap[1]), float(trap[2])) == pytest.approx((x, y), abs=0.05)


def test_a_configured_crs_is_used_and_a_geographic_one_refused(session, survey):
    files = export_secr(session, crs="EPSG:3857")
    assert "Coordinates: EPSG:3857" in files["README.txt"]
    with pytest.raises(InvalidInput) as refused:
        export_secr(session, crs="EPSG:4326")
    assert "not projected in metres" in refused.value.errors["crs"]


def test_a_survey_across_new_year_is_one_session(session):
    # Old codes, from before the rule against underscores (secr reads `_` specially).
    stations = [
        Station(code=code, latitude=43.1 + n / 10, longitude=131.4)
        for n, code in enumerate(("KP_07", "KP_09"))
    ]
    for station in stations:
        session.add(
            Deployment(
                station=station,
                start_date=date(2024, 12, 20),
                end_date=date(2025, 1, 10),
                timezone="Asia/Vladivostok",
            )
        )
    session.flush()
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    cat = Individual(code="AL-05", sex="female", species=leopard)
    start = datetime(2024, 12, 31, 21, 0, tzinfo=TZ)
    dep = stations[1].deployments[0]
    session.add(Sighting(deployment=dep, species=leopard, individual=cat, event_start=start,
                         event_end=start))  # fmt: skip
    session.commit()
    filters = Filters.parse(session, date_from="2024-12-30", date_to="2025-01-03")
    files = export_secr(session, filters, park_code="ZOV")
    assert sorted(files) == ["README.txt", "captures.txt", "rows", "traps.txt"]
    assert data_lines(files["captures.txt"]) == [["ZOV", "AL-05", "2", "KP-09", "F"]]
    assert [t[0] for t in data_lines(files["traps.txt"])] == ["KP-07", "KP-09"]

    sessions = parse_sessions(["a:2024-12-30:2024-12-31", "b:2025-01-01:2025-01-03"])
    files = export_secr(session, filters, sessions=sessions)
    assert sorted(files) == ["README.txt", "captures.txt", "rows", "traps-a.txt", "traps-b.txt"]
    assert data_lines(files["captures.txt"]) == [
        ["a", "AL-05", "2", "KP-09", "F"],
        ["b", "NONE", "3", "KP-07", "NA"],  # secr's line for a session with no captures
    ]
    assert 'read.capthist("captures.txt", c("traps-a.txt", "traps-b.txt"),\n' in files["README.txt"]
    assert "noccasions = c(2, 3)" in files["README.txt"]


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["w:2024-11-01"], "write NAME:FROM:TO"),
        (["w:2024-11-01:2024-10-01"], "it ends (2024-10-01) before it starts"),
        (["w w:2024-11-01:2024-12-01"], "a session name is 1 to 32 letters"),
        (["a:2024-11-01:2024-12-01", "b:2024-12-01:2025-01-01"], "sessions a and b overlap"),
        (["a:2024-11-01:2024-11-02", "A:2024-12-01:2025-01-01"], "the same name"),
    ],
)
def test_bad_sessions_are_refused(texts, message):
    with pytest.raises(InvalidInput) as refused:
        parse_sessions(texts)
    assert message in refused.value.errors["session"]


def test_sessions_on_the_command_line(runner, session, survey, tmp_path):
    out = tmp_path / "secr.zip"
    args = [
        "export",
        "--format",
        "secr",
        "--out",
        str(out),
        "--session",
        "may:2024-05-01:2024-05-03",
    ]
    result = runner.invoke(args=[*args, "--session", "late:2024-05-04:2024-05-06"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist())[-2:] == ["traps-late.txt", "traps-may.txt"]
    result = runner.invoke(args=[*args, "--session", "late:2024-05-03:2024-05-06"])
    assert result.exit_code == 2 and "sessions may and late overlap" in result.output


def test_capture_histories_are_never_public(session, survey):
    with pytest.raises(InvalidInput) as refused:
        export_secr(session, public=True)
    assert refused.value.errors == {
        "public": "Capture histories need exact coordinates; they are never public."
    }


def test_no_deployments_gives_empty_files_with_their_headers(session):
    files = export_secr(session)
    assert data_lines(files["captures.txt"]) == [] and data_lines(files["traps.txt"]) == []
    assert files["rows"] == 0


def test_the_park_code_names_the_session_and_the_page_takes_sessions(app, as_role, survey):
    app.config["PARK_CODE"] = "ZOV"
    client = as_role("researcher")
    token = csrf_token(client, "/exports/")
    data = {"csrf_token": token, "format": "secr"}
    with client.post("/exports/", data=data) as response:
        assert response.status_code == 200
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
            assert archive.read("captures.txt").decode().splitlines()[-1].startswith("ZOV ")
    sessions = "early:2024-05-01:2024-05-03\nlate:2024-05-04:2024-05-06"
    with client.post("/exports/", data={**data, "sessions": sessions}) as response:
        names = zipfile.ZipFile(io.BytesIO(response.get_data())).namelist()
    assert "traps-late.txt" in names
    refused = client.post("/exports/", data={**data, "sessions": "early:2024-05-01"})
    assert refused.status_code == 400
    assert "write NAME:FROM:TO" in refused.get_data(as_text=True)
