"""`tracker inspect` shows what the tracker reads, without touching the database."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from conftest import CORPUS
from PIL import Image as PILImage
from sqlalchemy import select

from tracker import ingest, previews, sources, storage
from tracker.models import Image
from tracker.synthetic import jpeg_bytes, xmp_packet

KEYS = {
    "path", "sha256", "taken_at", "utc_offset", "latitude", "longitude", "altitude",
    "make", "model", "serial", "width", "height", "tags", "error",
}  # fmt: skip
TRACKER = str(Path(sys.executable).with_name("tracker"))


def inspect(*args: str, tmp_path: Path) -> list[dict]:
    # A real process, with an instance folder and no database: inspect must not need one.
    env = {"PATH": os.environ["PATH"], "TRACKER_INSTANCE_PATH": str(tmp_path / "inst")}
    done = subprocess.run([TRACKER, "inspect", *args, "--json"], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_json_lines_with_exactly_the_documented_keys(tmp_path):
    folder = CORPUS / "images"
    lines = inspect(str(folder), tmp_path=tmp_path)
    assert len(lines) == 47
    assert all(set(line) == KEYS for line in lines)
    by_name = {Path(line["path"]).name: line for line in lines}
    huawei = by_name["huawei-gps-error.jpg"]
    assert huawei["taken_at"] == "2020-06-16T18:52:46"
    assert (huawei["make"], huawei["model"]) == ("HUAWEI", "ELE-L29")
    assert abs(huawei["latitude"] - 48.3027777) < 1e-5
    assert by_name["754664a12e36abff7950e796c906ae39.jpg"]["error"]
    assert by_name["Reconyx_HC500_Hyperfire.jpg"]["taken_at"] is not None
    assert not (tmp_path / "inst" / "tracker.sqlite3").exists()


def test_tags_offset_and_hash(tmp_path):
    data = jpeg_bytes(
        datetime(2024, 2, 3, 4, 5, 6),
        utc_offset="+10:00",
        xmp=xmp_packet(["leopard"], ["Species|Amur leopard", "individual|AL-12"]),
    )
    path = tmp_path / "tagged.jpg"
    path.write_bytes(data)
    (line,) = inspect(str(path), tmp_path=tmp_path)
    assert line["taken_at"] == "2024-02-03T04:05:06"
    assert line["utc_offset"] == "+10:00"
    assert "individual|AL-12" in line["tags"]
    assert line["sha256"] == hashlib.sha256(data).hexdigest()


def test_human_readable_output_names_unreadable_files(runner, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a photo")
    result = runner.invoke(args=["inspect", str(tmp_path)])
    assert result.exit_code == 0
    assert "bad.jpg: UNREADABLE" in result.output


def test_previews_command_makes_small_previews_for_every_image(app, runner, session):
    from tracker import fieldwork

    station = fieldwork.create_station(session, code="P-1", latitude=43.0, longitude=131.0)
    dep = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=datetime(2024, 1, 1).date())
    )
    session.commit()
    items = [
        sources.Item(f"{i}.jpg", jpeg_bytes(datetime(2024, 1, 2), seed=i, size=(2592, 1944)))
        for i in range(3)
    ]
    ingest.ingest(session, items, dep, app.config["MEDIA_DIR"])
    result = runner.invoke(args=["previews", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "3 images have previews" in result.output
    for sha in session.scalars(select(Image.sha256)):
        with PILImage.open(
            Path(app.config["MEDIA_DIR"]) / storage.preview_relpath(sha, "preview")
        ) as p:
            assert p.size == (648, 486)  # the 1/4 draft scale of 2592 x 1944
        with PILImage.open(previews.preview_path(app.config["MEDIA_DIR"], sha, "thumb")) as t:
            assert t.size == (324, 243)
