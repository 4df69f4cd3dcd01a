"""`tracker export` reaches every format's options from the command line."""

from __future__ import annotations

import zipfile
from datetime import date, datetime

import pytest
from sqlalchemy import select

from tracker import create_app, fieldwork, ingest, sightings, sources
from tracker.models import LEOPARD, Image, Species
from tracker.synthetic import jpeg_bytes


@pytest.fixture
def tagged_photo(app, session):
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    dep = fieldwork.create_deployment(
        session,
        station,
        fieldwork.DeploymentInput(start_date=date(2024, 3, 1), end_date=date(2024, 3, 31)),
    )
    session.commit()
    photo = sources.Item("IMG_0001.JPG", jpeg_bytes(datetime(2024, 3, 10, 22, 0), seed=1))
    ingest.ingest(session, [photo], dep, app.config["MEDIA_DIR"])
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    data = sightings.SightingInput(
        species_id=leopard.id, individual_code="AL-01", new_individual=True, sex="female"
    )
    sightings.tag_images(session, [session.scalar(select(Image))], data)
    session.commit()


def test_camtrap_dp_with_the_images_in_the_package(runner, tagged_photo, tmp_path):
    out = tmp_path / "package.zip"
    result = runner.invoke(args=["export", "--format", "camtrap-dp", "--out", str(out),
                                 "--include-media"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as package:
        assert any(n.startswith("media/") and n.endswith(".jpg") for n in package.namelist())


def test_camtrap_dp_media_as_app_urls(runner, tagged_photo, tmp_path):
    out = tmp_path / "package.zip"
    result = runner.invoke(args=["export", "--format", "camtrap-dp", "--out", str(out),
                                 "--base-url", "https://tracker.park.example/"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as package:
        media = package.read("media.csv").decode()
    assert "https://tracker.park.example/images/" in media


def test_secr_occasion_length(runner, tagged_photo, tmp_path):
    out = tmp_path / "secr.zip"
    args = ["export", "--format", "secr", "--out", str(out), "--occasion-days", "7"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as histories:
        traps = next(n for n in histories.namelist() if n.startswith("traps"))
        usage = histories.read(traps).decode().split()[-5:]
    assert usage == ["7", "7", "7", "7", "3"]  # camera-days: 31 days of March in 7-day occasions
    assert runner.invoke(args=[*args[:-1], "0"]).exit_code == 2


def test_camtrap_dp_file_paths_point_at_something_real(app, app_config, tagged_photo, tmp_path):
    """Neither the photos nor the tracker's address: refused, as filePath would point nowhere.
    TRACKER_BASE_URL (configuration) gives the address when --base-url does not."""
    out = tmp_path / "package.zip"
    args = ["export", "--format", "camtrap-dp", "--out", str(out)]
    bare = create_app(app_config, web=False).test_cli_runner()
    result = bare.invoke(args=args)
    assert result.exit_code == 2 and not out.exists()
    assert "filePath must point at the photos" in result.output
    configured = create_app({**app_config, "BASE_URL": "https://tracker.park.example"}, web=False)
    result = configured.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as package:
        assert "https://tracker.park.example/images/" in package.read("media.csv").decode()
    for made in (bare.app, configured):
        made.extensions["tracker.engine"].dispose()
