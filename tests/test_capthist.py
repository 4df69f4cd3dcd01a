"""Capture histories for secr: a small example computed by hand, checked line by line."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pyproj import Transformer
from sqlalchemy import select

from tracker import clock, fieldwork
from tracker.errors import InvalidInput
from tracker.exports import formats
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
    files = export_secr(session, filters, occasion_days=2)
    assert sorted(files) == ["README.txt", "captures.txt", "rows", "traps.txt"]
    assert data_lines(files["captures.txt"]) == [
        ["LLNP2024", "AL-01", "1", "KP-01", "F"],
        ["LLNP2024", "AL-01", "2", "KP-02", "F"],
        ["LLNP2024", "AL-02", "3", "KP-01", "M"],
        ["LLNP2024", "AL-02", "3", "KP-02", "M"],
    ]
    assert files["rows"] == 4
    assert "# Session ID Occasion Detector Sex" in files["captures.txt"]
    traps = data_lines(files["traps.txt"])
    assert [(t[0], t[3]) for t in traps] == [("KP-01", "111"), ("KP-02", "011")]
    project = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True)
    for (name, x, y, _usage), (lat, lon) in zip(traps, (KP1, KP2), strict=True):
        expected = project.transform(lon, lat)
        assert (float(x), float(y)) == pytest.approx(expected, abs=0.05), name
        assert 600_000 < float(x) < 800_000  # the park lies near the zone's eastern edge
        assert 4_700_000 < float(y) < 4_800_000
    readme = files["README.txt"]
    assert (
        'read.capthist("captures.txt", "traps.txt",\n'
        '        detector = "proximity", covnames = "Sex", noccasions = 3)'
    ) in readme
    assert "LLNP2024: 2024-05-01 to 2024-05-06, 3 occasions of 2 day(s)" in readme


def test_one_day_occasions_and_the_survey_from_the_deployments(session, survey):
    files = export_secr(session)  # no dates: the deployments' span, 1-day occasions
    assert [(t[0], t[3]) for t in data_lines(files["traps.txt"])] == [
        ("KP-01", "111111"),
        ("KP-02", "001111"),
    ]
    captures = data_lines(files["captures.txt"])
    assert ["LLNP2024", "AL-01", "1", "KP-01", "F"] in captures
    assert ["LLNP2024", "AL-01", "2", "KP-01", "F"] in captures  # 2 May: another occasion now
    assert len(captures) == 5 and files["rows"] == 5


def test_chosen_stations_only(session, survey):
    filters = Filters.parse(session, stations=["KP-02"])
    files = export_secr(session, filters)
    assert [(t[0], t[3]) for t in data_lines(files["traps.txt"])] == [("KP-02", "1111")]
    assert data_lines(files["captures.txt"]) == [
        ["LLNP2024", "AL-01", "2", "KP-02", "F"],
        ["LLNP2024", "AL-02", "3", "KP-02", "M"],
    ]  # occasions count from 3 May, when KP-02's camera went up


def test_another_species_and_unknown_sex(session, survey):
    tiger = session.scalar(select(Individual).where(Individual.code == "AT-01"))
    tiger.sex = "unknown"
    session.commit()
    files = export_secr(session, Filters.parse(session, species="Amur tiger"))
    assert data_lines(files["captures.txt"]) == [["LLNP2024", "AT-01", "4", "KP-01", "NA"]]
    assert "Panthera tigris altaica" in files["captures.txt"]


def test_a_survey_across_new_year_is_one_session_per_year(session):
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
    files = export_secr(session, filters)
    assert sorted(files) == [
        "README.txt", "captures.txt", "rows", "traps-LLNP2024.txt", "traps-LLNP2025.txt"
    ]  # fmt: skip
    assert data_lines(files["captures.txt"]) == [
        ["LLNP2024", "AL-05", "2", "KP-09", "F"],
        ["LLNP2025", "NONE", "3", "KP-07", "NA"],  # secr's line for a session with no captures
    ]
    assert [t[0] for t in data_lines(files["traps-LLNP2025.txt"])] == ["KP-07", "KP-09"]
    assert [t[3] for t in data_lines(files["traps-LLNP2024.txt"])] == ["11", "11"]
    assert (
        'read.capthist("captures.txt", c("traps-LLNP2024.txt", "traps-LLNP2025.txt"),\n'
        in files["README.txt"]
    )
    assert "noccasions = c(2, 3)" in files["README.txt"]


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
