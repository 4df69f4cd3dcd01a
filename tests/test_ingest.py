"""Ingest: every good photo lands once with the right time and place; every bad one is named."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import CORPUS, damaged_jpeg
from sqlalchemy import func, select

from tracker import fieldwork, ingest, preparation, preparing, sources, storage
from tracker.db import get_session
from tracker.exif import ExifData
from tracker.models import AuditLog, Image
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)


@pytest.fixture
def deployment(session):
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    dep = fieldwork.create_deployment(
        session,
        station,
        fieldwork.DeploymentInput(
            start_date=date(2024, 1, 1), end_date=date(2024, 6, 30), clock_offset_s=120
        ),
    )
    session.commit()
    return dep


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_import(runner, *args):
    result = runner.invoke(args=["import", *map(str, args), "--json"])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert lines, (result.output, result.exception)
    return result.exit_code, lines[:-1], lines[-1]


def count_images(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Image))


def test_import_folder_then_reimport_finds_duplicates(app, runner, deployment, tmp_path):
    card = tmp_path / "card"
    for i in range(3):
        write(card, f"DCIM/IMG_{i:04}.JPG", jpeg_bytes(TAKEN, seed=i))
    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert code == 0
    assert [f["status"] for f in files] == ["added"] * 3
    assert set(files[0]) == {"path", "status", "image_id", "reason", "warnings"}
    assert files[0]["path"] == "card/DCIM/IMG_0000.JPG"
    assert summary["summary"] == {"added": 3, "duplicate": 0, "rejected": 0}

    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert code == 0
    assert summary["summary"] == {"added": 0, "duplicate": 3, "rejected": 0}
    assert all(f["image_id"] for f in files)
    assert count_images(app) == 3


def test_import_with_previews_leaves_the_card_browsable(app, runner, deployment, tmp_path):
    card = tmp_path / "card"
    photos = [jpeg_bytes(TAKEN, seed=i) for i in range(3)]
    for i, data in enumerate(photos):
        write(card, f"IMG_{i}.JPG", data)
    plain = write(tmp_path, "plain.jpg", jpeg_bytes(TAKEN, seed=9))
    run_import(runner, plain, "--deployment", deployment.id)
    code, _files, summary = run_import(runner, card, "--deployment", deployment.id, "--previews")
    assert code == 0 and summary["summary"]["added"] == 3, (_files, summary)
    media = Path(app.config["MEDIA_DIR"])
    for data in photos:
        sha = hashlib.sha256(data).hexdigest()
        assert all(
            (media / storage.preview_relpath(sha, s)).exists() for s in storage.PREVIEW_SIZES
        )
    plain_sha = hashlib.sha256(plain.read_bytes()).hexdigest()
    assert not (media / storage.preview_relpath(plain_sha, "thumb")).exists()  # made on first view


def test_a_photo_with_damaged_image_data_lands_named_with_a_warning(
    app, runner, deployment, tmp_path, capfd, as_role
):
    photos = [jpeg_bytes(TAKEN, seed=i) for i in range(3)]
    photos[1] = damaged_jpeg(photos[1])
    card = tmp_path / "card"
    for i, data in enumerate(photos):
        write(card, f"IMG_{i}.JPG", data)
    code, files, summary = run_import(runner, card, "--deployment", deployment.id, "--previews")
    assert code == 0 and summary["summary"]["added"] == 3, (files, summary)
    assert [len(f["warnings"]) for f in files] == [0, 1, 0]
    assert files[1]["path"] == "card/IMG_1.JPG"
    assert files[1]["warnings"][0].startswith("damaged image data (")
    assert files[1]["warnings"][0].endswith("its preview shows what could be read")
    media = Path(app.config["MEDIA_DIR"])
    sha = hashlib.sha256(photos[1]).hexdigest()
    assert all((media / storage.preview_relpath(sha, s)).exists() for s in storage.PREVIEW_SIZES)
    assert capfd.readouterr().err == ""  # nothing unnamed from libjpeg
    # The image's page says so too, long after the import's output is gone.
    researcher = as_role("researcher")
    pages = [researcher.get(f"/images/{f['image_id']}").get_data(as_text=True) for f in files]
    assert ['id="image-damage"' in page for page in pages] == [False, True, False]
    assert "Damaged image data" in pages[1] and "the preview shows only the part" in pages[1]


def test_previews_are_kept_for_a_stored_original_and_made_again_for_a_lost_one(
    app, runner, deployment, tmp_path
):
    """A photo whose original is stored whole keeps its previews; one whose original was lost
    (a crash before the disk had it) has its previews, which went the same way, made again."""
    kept, lost = jpeg_bytes(TAKEN, seed=1), jpeg_bytes(TAKEN, seed=2)
    media = Path(app.config["MEDIA_DIR"])
    for data in (kept, lost):
        sha = hashlib.sha256(data).hexdigest()
        for size in storage.PREVIEW_SIZES:
            write(media, storage.preview_relpath(sha, size), b"\0" * 100)
    storage.store_original(media, hashlib.sha256(kept).hexdigest(), kept)
    card = tmp_path / "card"
    write(card, "IMG_1.JPG", kept)
    write(card, "IMG_2.JPG", lost)
    code, _files, summary = run_import(runner, card, "--deployment", deployment.id, "--previews")
    assert code == 0 and summary["summary"]["added"] == 2, (_files, summary)

    def thumb(data: bytes) -> bytes:
        sha = hashlib.sha256(data).hexdigest()
        return (media / storage.preview_relpath(sha, "thumb")).read_bytes()

    assert thumb(kept) == b"\0" * 100  # left alone: not looked at again
    assert thumb(lost)[:3] == b"\xff\xd8\xff"  # a JPEG again
    assert (media / storage.original_relpath(hashlib.sha256(lost).hexdigest())).read_bytes() == lost


def test_a_card_imported_beside_other_threads_prepares_on_clean_processes(app, deployment):
    """A worker's job thread imports while its other threads run: its preparing processes come
    from a clean server process (a fork could copy a lock another thread holds), and the card
    lands whole, browsable."""
    photos = [jpeg_bytes(TAKEN, seed=40 + i) for i in range(4)]
    items = [sources.Item(f"IMG_{i}.JPG", data) for i, data in enumerate(photos)]
    seen, reports, errors = [], [], []
    busy = threading.Event()
    other = threading.Thread(target=busy.wait, args=(60,))  # another job's thread, running
    other.start()

    def job():
        try:
            seen.append(preparation.start_method())
            with app.app_context():
                session = get_session()
                mine = session.get(type(deployment), deployment.id)
                media = app.config["MEDIA_DIR"]
                reports.append(ingest.ingest(session, items, mine, media, previews=True))
        except Exception as exc:  # surfaced by the assertions below
            errors.append(exc)

    worker = threading.Thread(target=job)
    worker.start()
    worker.join(timeout=120)
    busy.set()
    other.join()
    assert errors == [] and seen == ["forkserver"]
    assert reports[0].summary == {"added": 4, "duplicate": 0, "rejected": 0}
    media = Path(app.config["MEDIA_DIR"])
    for data in photos:
        sha = hashlib.sha256(data).hexdigest()
        assert (media / storage.original_relpath(sha)).read_bytes() == data
        assert all(
            (media / storage.preview_relpath(sha, s)).exists() for s in storage.PREVIEW_SIZES
        )


def test_a_command_with_one_thread_forks_its_preparing_processes():
    """`tracker import` runs one thread: a plain fork, the quickest start, is safe there."""
    code = "from tracker import preparation; print(preparation.start_method())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "fork"


def test_a_batch_commits_once_its_files_are_synced_and_no_later(monkeypatch):
    """A batch's rows never commit before its files are synced, and commit with the first photo
    after that, not when the next batch fills: at a card's end only the last batch is left."""
    monkeypatch.setattr(ingest, "BATCH_SIZE", 3)
    disk, saved = threading.Event(), []

    def save(batch):
        saved.append([item.name for item in batch])
        return [preparing.Outcome(item.name, "added") for item in batch]

    def add(batches, name):
        prepared = preparing.Prepared(name, name * 64, 1, name, ExifData())
        return [outcome.name for outcome in batches.add(prepared)]

    with ThreadPoolExecutor(max_workers=1) as syncer:
        try:
            batches = ingest._Batches(save, disk.wait, syncer)
            assert [add(batches, name) for name in "abc"] == [[], [], []]  # full: its sync starts
            assert add(batches, "d") == [] and saved == []  # its files are not synced yet
            disk.set()
            syncer.submit(lambda: None).result()  # the syncer's one thread is past that sync
            assert add(batches, "e") == ["a", "b", "c"]  # the next batch is not full
            assert [outcome.name for outcome in batches.finish()] == ["d", "e"]
        finally:
            disk.set()  # a failed assertion must not leave the syncer waiting for ever
    assert saved == [["a", "b", "c"], ["d", "e"]]


def test_time_is_corrected_and_raw_kept(session, runner, deployment, tmp_path):
    plain = write(tmp_path, "a.jpg", jpeg_bytes(TAKEN, seed=1))
    offset = write(tmp_path, "b.jpg", jpeg_bytes(TAKEN, seed=2, utc_offset="+09:00"))
    run_import(runner, plain, offset, "--deployment", deployment.id)
    rows = {i.original_filename: i for i in session.scalars(select(Image))}
    a, b = rows["a.jpg"], rows["b.jpg"]
    assert a.taken_at_raw == "2024:03:10 22:15:00"
    # Vladivostok is UTC+10; the deployment's clock runs 2 minutes slow.
    assert a.taken_at_utc == datetime(2024, 3, 10, 12, 17, 0, tzinfo=UTC)
    # A camera that wrote its own offset is read in that offset.
    assert b.taken_at_utc == datetime(2024, 3, 10, 13, 17, 0, tzinfo=UTC)
    assert a.timestamp_issue is None and b.timestamp_issue is None


def test_place_from_gps_or_station(session, runner, deployment, tmp_path):
    gps = write(tmp_path, "gps.jpg", jpeg_bytes(TAKEN, seed=1, gps=(43.2, 131.4)))
    zero = write(tmp_path, "zero.jpg", jpeg_bytes(TAKEN, seed=2, gps=(0.0, 0.0)))
    none = write(tmp_path, "none.jpg", jpeg_bytes(TAKEN, seed=3))
    run_import(runner, gps, zero, none, "--deployment", deployment.id)
    rows = {i.original_filename: i for i in session.scalars(select(Image))}
    assert rows["gps.jpg"].location_source == "exif"
    assert rows["gps.jpg"].latitude == pytest.approx(43.2)
    assert rows["gps.jpg"].longitude == pytest.approx(131.4)
    for name in ("zero.jpg", "none.jpg"):
        assert rows[name].location_source == "station"
        assert rows[name].latitude is None


@pytest.mark.parametrize(
    ("taken", "issue"),
    [
        (datetime(2023, 12, 31, 12, 0), "outside the deployment period"),
        (datetime(2024, 7, 1, 0, 5), "outside the deployment period"),
        ("0000:00:00 00:00:00", "not set"),
        (None, "no capture time"),
    ],
)
def test_bad_times_are_imported_and_flagged(session, runner, deployment, tmp_path, taken, issue):
    path = write(tmp_path, "x.jpg", jpeg_bytes(taken, seed=5))
    code, files, _ = run_import(runner, path, "--deployment", deployment.id)
    assert code == 0 and files[0]["status"] == "added"
    assert issue in session.scalar(select(Image.timestamp_issue))


def test_last_local_day_of_the_deployment_is_inside(app, runner, deployment, tmp_path):
    path = write(tmp_path, "x.jpg", jpeg_bytes(datetime(2024, 6, 30, 23, 50), seed=5))
    run_import(runner, path, "--deployment", deployment.id)
    with app.app_context():
        assert get_session().scalar(select(Image.timestamp_issue)) is None


def _truncated() -> bytes:
    return jpeg_bytes(TAKEN, seed=9)[:-5000]


def _png() -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.new("RGB", (10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def _huge_header() -> bytes:
    """A small JPEG whose frame header claims 40000 x 40000 pixels (an image bomb)."""
    data = bytearray(jpeg_bytes(None, seed=3, size=(64, 64), make=None, model=None))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (40000).to_bytes(2, "big") * 2
    return bytes(data)


BAD_FILES = {
    "photo.png.jpg": (_png, "PNG"),
    "phone.heic": (lambda: b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "HEIC"),
    "notes.jpg": (lambda: b"camera battery low, replace next visit\n" * 20, "text"),
    "empty.jpg": (lambda: b"", "empty"),
    "cut.jpg": (_truncated, "truncated"),
    "bomb.jpg": (_huge_header, "too large"),
}


def test_every_bad_file_is_named_and_good_ones_land(app, runner, deployment, tmp_path):
    card = tmp_path / "card"
    for name, (make, _) in BAD_FILES.items():
        write(card, name, make())
    corrupt = CORPUS / "images/drewnoakes__metadata-extractor-images/jpg/ImageTestSuite"
    write(card, "corrupt-exif.jpg", (corrupt / "754664a12e36abff7950e796c906ae39.jpg").read_bytes())
    for i in range(5):
        write(card, f"good{i}.jpg", jpeg_bytes(TAKEN, seed=100 + i))
    code, files, summary = run_import(runner, card, "--deployment", deployment.id)
    assert code == 1
    by_name = {Path(f["path"]).name: f for f in files}
    for name, (_, words) in BAD_FILES.items():
        assert by_name[name]["status"] == "rejected", name
        assert words.lower() in by_name[name]["reason"].lower(), by_name[name]
    assert by_name["corrupt-exif.jpg"]["status"] in {"added", "rejected"}
    assert summary["summary"]["added"] >= 5
    assert count_images(app) == summary["summary"]["added"]


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_of_a_card_with_hostile_members(app, runner, deployment, tmp_path):
    good = {f"DCIM/100RECNX/IMG_{i:04}.JPG": jpeg_bytes(TAKEN, seed=200 + i) for i in range(3)}
    hostile = {
        "../../etc/evil.jpg": jpeg_bytes(TAKEN, seed=301),
        "/abs/evil.jpg": jpeg_bytes(TAKEN, seed=302),
        "inner.zip": _zip({"x.jpg": jpeg_bytes(TAKEN, seed=303)}),
        "__MACOSX/DCIM/._IMG_0001.JPG": b"\x00\x05\x16\x07",
    }
    archive = write(tmp_path, "card.zip", _zip(good | hostile))
    bomb = write(tmp_path, "bomb.zip", _zip({"zeros.jpg": b"\0" * 5_000_000}, zipfile.ZIP_DEFLATED))
    code, files, summary = run_import(runner, archive, bomb, "--deployment", deployment.id)
    assert code == 1
    by_name = {f["path"]: f for f in files}
    assert summary["summary"] == {"added": 3, "duplicate": 0, "rejected": 4}
    assert "unsafe path" in by_name["card.zip/../../etc/evil.jpg"]["reason"]
    assert "unsafe path" in by_name["card.zip//abs/evil.jpg"]["reason"]
    assert "nested zip" in by_name["card.zip/inner.zip"]["reason"]
    assert "zip bomb" in by_name["bomb.zip/zeros.jpg"]["reason"]
    assert not any("__MACOSX" in name for name in by_name)
    assert not (tmp_path.parent / "etc").exists()


def test_zip_limits_on_count_total_and_file_size(session, deployment, app, tmp_path):
    entries = {f"IMG_{i}.JPG": jpeg_bytes(TAKEN, seed=400 + i, size=(64, 48)) for i in range(4)}
    data = _zip(entries)
    few = sources.ZipLimits(max_members=3)
    items = list(sources.file_item(io.BytesIO(data), "card.zip", few))
    assert len(items) == 1 and "limit is 3" in items[0].reason

    size = len(next(iter(entries.values())))
    small_total = sources.ZipLimits(max_total_bytes=int(size * 2.5))
    reasons = [i.reason for i in sources.file_item(io.BytesIO(data), "card.zip", small_total)]
    assert reasons[:2] == [None, None]
    assert all("total size" in r for r in reasons[2:])

    report = ingest.ingest(
        session,
        [sources.Item("big.jpg", jpeg_bytes(TAKEN, seed=9))],
        deployment,
        app.config["MEDIA_DIR"],
        limits=ingest.Limits(max_file_bytes=1000),
    )
    assert report.of("rejected")[0].reason == "file larger than 0 MB"


def test_same_card_twice_at_the_same_moment_adds_each_photo_once(app, deployment, tmp_path):
    photos = [sources.Item(f"IMG_{i}.JPG", jpeg_bytes(TAKEN, seed=500 + i)) for i in range(30)]
    reports, errors = [], []

    def upload():
        try:
            with app.app_context():
                session = get_session()
                dep = session.merge(deployment)
                reports.append(ingest.ingest(session, photos, dep, app.config["MEDIA_DIR"]))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_images(app) == 30
    added = sum(r.count("added") for r in reports)
    duplicates = sum(r.count("duplicate") for r in reports)
    assert (added, duplicates) == (30, 30)


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[:1000], lambda data: b"\0" * len(data)],
    ids=["cut-short", "zero-filled"],
)
def test_storage_is_content_addressed_and_recovers_from_a_damaged_file(
    app, session, deployment, damage
):
    data = jpeg_bytes(TAKEN, seed=600)
    media = Path(app.config["MEDIA_DIR"])
    prepared = preparing.prepare("x.jpg", data, str(media), ingest.Limits())
    final = media / storage.original_relpath(prepared.sha256)
    # As if the machine died before the file reached the disk (no row was committed).
    final.write_bytes(damage(data))
    report = ingest.ingest(session, [sources.Item("x.jpg", data)], deployment, str(media))
    assert report.summary == {"added": 1, "duplicate": 0, "rejected": 0}
    assert final.read_bytes() == data
    assert not list(media.rglob(".incoming-*"))
    image = session.scalar(select(Image))
    assert image.stored_path == storage.original_relpath(prepared.sha256)
    assert image.bytes == len(data)


def test_upload_is_audited(app, session, deployment):
    items = [sources.Item("a.jpg", jpeg_bytes(TAKEN, seed=700))]
    ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "upload"))
    assert entry.entity == "deployment" and entry.entity_id == str(deployment.id)
    assert entry.details == {"added": 1, "duplicate": 0, "rejected": 0}


def test_station_means_its_active_deployment(app, runner, session, tmp_path):
    station = fieldwork.create_station(session, code="KP-02", latitude=43.0, longitude=131.2)
    active = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    session.commit()
    path = write(tmp_path, "a.jpg", jpeg_bytes(TAKEN))
    code, files, summary = run_import(runner, path, "--station", "KP-02")
    assert code == 0 and summary["deployment_id"] == active.id
    assert files[0]["status"] == "added"
    with app.app_context():
        assert get_session().scalar(select(Image.deployment_id)) == active.id


def test_usage_errors_exit_2(runner, deployment, tmp_path):
    path = write(tmp_path, "a.jpg", jpeg_bytes(TAKEN))
    assert runner.invoke(args=["import", str(path)]).exit_code == 2
    both = ["import", str(path), "--deployment", str(deployment.id), "--station", "KP-01"]
    assert runner.invoke(args=both).exit_code == 2
    result = runner.invoke(args=["import", str(path), "--deployment", "999"])
    assert result.exit_code == 2 and "No deployment with id 999" in result.output
    result = runner.invoke(args=["import", str(path), "--station", "NOPE"])
    assert result.exit_code == 2 and "No station" in result.output
    late = write(tmp_path, "late.jpg", jpeg_bytes(datetime(2025, 3, 10, 22, 15)))
    result = runner.invoke(args=["import", str(late), "--station", "KP-01"])
    assert result.exit_code == 2
    assert "No deployment at station KP-01 covers the photos' dates" in result.output
    assert "no active deployment" in result.output


def test_an_old_card_goes_to_the_ended_deployment_covering_its_dates(
    app, runner, deployment, tmp_path
):
    station = deployment.station
    with app.app_context():
        session = get_session()
        later = fieldwork.create_deployment(
            session, session.merge(station), fieldwork.DeploymentInput(start_date=date(2024, 7, 1))
        )
        session.commit()
    path = write(tmp_path, "a.jpg", jpeg_bytes(TAKEN))  # March 2024: the ended deployment
    code, files, summary = run_import(runner, path, "--station", "kp-01")
    assert code == 0 and summary["deployment_id"] == deployment.id != later.id
    assert files[0]["status"] == "added"


@pytest.mark.parametrize(
    ("taken", "issue", "utc"),
    [
        # 2024-03-10 02:30 never happened in Chicago (clocks went 02:00 -> 03:00).
        (datetime(2024, 3, 10, 2, 30), "does not exist in America/Chicago", None),
        # 2024-11-03 01:30 happened twice there (CDT, then CST).
        (datetime(2024, 11, 3, 1, 30), "is ambiguous in America/Chicago", None),
        # The camera wrote its offset: no doubt, no flag.
        (datetime(2024, 3, 10, 2, 30), None, datetime(2024, 3, 10, 8, 30, tzinfo=UTC)),
        # An ordinary hour on the same day.
        (datetime(2024, 3, 10, 4, 0), None, datetime(2024, 3, 10, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_time_skipped_or_repeated_at_a_clock_change_is_flagged_not_shifted(
    session, runner, tmp_path, taken, issue, utc
):
    station = fieldwork.create_station(session, code="US-01", latitude=41.9, longitude=-87.6)
    dep = fieldwork.create_deployment(
        session,
        station,
        fieldwork.DeploymentInput(
            start_date=date(2024, 1, 1), end_date=date(2024, 12, 31), timezone="America/Chicago"
        ),
    )
    session.commit()
    offset = "-06:00" if utc == datetime(2024, 3, 10, 8, 30, tzinfo=UTC) else None
    path = write(tmp_path, "x.jpg", jpeg_bytes(taken, seed=7, utc_offset=offset))
    code, files, _ = run_import(runner, path, "--deployment", dep.id)
    assert (code, files[0]["status"]) == (0, "added")
    image = session.scalar(select(Image))
    assert image.taken_at_raw == taken.strftime("%Y:%m:%d %H:%M:%S")  # kept as written
    if issue is None:
        assert (image.timestamp_issue, image.taken_at_utc) == (None, utc)
    else:
        assert issue in image.timestamp_issue
        assert taken.strftime("%Y-%m-%d %H:%M:%S") in image.timestamp_issue
