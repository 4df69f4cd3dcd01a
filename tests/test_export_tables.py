"""Sighting, event, GeoJSON and effort exports: their values on a small hand-made park, the
filters, public exports, the audit log, `tracker export` and the export pages.

The park: KP-01 with a camera from 1 to 11 May 2024 and another from 11 May still in the field;
KP-02 with two cameras overlapping one night (5 to 8 and 7 to 9 May). "Today" is 21 May 2024; the
open deployment's latest sighting is on 15 May.
Times are stored in UTC and exported in Vladivostok time (+10:00).
"""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import csrf_token, fetch
from sqlalchemy import insert, select

from tracker import clock, events
from tracker.errors import InvalidInput
from tracker.exports import effort, formats, stream, tables
from tracker.exports.core import Filters, Options
from tracker.exports.formats import Format
from tracker.models import (
    LEOPARD,
    AuditLog,
    Deployment,
    Image,
    Individual,
    Sighting,
    Species,
    Station,
    User,
)

TODAY = date(2024, 5, 21)
NOW = datetime(2024, 5, 21, 3, tzinfo=UTC)  # noon in Vladivostok
KP1 = (43.1234567, 131.4567891)
KP2 = (43.2345678, 131.3456789)
EXIF = [(43.1111119, 131.2222229), (43.3333337, 131.1111113)]  # where two photos say they were
EXPORTS = select(AuditLog.user_id, AuditLog.details).where(AuditLog.action == "export")
PUBLIC_FORMATS = [("csv", False), ("events-csv", False), ("geojson", False), ("geojson", True),
                  ("effort", False)]  # fmt: skip


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """The CLI and the pages read the clock (tracker.clock.now): "today" is 21 May 2024."""
    monkeypatch.setattr(clock, "now", lambda: NOW)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def park(session):
    """The hand-made park, committed (the CLI and the pages read it in sessions of their own)."""
    kp1 = Station(code="KP-01", name="Ridge trail", latitude=KP1[0], longitude=KP1[1])
    kp2 = Station(code="KP-02", name="Creek", latitude=KP2[0], longitude=KP2[1])
    tz = "Asia/Vladivostok"
    dep = {
        "d1": Deployment(station=kp1, start_date=date(2024, 5, 1), end_date=date(2024, 5, 11),
                         timezone=tz),
        "d2": Deployment(station=kp1, start_date=date(2024, 5, 11), timezone=tz),
        "d3": Deployment(station=kp2, start_date=date(2024, 5, 5), end_date=date(2024, 5, 8),
                         timezone=tz),
        "d4": Deployment(station=kp2, start_date=date(2024, 5, 7), end_date=date(2024, 5, 9),
                         timezone=tz),
    }  # fmt: skip
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    deer = session.scalar(select(Species).where(Species.common_name == "Sika deer"))
    cat = Individual(code="AL-12", sex="female", species=leopard)
    ranger = User(email="logger@park.test", password_hash="x", role="ranger")
    session.add_all([kp1, kp2, *dep.values(), cat, ranger])
    session.flush()
    photos = [
        Image(sha256=f"{n:064x}", stored_path=f"aa/{n}.jpg", original_filename=name, bytes=1000,
              taken_at_utc=utc(2, 0, 40) + timedelta(seconds=n), latitude=lat, longitude=lon,
              location_source="exif", deployment=dep["d1"])
        for n, (name, (lat, lon)) in enumerate(zip(("IMG_0002.JPG", "IMG_0001.JPG"), EXIF,
                                                   strict=True))
    ]  # fmt: skip

    def sight(d, species, start, *, who=None, **fields):
        s = Sighting(deployment=dep[d], species=species, individual=who, event_start=start,
                     event_end=start and start + timedelta(minutes=1), logged_by=ranger,
                     logged_at=utc(20, 2), **fields)  # fmt: skip
        session.add(s)
        return s

    s = {
        # 10:40 local on 2 May, a cub of AL-12 (the sighting gives no sex: the animal's is used).
        "s1": sight("d1", leopard, utc(2, 0, 40), who=cat, life_stage="cub", flank="left",
                    comments="by the fallen oak", images=photos),
        "s2": sight("d1", leopard, utc(2, 0, 55), who=cat, count=2),  # same event as s1
        "s3": sight("d1", deer, utc(3, 12), sex="male", life_stage="adult"),
        # 15:30 UTC on 6 May is 01:30 on 7 May in Vladivostok.
        "s4": sight("d3", leopard, utc(6, 15, 30)),
        "s5": sight("d2", leopard, utc(15, 3), who=cat),
        "s6": sight("d1", deer, None),  # no time: a reset clock
    }  # fmt: skip
    session.commit()
    return {"s": {k: v.id for k, v in s.items()}, "dep": {k: v.id for k, v in dep.items()}}


def write(session, fmt: str, options: Options | None = None, **filters) -> tuple[int, str]:
    out = io.BytesIO()
    parsed = Filters.parse(session, **filters)
    rows = formats.run_export(session, fmt, parsed, out, options or Options(now=NOW))
    return rows, out.getvalue().decode("utf-8")


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# --- CSV of sightings -----------------------------------------------------------------------------


def test_csv_columns_and_values(session, park):
    rows, text = write(session, "csv")
    header = text.splitlines()[0].split(",")
    assert header == list(tables.SIGHTING_COLUMNS)
    found = {int(r["observationID"]): r for r in read_csv(text)}
    assert rows == len(found) == 5  # s6 has no time: left out until its clock is fixed
    s = park["s"]
    assert found[s["s1"]] == {
        "observationID": str(s["s1"]),
        "deploymentID": str(park["dep"]["d1"]),
        "locationID": "KP-01",
        "locationName": "Ridge trail",
        "latitude": "43.1234567",
        "longitude": "131.4567891",
        "eventStart": "2024-05-02T10:40:00+10:00",
        "eventEnd": "2024-05-02T10:41:00+10:00",
        "observationType": "animal",
        "scientificName": LEOPARD,
        "vernacularName": "Amur leopard",
        "individualID": "AL-12",
        "count": "1",
        "sex": "female",
        "lifeStage": "juvenile",
        "flank": "left",
        "observationComments": "by the fallen oak",
        "mediaFiles": "IMG_0002.JPG;IMG_0001.JPG",  # in the order they were taken
        "classifiedBy": "logger@park.test",
        "classificationTimestamp": "2024-05-20T12:00:00+10:00",
    }
    assert found[s["s3"]]["sex"] == "male"
    assert found[s["s3"]]["lifeStage"] == "adult"
    assert found[s["s4"]]["eventStart"] == "2024-05-07T01:30:00+10:00"
    assert found[s["s4"]]["individualID"] == found[s["s4"]]["sex"] == ""
    assert s["s6"] not in found


def test_times_are_whole_seconds_in_the_configured_zone(session, park):
    session.get(Sighting, park["s"]["s3"]).event_start = utc(3, 12) + timedelta(microseconds=750)
    session.commit()
    _, text = write(session, "csv", Options(now=NOW, timezone="Europe/Berlin"), species="Sika deer")
    [timed] = read_csv(text)
    assert timed["eventStart"] == "2024-05-03T14:00:00+02:00"  # summer time
    _, text = write(
        session, "csv", Options(now=NOW, timezone="America/Sao_Paulo"), species="Sika deer"
    )
    assert read_csv(text)[0]["eventStart"] == "2024-05-03T09:00:00-03:00"  # west of Greenwich


def test_empty_result_is_the_header_alone(session, park):
    rows, text = write(session, "csv", species="Sika deer", stations=["KP-02"])
    assert rows == 0
    assert text == ",".join(tables.SIGHTING_COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"date_from": "2024-05-07", "date_to": "2024-05-07"}, {"s4"}),  # a local date
        ({"date_from": "2024-05-03"}, {"s3", "s4", "s5"}),
        ({"date_to": "2024-05-02"}, {"s1", "s2"}),
        ({"stations": ["KP-02"]}, {"s4"}),
        ({"species": "sika DEER"}, {"s3"}),
        ({"individual": "AL-12"}, {"s1", "s2", "s5"}),
        ({"species": LEOPARD, "stations": ["KP-01"], "date_from": "2024-05-10"}, {"s5"}),
    ],
)
def test_filters(session, park, filters, expected):
    _, text = write(session, "csv", **filters)
    ids = {park["s"][k] for k in expected}
    assert {int(r["observationID"]) for r in read_csv(text)} == ids


# --- independent events ---------------------------------------------------------------------------


def test_events_csv_has_one_row_per_independent_event(session, park):
    rows, text = write(session, "events-csv")
    found = read_csv(text)
    assert list(found[0]) == list(tables.EVENT_COLUMNS)
    assert rows == len(found) == len(session.execute(events.events()).all()) == 4
    s = park["s"]
    first = found[0]
    assert (first["eventID"], first["eventStart"], first["eventEnd"]) == (
        str(s["s1"]), "2024-05-02T10:40:00+10:00", "2024-05-02T10:56:00+10:00"
    )  # fmt: skip
    assert (first["individualID"], first["sex"], first["count"], first["observations"]) == (
        "AL-12", "female", "2", "2"
    )  # fmt: skip
    assert [r["eventID"] for r in found] == [str(s[k]) for k in ("s1", "s3", "s4", "s5")]


def test_csv_with_the_events_option_is_the_events_csv(session, park):
    assert write(session, "csv", Options(now=NOW, events=True)) == write(session, "events-csv")


def test_events_follow_the_filters(session, park):
    _, text = write(session, "events-csv", individual="AL-12", date_from="2024-05-10")
    assert [r["eventID"] for r in read_csv(text)] == [str(park["s"]["s5"])]


# --- GeoJSON --------------------------------------------------------------------------------------


def test_geojson_points(session, park):
    rows, text = write(session, "geojson")
    data = json.loads(text)
    assert data["type"] == "FeatureCollection"
    assert rows == len(data["features"]) == 5  # not the untimed s6
    by_id = {f["properties"]["observationID"]: f for f in data["features"]}
    first = by_id[park["s"]["s1"]]
    assert first["type"] == "Feature"
    assert first["geometry"] == {"type": "Point", "coordinates": [KP1[1], KP1[0]]}  # lon, lat
    assert first["properties"]["eventStart"] == "2024-05-02T10:40:00+10:00"
    assert first["properties"]["lifeStage"] == "juvenile"
    assert "latitude" not in first["properties"]


def test_geojson_per_station_counts(session, park):
    rows, text = write(session, "geojson", Options(now=NOW, per_station=True))
    features = json.loads(text)["features"]
    assert rows == len(features) == 2
    kp1, kp2 = (f["properties"] for f in features)
    assert features[1]["geometry"]["coordinates"] == [KP2[1], KP2[0]]
    assert (kp1["locationID"], kp1["sightings"], kp1["independentEvents"]) == ("KP-01", 4, 3)
    assert kp1["individuals"] == 1
    assert kp1["species"] == [
        {"scientificName": LEOPARD, "vernacularName": "Amur leopard", "sightings": 3,
         "independentEvents": 2},
        {"scientificName": "Cervus nippon", "vernacularName": "Sika deer", "sightings": 1,
         "independentEvents": 1},
    ]  # fmt: skip
    assert (kp2["sightings"], kp2["independentEvents"], kp2["individuals"]) == (1, 1, 0)


def test_geojson_per_station_follows_the_filters(session, park):
    _, text = write(session, "geojson", Options(now=NOW, per_station=True), species="Sika deer")
    kp1, kp2 = (f["properties"] for f in json.loads(text)["features"])
    assert (kp1["sightings"], kp1["independentEvents"]) == (1, 1)
    assert (kp2["sightings"], kp2["species"]) == (0, [])


# --- effort ---------------------------------------------------------------------------------------


def test_effort_hand_computed(session, park):
    found = effort.effort(session, Filters(), Options(now=NOW), today=TODAY)
    kp1, kp2 = found.stations
    nights = {d.deployment_id: d.trap_nights for s in found.stations for d in s.deployments}
    dep = park["dep"]
    # Camera-days, both ends included: d1 1-11 May: 11; d2 open since 11 May, until its latest
    # sighting on the 15th (not today, the 21st: the days since are not in the tracker yet): 5;
    # d3 5-8 May: 4; d4 7-9: 3.
    assert nights == {dep["d1"]: 11, dep["d2"]: 5, dep["d3"]: 4, dep["d4"]: 3}
    assert [d.open for d in kp1.deployments] == [False, True]
    # 11 May at KP-01 and 7 and 8 May at KP-02 had two cameras: one trap-night each.
    assert (kp1.trap_nights, kp2.trap_nights, found.trap_nights) == (15, 5, 20)
    leopard, deer = found.species
    assert (leopard.scientific_name, deer.common_name) == (LEOPARD, "Sika deer")
    assert kp1.events == {leopard.id: 2, deer.id: 1}
    assert (kp1.rate(leopard.id), kp1.rate(deer.id), kp1.rate()) == (13.333, 6.667, 20.0)
    assert kp2.rate(leopard.id) == 20.0
    assert (found.rate(leopard.id), found.rate(deer.id)) == (15.0, 5.0)


def test_effort_clipped_to_the_date_range(session, park):
    filters = Filters.parse(session, date_from="2024-05-06", date_to="2024-05-12")
    found = effort.effort(session, filters, Options(now=NOW), today=TODAY)
    kp1, kp2 = found.stations
    spans = [(d.start, d.end, d.trap_nights) for s in found.stations for d in s.deployments]
    assert spans == [
        (date(2024, 5, 6), date(2024, 5, 11), 6),
        (date(2024, 5, 11), date(2024, 5, 12), 2),  # open: cut at the end of the 12th
        (date(2024, 5, 6), date(2024, 5, 8), 3),
        (date(2024, 5, 7), date(2024, 5, 9), 3),
    ]
    assert (kp1.trap_nights, kp2.trap_nights) == (7, 4)
    [leopard] = found.species  # the deer was seen outside the range
    assert (kp1.rate(leopard.id), kp2.rate(leopard.id)) == (0.0, 25.0)


def test_effort_of_an_open_deployment_ends_at_its_latest_data_the_range_or_today(session, park):
    until = Filters.parse(session, date_to="2024-05-13")
    [_, d2] = effort.effort(session, until, Options(now=NOW), today=TODAY).stations[0].deployments
    assert (d2.end, d2.trap_nights) == (date(2024, 5, 13), 3)
    later = Filters.parse(session, date_to="2024-12-31")  # the latest sighting is on the 15th
    [_, d2] = effort.effort(session, later, Options(now=NOW), today=TODAY).stations[0].deployments
    assert (d2.end, d2.trap_nights) == (date(2024, 5, 15), 5)
    earlier = date(2024, 5, 13)  # data dated after today (a clock to fix) is not effort yet
    [_, d2] = (
        effort.effort(session, Filters(), Options(now=NOW), today=earlier).stations[0].deployments
    )
    assert (d2.end, d2.trap_nights) == (earlier, 3)


def test_effort_out_of_range_and_filtered_stations(session, park):
    filters = Filters.parse(session, date_from="2024-06-01", stations=["KP-02"])
    [kp2] = effort.effort(session, filters, Options(now=NOW), today=TODAY).stations
    assert (kp2.station.code, kp2.trap_nights, kp2.deployments, kp2.rate()) == (
        "KP-02", 0, (), None
    )  # fmt: skip


def test_effort_csv(session, park):
    rows, text = write(session, "effort")
    found = read_csv(text)
    assert list(found[0]) == list(effort.EFFORT_COLUMNS)
    assert rows == len(found) == 2 + 4 + 4 + 2  # stations, deployments, station-species, species
    station = found[0]
    assert (station["level"], station["locationID"], station["trapNights"]) == (
        "station", "KP-01", "15"
    )  # fmt: skip
    assert (station["independentEvents"], station["eventsPer100TrapNights"]) == ("3", "20.0")
    d2 = found[2]
    assert (d2["level"], d2["deploymentID"], d2["start"], d2["end"], d2["trapNights"]) == (
        "deployment", str(park["dep"]["d2"]), "2024-05-11", "2024-05-15", "5"
    )  # fmt: skip
    columns = ("level", "locationID", "scientificName", "independentEvents")
    rate = "eventsPer100TrapNights"
    per_species = [(*(r[c] for c in columns), r[rate]) for r in found if "species" in r["level"]]
    assert per_species == [
        ("station-species", "KP-01", LEOPARD, "2", "13.333"),
        ("station-species", "KP-01", "Cervus nippon", "1", "6.667"),
        ("station-species", "KP-02", LEOPARD, "1", "20.0"),
        ("station-species", "KP-02", "Cervus nippon", "0", "0.0"),
        ("species", "", LEOPARD, "3", "15.0"),
        ("species", "", "Cervus nippon", "1", "5.0"),
    ]


def test_effort_of_one_individual(session, park):
    _, text = write(session, "effort", individual="AL-12")
    species_rows = [r for r in read_csv(text) if r["level"] == "species"]
    assert [(r["scientificName"], r["independentEvents"]) for r in species_rows] == [(LEOPARD, "2")]


# --- public exports -------------------------------------------------------------------------------


def exact_places() -> set[str]:
    """Every exact station and photo coordinate, written as exports might write it."""
    values = [v for pair in (KP1, KP2, *EXIF) for v in pair]
    return {text for v in values for text in (repr(v), f"{v:.4f}", f"{v:.5f}", f"{v:.6f}")}


@pytest.mark.parametrize(("fmt", "per_station"), PUBLIC_FORMATS)
def test_public_exports_carry_no_exact_coordinate(session, park, fmt, per_station):
    _, team = write(session, fmt, Options(now=NOW, per_station=per_station))
    assert repr(KP1[0]) in team  # the search finds what is there
    _, public = write(
        session, fmt, Options(now=NOW, public=True, grid=0.1, per_station=per_station)
    )
    assert [place for place in exact_places() if place in public] == []
    assert "Ridge trail" not in public
    assert "by the fallen oak" not in public
    assert "logger@park.test" not in public
    assert "43.15" in public and "131.45" in public  # KP-01's grid cell centre


def test_public_csv_generalises_to_the_grid(session, park):
    _, text = write(session, "csv", Options(now=NOW, public=True, grid=0.1))
    row = read_csv(text)[0]
    assert (row["locationID"], row["latitude"], row["longitude"]) == ("KP-01", "43.15", "131.45")
    assert row["locationName"] == row["observationComments"] == row["classifiedBy"] == ""
    _, coarse = write(session, "csv", Options(now=NOW, public=True, grid=0.5))
    assert read_csv(coarse)[0]["latitude"] == "43.25"


# --- the audit log --------------------------------------------------------------------------------


def test_every_export_is_audited(app, session, park):
    write(session, "csv", species="Sika deer")
    write(session, "effort", Options(now=NOW, public=True))
    session.commit()  # as the CLI and the page do: run_export leaves the commit to its caller
    found = fetch(app, select(AuditLog.action, AuditLog.details).order_by(AuditLog.id))
    assert [action for action, _ in found] == ["export", "export"]
    first, second = (details for _, details in found)
    assert (first["format"], first["rows"], first["public"]) == ("csv", 1, False)  # timed
    assert first["filters"]["species"] == "Sika deer"
    assert (second["format"], second["public"]) == ("effort", True)


# --- tracker export -------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    """An empty folder for the files (the test database lives in tmp_path)."""
    path = tmp_path / "exports"
    path.mkdir()
    return path


def test_cli_export(app, runner, park, folder):
    out = folder / "log.csv"
    filters = ["--station", "KP-01", "--station", "KP-02", "--from", "2024-05-03"]
    result = runner.invoke(args=["export", "--format", "csv", "--out", str(out), *filters])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"3 rows written to {out}\n"
    assert len(read_csv(out.read_text())) == 3
    assert [p.name for p in folder.iterdir()] == ["log.csv"]  # the temporary file is gone
    [(user, details)] = fetch(app, select(AuditLog.user_id, AuditLog.details))
    assert user is None
    assert details["filters"]["stations"] == ["KP-01", "KP-02"]
    assert details["filters"]["from"] == "2024-05-03"


def test_cli_public_geojson_per_station(runner, park, folder):
    out = folder / "stations.geojson"
    args = ["export", "--format", "geojson", "--out", str(out), "--public", "--per-station"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    features = json.loads(out.read_text())["features"]
    assert features[0]["geometry"]["coordinates"] == [131.45, 43.15]


def test_cli_empty_result_is_a_file_with_its_header(runner, park, folder):
    out = folder / "none.csv"
    args = ["export", "--format", "events-csv", "--out", str(out), "--species", "Wild boar"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"0 rows written to {out}\n"
    assert out.read_text() == ",".join(tables.EVENT_COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--individual", "AL-99"], "individual: No individual with code AL-99"),
        (["--from", "2024-05-10", "--to", "2024-05-01"], "is before the start date"),
        (["--from", "10/05/2024"], "not a date in the form YYYY-MM-DD"),
        (["--species", "Snow leopard"], "No species called"),
        (["--station", "KP-77"], "No station with code KP-77"),
        (["--format", "xlsx"], "Unknown format 'xlsx'"),
    ],
)
def test_cli_refuses_bad_filters_and_writes_nothing(app, runner, park, folder, args, message):
    out = folder / "refused.csv"
    fmt = [] if "--format" in args else ["--format", "csv"]
    result = runner.invoke(args=["export", *fmt, "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(folder.iterdir()) == []
    assert fetch(app, select(AuditLog.id)) == []


def test_cli_refuses_a_missing_folder(runner, park, folder):
    result = runner.invoke(args=["export", "--format", "csv", "--out", str(folder / "no/x.csv")])
    assert result.exit_code == 2
    assert "There is no folder" in result.stderr


def test_cli_a_format_refusing_an_option_exits_2(runner, park, folder, monkeypatch):
    def refusing(session, filters, out, options):
        out.write(b"half a file")
        raise InvalidInput({"public": "This format is never public."})

    monkeypatch.setattr(formats, "FORMATS", (Format("csv", refusing, "csv", "text/csv", "CSV"),))
    result = runner.invoke(args=["export", "--format", "csv", "--out", str(folder / "x.csv")])
    assert result.exit_code == 2
    assert "public: This format is never public." in result.stderr
    assert list(folder.iterdir()) == []


def test_cli_failure_leaves_no_file(runner, park, folder, monkeypatch):
    def broken(session, filters, out, options):
        out.write(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(formats, "FORMATS", (Format("csv", broken, "csv", "text/csv", "CSV"),))
    out = folder / "log.csv"
    result = runner.invoke(args=["export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 1
    assert list(folder.iterdir()) == []


# --- the export pages -----------------------------------------------------------------------------


def download(client, **data):
    token = csrf_token(client, "/exports/")
    return client.post("/exports/", data={"csrf_token": token, **data})


def test_download(app, as_role, users, park):
    client = as_role("researcher")
    with download(client, format="csv", species=LEOPARD, stations=["KP-01"]) as response:
        assert response.status_code == 200
        body = response.get_data(as_text=True)
    stamp = TODAY
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=tracker-csv-{stamp}.csv"
    )
    assert response.mimetype == "text/csv"
    assert len(read_csv(body)) == 3
    [(user, details)] = fetch(app, EXPORTS)
    assert user == users["researcher"].id
    assert details["filters"]["stations"] == ["KP-01"]
    assert details["rows"] == 3  # written in once the file was complete


def many_deer(session, n: int) -> None:
    deployment = session.scalar(select(Deployment.id).limit(1))
    deer = session.scalar(select(Species.id).where(Species.common_name == "Sika deer"))
    session.execute(insert(Sighting), [
        {"deployment_id": deployment, "species_id": deer, "event_start": utc(4, 0) +
         timedelta(minutes=n), "event_end": utc(4, 0) + timedelta(minutes=n), "comments": "x" * 80}
        for n in range(n)
    ])  # fmt: skip
    session.commit()


def test_download_streams_while_it_is_written(app, as_role, park, session, monkeypatch):
    """A large export goes out in blocks as the writer makes them: the audit row is committed
    before the first byte (rows unknown), its row count once the file is complete."""
    monkeypatch.setattr(stream, "BLOCK", 4096)
    many_deer(session, 300)
    monkeypatch.setattr(stream, "FIRST_WAIT_S", 5)
    with download(as_role("admin"), format="csv") as response:
        assert response.status_code == 200
        assert response.is_streamed
        assert response.content_length is None  # not known before the end
        blocks = response.response
        first = next(blocks)
        [(_, started)] = fetch(app, EXPORTS)
        assert started["rows"] is None
        chunks = [first, *blocks]
    assert len(chunks) > 1
    body = b"".join(chunks)
    assert len(read_csv(body.decode())) == 305  # and not the untimed sighting
    [(_, done)] = fetch(app, EXPORTS)
    assert done["rows"] == 305


def test_a_download_the_client_leaves_stops_the_writer(app, as_role, park, session, monkeypatch):
    many_deer(session, 1000)  # a hundred blocks of the CSV writer's
    monkeypatch.setattr(stream, "BLOCK", 16)
    monkeypatch.setattr(stream, "DEPTH", 1)
    with download(as_role("admin"), format="csv") as response:
        blocks = response.response
        next(blocks)
        blocks.close()  # what the server does when the connection drops
    writers = [t for t in threading.enumerate() if t.name.startswith("export-")]
    for writer in writers:
        writer.join(timeout=10)
        assert not writer.is_alive()
    [(_, details)] = fetch(app, EXPORTS)
    assert details["rows"] is None  # the trace of an export that did not complete


def test_download_public_geojson(as_role, park):
    client = as_role("researcher")
    with download(client, format="geojson", public="y", per_station="y") as response:
        assert response.status_code == 200
        text = response.get_data(as_text=True)
    assert response.headers["Content-Disposition"].endswith(".geojson")
    assert response.mimetype == "application/geo+json"
    assert [place for place in exact_places() if place in text] == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"individual": "AL-99"}, "No individual with code AL-99"),
        ({"date_from": "2024-05-10", "date_to": "2024-05-01"}, "is before the start date"),
        ({"stations": ["KP-77"]}, "is not a valid choice"),
    ],
)
def test_bad_filters_show_the_page_with_a_message(app, as_role, park, data, message):
    response = download(as_role("researcher"), format="csv", **data)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert message in response.get_data(as_text=True)
    assert fetch(app, EXPORTS) == []


def test_export_page_lists_formats_and_filters(as_role, park):
    html = as_role("admin").get("/exports/").get_data(as_text=True)
    for text in ('value="events-csv"', 'value="effort"', 'value="KP-02"', "Sika deer", "0.1°"):
        assert text in html


def test_effort_page(as_role, park):
    client = as_role("researcher")
    html = client.get("/exports/effort").get_data(as_text=True)
    assert "15.00 (3)" in html  # leopards over all stations: 3 events in 20 trap-nights
    assert "20.00 (1)" in html  # at KP-02
    assert "in the field" in html
    ranged = client.get("/exports/effort?date_from=2024-05-06&date_to=2024-05-12&stations=KP-02")
    assert ranged.status_code == 200
    assert "25.00 (1)" in ranged.get_data(as_text=True)
    refused = client.get("/exports/effort?date_from=2024-05-12&date_to=2024-05-06")
    assert refused.status_code == 400
    assert "is before the start date" in refused.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/exports/", "/exports/effort"])
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(("role", "status"), [("ranger", 403), ("researcher", 200), ("admin", 200)])
@pytest.mark.parametrize("path", ["/exports/", "/exports/effort"])
def test_permissions(as_role, path, role, status):
    assert as_role(role).get(path).status_code == status


def test_ranger_cannot_download(as_role, park):
    client = as_role("ranger")
    token = csrf_token(client, "/")
    response = client.post("/exports/", data={"csrf_token": token, "format": "csv"})
    assert response.status_code == 403


@pytest.mark.parametrize(("role", "shown"), [("ranger", False), ("researcher", True)])
def test_nav_link_only_for_those_who_may_export(as_role, role, shown):
    assert ('href="/exports/"' in as_role(role).get("/").get_data(as_text=True)) is shown
