"""The public policy (tracker.public), checked against every export format and the public map.

The park holds everything a public output must not show: a station exactly on a grid line
(43.3 N), exact station and EXIF positions, a person and a vehicle passing a camera, a card
folder named after a place and its coordinates, station names, comments, notes, an outage's
reason and who logged each sighting. Each format in the explicit list is exported in public and
searched for them, so a new format cannot skip the policy (or must refuse to be public).
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tracker import mapdata, mapfilters
from tracker.errors import InvalidInput
from tracker.exports import formats
from tracker.exports.core import Filters, Options
from tracker.models import (
    LEOPARD,
    Deployment,
    DeploymentOutage,
    Image,
    Individual,
    Sighting,
    Species,
    Station,
    User,
)
from tracker.public import MAX_GRID, MIN_GRID, PublicPolicy, cell_index

NOW = datetime(2024, 5, 21, 3, tzinfo=UTC)
ON_THE_LINE = (43.3, 131.3)  # exactly on a 0.1 degree grid line: the cell from 43.3 to 43.4
EXACT = (43.1234567, 131.4567891)
EXIF = (43.1111119, 131.2222229)
CARD_FOLDER = "Kedrovaya gorge 43.15257N 131.36616E"
SECRETS = ("Kedrovaya", "43.15257", "IMG_0001", "IMG_0002", "Ridge trail", "Spring cabin",
           "fallen oak", "ranger passed", "logger@park.test", "stolen near", "limps",
           "Homo sapiens", "Quad bike", "1234567", "4567891", "1111119", "2222229")  # fmt: skip
# Every format in the list, and the variants a format's options select.
VARIANTS = [(f.name, {}) for f in formats.FORMATS] + [
    ("geojson", {"per_station": True}),
    ("csv", {"events": True}),
]


def utc(day: int, hour: int) -> datetime:
    return datetime(2024, 5, day, hour, tzinfo=UTC)


@pytest.fixture
def park(session):
    line = Station(
        code="KP-43",
        name="Spring cabin",
        latitude=ON_THE_LINE[0],
        longitude=ON_THE_LINE[1],
        notes="behind the Spring cabin",
    )
    exact = Station(code="KP-02", name="Ridge trail", latitude=EXACT[0], longitude=EXACT[1])
    tz = "Asia/Vladivostok"
    d1 = Deployment(
        station=line,
        start_date=date(2024, 5, 1),
        end_date=date(2024, 5, 11),
        timezone=tz,
        notes="Spring cabin key under the stone",
    )
    d2 = Deployment(
        station=exact, start_date=date(2024, 5, 1), end_date=date(2024, 5, 11), timezone=tz
    )
    d1.outages.append(
        DeploymentOutage(
            start_date=date(2024, 5, 8), end_date=date(2024, 5, 9), reason="stolen near the cabin"
        )
    )
    species = {s.scientific_name: s for s in session.scalars(select(Species))}
    quad = Species(scientific_name="Quad bike", common_name="Quad bike", kind="vehicle")
    cat = Individual(code="AL-12", sex="female", species=species[LEOPARD], notes="limps")
    ranger = User(email="logger@park.test", password_hash="x", role="ranger")
    session.add_all([line, exact, d1, d2, quad, cat, ranger])
    session.flush()

    def photo(n: int, deployment: Deployment, taken: datetime) -> Image:
        return Image(sha256=f"{n:064x}", stored_path=f"00/{n:064x}.jpg", bytes=1000,
                     original_filename=f"{CARD_FOLDER}/IMG_000{n}.JPG", taken_at_utc=taken,
                     taken_at_raw=taken.strftime("%Y:%m:%d %H:%M:%S"), latitude=EXIF[0],
                     longitude=EXIF[1], location_source="exif", deployment=deployment)  # fmt: skip

    def sight(deployment, kind: Species, taken: datetime, image: Image, **fields) -> Sighting:
        return Sighting(deployment=deployment, species=kind, event_start=taken,
                        event_end=taken, logged_by=ranger, logged_at=utc(20, 2), images=[image],
                        **fields)  # fmt: skip

    leopard = photo(1, d1, utc(2, 1))
    person = photo(2, d1, utc(3, 1))
    vehicle = photo(3, d2, utc(4, 1))
    session.add_all([
        sight(d1, species[LEOPARD], utc(2, 1), leopard, individual=cat, comments="fallen oak"),
        sight(d1, species["Homo sapiens"], utc(3, 1), person, comments="ranger passed"),
        sight(d2, quad, utc(4, 1), vehicle),
        sight(d2, species["Cervus nippon"], utc(5, 1), photo(4, d2, utc(5, 1))),
    ])  # fmt: skip
    session.commit()
    return {"leopard": leopard.sha256, "person": person.sha256, "vehicle": vehicle.sha256}


def export_text(session, fmt: str, **options) -> str:
    """The whole export as text: a zip's members one after another."""
    out = io.BytesIO()
    options = {"base_url": "https://tracker.example"} | options  # Camtrap DP needs one
    formats.run_export(session, fmt, Filters(), out, Options(now=NOW, **options))
    data = out.getvalue()
    if not data.startswith(b"PK"):
        return data.decode("utf-8")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "\n".join(archive.read(name).decode("utf-8") for name in archive.namelist())


@pytest.mark.parametrize(("fmt", "variant"), VARIANTS, ids=lambda v: str(v or ""))
def test_every_public_format_follows_the_policy(session, park, fmt, variant):
    try:
        text = export_text(session, fmt, public=True, grid=0.1, **variant)
    except InvalidInput as refused:  # a format that cannot be public refuses to be
        assert "public" in refused.errors
        return
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == []
    assert "vehicle" not in text.lower()  # observationType (the people: their species name)
    assert park["person"] not in text and park["vehicle"] not in text
    # Every coordinate is the centre of its 0.1 degree cell; the station on the line is in the
    # cell north and east of it, as on the public map.
    coordinates = [float(c) for c in re.findall(r"(?<![\d.])(?:43|131)\.\d+", text)]
    assert coordinates, "the export has positions"
    assert all(round(c * 10 - 0.5, 6) == int(c * 10) for c in coordinates), coordinates
    assert "43.35" in text and "131.35" in text


@pytest.mark.parametrize("fmt", ["csv", "camtrap-dp"])
def test_public_photos_are_named_by_their_stored_name(session, park, fmt):
    text = export_text(session, fmt, public=True)
    assert f"{park['leopard']}.jpg" in text
    team = export_text(session, fmt)
    assert f"{CARD_FOLDER}/IMG_0001.JPG" in team  # the team still sees the card's names


def test_the_team_export_keeps_what_the_public_one_leaves_out(session, park):
    text = export_text(session, "csv")
    for kept in ("Homo sapiens", "Quad bike", "fallen oak", "Ridge trail", "1234567"):
        assert kept in text


@pytest.mark.parametrize("grid", [MIN_GRID / 2, MAX_GRID * 2])
@pytest.mark.parametrize("fmt", [f.name for f in formats.FORMATS if f.name != "secr"])
def test_every_format_refuses_a_grid_the_policy_does_not_allow(session, park, fmt, grid):
    with pytest.raises(InvalidInput) as refused:
        export_text(session, fmt, public=True, grid=grid)
    assert "grid" in refused.value.errors


def test_the_public_map_uses_the_same_cells(session, park):
    filters = mapfilters.parse_filters(
        session, {"species": "all"}, allowed=mapfilters.PUBLIC_PARAMS
    )
    cells = mapdata.public_cells(session, filters, grid=0.1, minutes=30)
    # The deer at KP-02 and the leopard on the line: no person, no vehicle.
    assert [(c.south, c.west, c.north, c.east, c.events) for c in cells] == [
        (43.1, 131.4, 43.2, 131.5, 1),
        (43.3, 131.3, 43.4, 131.4, 1),
    ]
    line = PublicPolicy(0.1)
    assert line.place(*ON_THE_LINE) == (43.35, 131.35)  # the exports' centre of that cell


@pytest.mark.parametrize(
    ("value", "grid", "centre"),
    [(43.1234, 0.1, 43.15), (131.5, 0.1, 131.55), (-33.4567, 0.1, -33.45), (43.19, 0.25, 43.125),
     (43.3, 0.1, 43.35), (43.2, 0.1, 43.25)],
)  # fmt: skip
def test_generalise_to_the_centre_of_the_grid_cell(value, grid, centre):
    assert PublicPolicy(grid).generalise(value) == pytest.approx(centre)


@pytest.mark.parametrize("grid", [0.01, 0.05, 0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("value", [43.3, 43.2, 43.25, 131.3, 0.3, -0.3, -43.3, 179.99, 0.0])
def test_a_cell_holds_its_coordinates_and_its_centre(value, grid):
    policy = PublicPolicy(grid)
    cell = policy.cell(value, value)
    assert cell.south <= value < cell.north or value == pytest.approx(cell.south)
    assert cell.south < policy.generalise(value) < cell.north
    assert cell_index(value, grid) == cell_index(policy.generalise(value), grid)
