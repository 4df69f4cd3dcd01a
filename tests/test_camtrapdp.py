"""Camtrap DP export: the demo data and a tricky data set, checked by the official validator."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile
import zlib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SHARED
from sqlalchemy import func, select

from tracker import clock, events, fieldwork, ingest, sightings, sources
from tracker.errors import InvalidInput
from tracker.exports import formats
from tracker.exports.core import Filters, Options
from tracker.exports.publisher import Publisher
from tracker.models import LEOPARD, Deployment, Image, Individual, Sighting, Species, Station
from tracker.sightings import SightingInput, TagRules
from tracker.synthetic import jpeg_bytes, xmp_packet

VALIDATOR = SHARED / "camtrap-dp" / "validate.py"
SMALL = (64, 48)  # photos only need EXIF here
# Exact positions the public package must not contain, in any form.
KP1 = (43.11373, 131.48261)
KP2 = (43.20719, 131.35544)
EXIF_GPS = (43.113817, 131.482733)
NAME = 'Кедровая Падь, "ключ" 1'


def export_package(session, tmp_path: Path, filters=None, **options) -> Path:
    """Export through the list of formats (as the CLI and page do); returns the unpacked folder."""
    buffer = io.BytesIO()
    options = {"now": clock.now(), "base_url": "https://tracker.park.test"} | options
    formats.run_export(session, "camtrap-dp", filters or Filters(), buffer, Options(**options))
    folder = tmp_path / f"package{len(list(tmp_path.glob('package*')))}"
    with zipfile.ZipFile(buffer) as archive:
        archive.extractall(folder)
    return folder


def validate(folder: Path, *, strict: bool = True) -> str:
    args = [sys.executable, str(VALIDATOR), str(folder / "datapackage.json")]
    result = subprocess.run(args + (["--strict"] if strict else []), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: PASS" in result.stdout
    return result.stdout


def table(folder: Path, name: str) -> list[dict]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def descriptor(folder: Path) -> dict:
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


def species(session, name: str) -> Species:
    return session.scalar(select(Species).where(Species.scientific_name == name))


def add(session, app, deployment, name, taken, *, tags=None, gps=None, rules=None) -> Image:
    """Ingest one small generated photo written with the camera's own clock."""
    xmp = xmp_packet([], tags) if tags else None
    data = jpeg_bytes(
        taken, size=SMALL, seed=zlib.crc32(name.encode()), xmp=xmp, gps=gps, serial="H5001"
    )
    ingest.ingest(
        session, [sources.Item(name, data)], deployment, app.config["MEDIA_DIR"], tag_rules=rules
    )
    return session.scalar(select(Image).where(Image.original_filename == name))


def tag(session, images, name=LEOPARD, **fields) -> Sighting:
    data = SightingInput(species_id=species(session, name).id, **fields)
    # Some of these photos have timestamp issues on purpose: confirmed, as a person would.
    sighting = sightings.tag_images(session, images, data, timestamp_confirmed=True)
    session.commit()
    return sighting


# --- the tricky data set -------------------------------------------------------------------------


@pytest.fixture
def tricky(app, session):
    """Two stations (one named with a comma, quotes and Cyrillic), a closed deployment whose
    camera ran an hour slow, an open one, and every awkward record the field produces."""
    kp1 = fieldwork.create_station(
        session, code="KP-01", name=NAME, latitude=KP1[0], longitude=KP1[1]
    )
    kp2 = fieldwork.create_station(session, code="KP-02", latitude=KP2[0], longitude=KP2[1])
    march = fieldwork.DeploymentInput(
        start_date=date(2024, 3, 1), end_date=date(2024, 3, 31), camera_serial="H5001",
        clock_offset_s=3600, notes="Camera clock ran an hour slow.",
    )  # fmt: skip
    closed = fieldwork.create_deployment(session, kp1, march)
    running = fieldwork.create_deployment(
        session, kp2, fieldwork.DeploymentInput(start_date=date(2024, 3, 5))
    )
    session.commit()
    night = datetime(2024, 3, 10, 21, 15, 0)  # camera time (an hour slow at KP-01)
    mother = [add(session, app, closed, f"KP01/IMG_{i:04}.JPG", night + timedelta(seconds=2 * i),
                  gps=EXIF_GPS if i == 0 else None) for i in range(2)]  # fmt: skip
    tag(session, mother, individual_code="AL-02", new_individual=True, sex="female",
        life_stage="adult", flank="left", comments='Limping, "left" fore paw')  # fmt: skip
    cub = add(session, app, closed, "KP01/IMG_0003.JPG", night + timedelta(minutes=1))
    tag(session, [cub], life_stage="cub")
    glimpse = add(session, app, closed, "KP01/IMG_0010.JPG", night + timedelta(hours=3))
    tag(session, [glimpse], flank="right")  # an unidentified leopard
    blank = add(session, app, closed, "KP01/IMG_0020.JPG", datetime(2024, 3, 12, 13, 0, 0))
    tag(session, [blank], "Blank")
    person = add(session, app, running, "KP02/IMG_0001.JPG", datetime(2024, 3, 20, 11, 30, 0))
    tag(session, [person], "Homo sapiens", count=2)
    lynx = add(session, app, running, "KP02/IMG_0002.JPG", datetime(2024, 4, 2, 2, 10),
               tags=["Species|Eurasian lynx"], rules=TagRules())  # fmt: skip
    untimed = add(session, app, closed, "KP01/IMG_0030.JPG", None)
    tag(session, [untimed])
    misdated = add(session, app, closed, "KP01/IMG_0040.JPG", datetime(2024, 5, 2, 4, 0, 0))
    tag(session, [misdated], "Cervus nippon")
    deer = add(session, app, running, "KP02/IMG_0003.JPG", datetime(2024, 4, 20, 5, 0))
    tag(session, [deer], "Cervus nippon", count=3, sex="male")
    return {
        "closed": closed.id, "running": running.id, "lynx": lynx.id, "untimed": untimed.id,
        "misdated": misdated.id, "person": person.id, "mother": [i.id for i in mother],
        "cub": cub.id,
    }  # fmt: skip


def test_tricky_data_makes_a_valid_package(session, tricky, tmp_path):
    folder = export_package(session, tmp_path, base_url="https://tracker.park.test/")
    validate(folder)
    deployments = {d["locationID"]: d for d in table(folder, "deployments")}
    media = {m["mediaID"]: m for m in table(folder, "media")}
    observations = table(folder, "observations")
    meta = descriptor(folder)

    closed, running = deployments["KP-01"], deployments["KP-02"]
    assert closed["locationName"] == NAME  # commas, quotes and Cyrillic survive the CSV
    assert closed["deploymentStart"] == "2024-03-01T00:00:00+10:00"
    assert closed["deploymentEnd"] == "2024-03-31T23:59:59+10:00"
    assert closed["timestampIssues"] == "true"  # an untimed photo, a photo in May
    assert "+3600 s" in closed["deploymentComments"]
    assert closed["cameraID"] == "H5001"
    # Still running: it ends on the day of its latest photo, the last day it is known to work.
    assert running["deploymentEnd"] == "2024-04-20T23:59:59+10:00"
    assert running["timestampIssues"] == "false"

    # The photo without a time and the one dated outside its deployment are left out.
    assert f"M{tricky['untimed']}" not in media and f"M{tricky['misdated']}" not in media
    assert "1 photo without a usable capture time" in meta["description"]
    assert "1 photo dated outside its deployment" in meta["description"]
    assert "1 sighting without a time" in meta["description"]
    assert "1 sighting dated outside its deployment" in meta["description"]
    first = media[f"M{tricky['mother'][0]}"]
    assert first["timestamp"] == "2024-03-10T22:15:00+10:00"  # camera time + 1 h
    assert first["filePath"] == f"https://tracker.park.test/images/{tricky['mother'][0]}/original"
    assert first["filePublic"] == "false"
    assert json.loads(first["exifData"])["GPSLatitude"] == pytest.approx(EXIF_GPS[0])

    by_level = {"media": [], "event": []}
    for row in observations:
        by_level[row["observationLevel"]].append(row)
        if row["observationLevel"] == "media":
            assert row["mediaID"] in media
            assert row["eventStart"] == row["eventEnd"] == media[row["mediaID"]]["timestamp"]
        else:
            assert row["mediaID"] == ""
    # mother, cub, glimpse, blank, person, lynx, deer: 7 events (the cub is not merged into her
    # mother's event), and 8 photo-level rows (the mother's sighting rests on two photos).
    assert len(by_level["event"]) == 7 and len(by_level["media"]) == 8
    mother = [r for r in observations if r["individualID"] == "AL-02"]
    assert {r["eventID"] for r in mother} == {mother[0]["eventID"]}
    assert {(r["sex"], r["lifeStage"], r["observationType"]) for r in mother} == {
        ("female", "adult", "animal")
    }
    assert mother[0]["observationComments"] == 'Limping, "left" fore paw'
    cub = next(r for r in by_level["event"] if r["lifeStage"] == "juvenile")
    assert cub["individualID"] == "" and cub["scientificName"] == LEOPARD
    kinds = {r["observationType"]: r for r in by_level["event"]}
    assert kinds["blank"]["scientificName"] == "" and kinds["blank"]["count"] == ""
    assert kinds["human"]["count"] == "2"
    assert media[f"M{tricky['person']}"]["filePublic"] == "false"
    deer = next(r for r in by_level["event"] if r["scientificName"] == "Cervus nippon")
    assert (deer["count"], deer["sex"]) == ("3", "male")

    taxa = {t["scientificName"]: t for t in meta["taxonomic"]}
    assert set(taxa) == {LEOPARD, "Homo sapiens", "Eurasian lynx", "Cervus nippon"}
    assert taxa[LEOPARD]["taxonRank"] == "subspecies"
    assert taxa[LEOPARD]["vernacularNames"] == {
        "eng": "Amur leopard",
        "rus": "дальневосточный леопард",
    }
    assert "taxonRank" not in taxa["Eurasian lynx"]  # created from a photo tag, unconfirmed
    assert meta["temporal"] == {"start": "2024-03-01", "end": "2024-04-20"}
    assert meta["spatial"]["coordinates"][0][0] == [KP2[1], KP1[0]]
    assert meta["project"]["individualAnimals"] is True
    assert "coordinatePrecision" not in meta
    assert table(folder, "individuals") == [
        {"individualID": "AL-02", "individualName": "", "scientificName": LEOPARD,
         "sex": "female", "formerIDs": "", "individualComments": ""}
    ]  # fmt: skip


def test_publisher_and_licence_come_from_the_options(session, tricky, tmp_path):
    publisher = Publisher(
        name="Sikhote-Alin Reserve", email="data@reserve.test", package="sikhote-alin-traps",
        title="Sikhote-Alin camera traps", project="Tiger and leopard survey", acronym="",
        license="CC-BY-4.0",
    )  # fmt: skip
    folder = export_package(session, tmp_path, publisher=publisher)
    validate(folder)
    meta = descriptor(folder)
    assert (meta["name"], meta["title"]) == ("sikhote-alin-traps", "Sikhote-Alin camera traps")
    assert meta["contributors"] == [
        {"title": "Sikhote-Alin Reserve", "email": "data@reserve.test", "role": role}
        for role in ("rightsHolder", "publisher")
    ]
    assert {(x["name"], x["path"]) for x in meta["licenses"]} == {
        ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/")
    }
    assert meta["project"]["title"] == "Tiger and leopard survey"
    assert "acronym" not in meta["project"]  # none given: left out, not empty


def test_public_package_never_holds_an_exact_position(session, tricky, tmp_path):
    folder = export_package(session, tmp_path, public=True, grid=0.1)
    validate(folder)
    meta = descriptor(folder)
    assert meta["coordinatePrecision"] == 0.1
    deployments = {d["locationID"]: d for d in table(folder, "deployments")}
    kp1 = deployments["KP-01"]
    assert (float(kp1["latitude"]), float(kp1["longitude"])) == (43.15, 131.45)
    # Centre to corner of a 0.1 degree cell at 43 N: 0.05 deg of latitude (5.55 km) and of
    # longitude (4.06 km) make 6.88 km; plus 30 m for the GPS.
    assert 6850 <= int(kp1["coordinateUncertainty"]) <= 6950
    assert kp1["locationName"] == "" and "hour slow" not in kp1["deploymentComments"]
    media = table(folder, "media")
    assert media and all(m["filePublic"] == "false" for m in media)
    assert all("GPS" not in m["exifData"] for m in media)
    assert not any(p.suffix.lower() == ".jpg" for p in folder.rglob("*"))
    observations = table(folder, "observations")
    assert all(o["observationComments"] == "" for o in observations)
    assert "human" not in {o["observationType"] for o in observations}  # people stay private
    assert f"M{tricky['person']}" not in {m["mediaID"] for m in media}

    exact = [*KP1, *KP2, *EXIF_GPS]
    forms = {f"{value:.{digits}f}" for value in exact for digits in (3, 4, 5, 6)}
    forms |= {repr(value) for value in exact}
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8")
            leaked = sorted(form for form in forms if form in text)
            assert not leaked, f"{path.name} holds {leaked}"


def test_photos_in_the_package(app, session, tricky, tmp_path):
    with app.app_context():
        folder = export_package(
            session, tmp_path, include_media=True, media_dir=Path(app.config["MEDIA_DIR"])
        )
    validate(folder)
    media = table(folder, "media")
    for row in media:
        data = (folder / row["filePath"]).read_bytes()
        if row["mediaID"] == f"M{tricky['person']}":  # a sighting of people: blurred whole
            assert row["filePath"].endswith("-blurred.jpg")
            assert hashlib.sha256(data).hexdigest() not in row["filePath"]
        else:
            assert row["filePath"] == f"media/{hashlib.sha256(data).hexdigest()}.jpg"
    public = {row["mediaID"]: row["filePublic"] for row in media}
    assert public[f"M{tricky['person']}"] == "false"  # people are never public
    assert public[f"M{tricky['cub']}"] == "true"
    assert len(list((folder / "media").iterdir())) == len(media)


def test_public_package_with_photos_is_refused(session, tricky):
    with pytest.raises(InvalidInput) as refused:
        formats.run_export(
            session, "camtrap-dp", Filters(), io.BytesIO(),
            Options(public=True, include_media=True, now=clock.now()),
        )  # fmt: skip
    assert "never includes the photos" in refused.value.errors["include_media"]


def test_filters_clip_deployments_and_choose_the_animals(session, tricky, tmp_path):
    filters = Filters.parse(
        session, date_from="2024-03-10", date_to="2024-03-20", species="Amur leopard"
    )
    folder = export_package(session, tmp_path, filters)
    validate(folder)
    deployments = {d["locationID"]: d for d in table(folder, "deployments")}
    assert deployments["KP-01"]["deploymentStart"] == "2024-03-10T00:00:00+10:00"
    assert deployments["KP-01"]["deploymentEnd"] == "2024-03-20T23:59:59+10:00"
    assert deployments["KP-02"]["deploymentEnd"] == "2024-03-20T23:59:59+10:00"
    observations = table(folder, "observations")
    assert {o["scientificName"] for o in observations} == {LEOPARD}
    # Only the leopards' photos: the blank and the person are not part of this package.
    assert {m["mediaID"] for m in table(folder, "media")} == {
        f"M{i}" for i in [*tricky["mother"], tricky["cub"]]
    } | {o["mediaID"] for o in observations if o["mediaID"]}
    assert (
        "Filtered: from 2024-03-10, to 2024-03-20, species Amur leopard."
        in descriptor(folder)["description"]
    )


def test_nothing_to_export_is_still_a_valid_package(session, tmp_path):
    folder = export_package(session, tmp_path)
    validate(folder)
    assert table(folder, "deployments") == [] and table(folder, "observations") == []
    assert descriptor(folder)["spatial"]["type"] == "GeometryCollection"


# --- the demo data -------------------------------------------------------------------------------


def test_demo_data_makes_a_valid_package(app, runner, session, tmp_path):
    """The default demo, with a real photo for a few of its latest leopard sightings."""
    result = runner.invoke(args=["demo", "--no-photos"])
    assert result.exit_code == 0, result.output
    latest = session.scalars(
        select(Sighting)
        .join(Species)
        .where(Species.scientific_name == LEOPARD, Sighting.individual_id.is_not(None))
        .order_by(Sighting.event_start.desc())
        .limit(3)
    ).all()
    for n, sighting in enumerate(latest):
        dep = sighting.deployment
        local = sighting.event_start.astimezone(ZoneInfo(dep.timezone))
        taken = local.replace(tzinfo=None) - timedelta(seconds=dep.clock_offset_s)
        image = add(session, app, dep, f"DEMO/{n}.JPG", taken)
        sighting.images.append(image)
    session.commit()

    folder = export_package(session, tmp_path, base_url="http://localhost:5000")
    validate(folder)
    observations = table(folder, "observations")
    event_rows = [o for o in observations if o["observationLevel"] == "event"]
    expected = session.execute(select(func.count()).select_from(events.events().subquery()))
    assert len(event_rows) == expected.scalar()
    assert len([o for o in observations if o["observationLevel"] == "media"]) == 3
    deployments = table(folder, "deployments")
    assert len(deployments) == session.scalar(select(func.count()).select_from(Deployment))
    assert {d["locationID"] for d in deployments} == set(session.scalars(select(Station.code)))
    codes = {o["individualID"] for o in observations} - {""}
    assert codes == {i["individualID"] for i in table(folder, "individuals")}
    assert codes <= set(session.scalars(select(Individual.code)))
    assert any(o["lifeStage"] == "juvenile" for o in event_rows)  # the cubs
