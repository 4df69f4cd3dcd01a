"""Media in an S3-compatible store, tested against a real SeaweedFS server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import uuid
from datetime import date, datetime

import pytest
import requests
import seaweed
from conftest import fetch
from sqlalchemy import select
from workers import TRACKER, start_worker, stop_worker, wait_until, worker_env

from tracker import create_app, fieldwork, ingest, objectstore, sources, storage
from tracker.models import Image, Job, Upload
from tracker.synthetic import jpeg_bytes


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """SeaweedFS's S3 endpoint; the AWS variables point boto3 at it for this module."""
    process, endpoint = seaweed.start(tmp_path_factory.mktemp("seaweed"))
    saved = {k: os.environ.get(k) for k in [*seaweed.AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(seaweed.AWS_ENV | {"AWS_ENDPOINT_URL": endpoint})
    objectstore._local.__dict__.clear()  # clients made before now point elsewhere
    yield endpoint
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    objectstore._local.__dict__.clear()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture
def s3_app(s3, app_config):
    # A prefix per test: tests share the bucket, never each other's objects.
    media = f"s3://{seaweed.BUCKET}/test-{uuid.uuid4().hex[:8]}"
    app = create_app(app_config | {"MEDIA_DIR": media})
    yield app
    app.extensions["tracker.engine"].dispose()


@pytest.fixture
def deployment(s3_app):
    with s3_app.extensions["tracker.sessionmaker"]() as session:
        station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
        made = fieldwork.create_deployment(
            session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
        )
        session.commit()
        return made.id


def _ingest(app, deployment_id: int, photos: list[bytes]):
    with app.extensions["tracker.sessionmaker"]() as session:
        from tracker.models import Deployment

        items = [sources.Item(f"IMG_{i}.JPG", data) for i, data in enumerate(photos)]
        return ingest.ingest(
            session, items, session.get(Deployment, deployment_id), app.config["MEDIA_DIR"],
            previews=True,
        )  # fmt: skip


def _photo(seed: int) -> bytes:
    return jpeg_bytes(datetime(2024, 3, 10, 22, seed % 60), size=(320, 240), seed=seed)


def test_an_import_stores_whole_objects_under_content_addressed_keys(s3_app, deployment):
    first = _photo(1)
    photos = [first, _photo(2), first]
    report = _ingest(s3_app, deployment, photos)
    assert report.summary == {"added": 2, "duplicate": 1, "rejected": 0}
    media = s3_app.config["MEDIA_DIR"]
    for sha, path in fetch(s3_app, select(Image.sha256, Image.stored_path)):
        assert path == storage.original_relpath(sha)
        assert storage.read_original(media, sha).tobytes() in photos
        for size in storage.PREVIEW_SIZES:
            assert objectstore.exists(media, storage.preview_relpath(sha, size))
    assert storage.remove_leftovers(media, everywhere=True) == []


def test_originals_go_only_to_the_signed_in_by_a_short_lived_link(s3_app, deployment, users):
    from conftest import sign_in

    photo = _photo(3)
    _ingest(s3_app, deployment, [photo])
    image_id = fetch(s3_app, select(Image.id))[0][0]
    client = s3_app.test_client()
    assert client.get(f"/images/{image_id}/original").status_code == 302
    assert "/login" in client.get(f"/images/{image_id}/original").headers["Location"]
    assert sign_in(client, users["researcher"].email).status_code == 302
    answer = client.get(f"/images/{image_id}/original")
    assert answer.status_code == 302
    link = answer.headers["Location"]
    assert "Expires=" in link or "X-Amz-Expires=60" in link
    fetched = requests.get(link, timeout=10)
    assert fetched.status_code == 200 and fetched.content == photo
    thumb = client.get(f"/images/{image_id}/thumb")
    assert thumb.status_code == 200 and thumb.data[:2] == b"\xff\xd8"


def test_a_preview_missing_from_the_store_is_made_on_first_view(s3_app, deployment, users):
    from conftest import sign_in

    _ingest(s3_app, deployment, [_photo(4)])
    image_id, sha = fetch(s3_app, select(Image.id, Image.sha256))[0]
    media = s3_app.config["MEDIA_DIR"]
    where = objectstore.location(media)
    objectstore.client().delete_object(
        Bucket=where.bucket, Key=where.key(storage.preview_relpath(sha, "preview"))
    )
    client = s3_app.test_client()
    sign_in(client, users["ranger"].email)
    answer = client.get(f"/images/{image_id}/preview")
    assert answer.status_code == 200 and answer.data[:2] == b"\xff\xd8"
    assert objectstore.exists(media, storage.preview_relpath(sha, "preview"))


def test_a_worker_imports_a_card_into_the_store(s3, s3_app, deployment, tmp_path):
    """The web side and a real worker process both reach the store from the AWS variables."""
    card = tmp_path / "card.jpg"
    card.write_bytes(_photo(5))
    with s3_app.extensions["tracker.sessionmaker"]() as session:
        from tracker.uploads import cards

        upload = cards.start(
            session, str(uuid.uuid4()), "card.jpg", card.stat().st_size, None,
            fieldwork.station_by_code(session, "KP-01"), None, datetime.now().astimezone(),
        )  # fmt: skip
        cards.receive(session, s3_app.config, upload, str(card), datetime.now().astimezone())
        session.commit()
    worker = start_worker(
        s3_app.config,
        tmp_path / "worker.log",
        TRACKER_MEDIA_URL=s3_app.config["MEDIA_DIR"],
        TRACKER_UPLOAD_DIR=s3_app.config["UPLOAD_DIR"],
        AWS_ENDPOINT_URL=s3,
        **seaweed.AWS_ENV,
    )
    try:
        wait_until(
            lambda: fetch(s3_app, select(Job.state))[0][0] == "done", 60, "the card's import"
        )
    finally:
        stop_worker(worker)
    sha = fetch(s3_app, select(Image.sha256))[0][0]
    media = s3_app.config["MEDIA_DIR"]
    assert objectstore.exists(media, storage.original_relpath(sha))
    assert objectstore.exists(media, storage.preview_relpath(sha, "thumb"))
    assert fetch(s3_app, select(Upload.deployment_id)) == [(deployment,)]


@pytest.mark.parametrize("refused", [False, True])
def test_the_command_line_imports_a_card_into_the_store(s3, s3_app, deployment, tmp_path, refused):
    """`tracker import` starts reading its card before its app loads (tracker.cli): into the
    store too, and an import refused for its deployment puts nothing there."""
    card = tmp_path / "card"
    card.mkdir()
    photos = [_photo(20 + i) for i in range(5)]
    for i, data in enumerate(photos):
        (card / f"IMG_{i}.JPG").write_bytes(data)
    media = s3_app.config["MEDIA_DIR"]
    env = worker_env(s3_app.config, TRACKER_MEDIA_URL=media, AWS_ENDPOINT_URL=s3, **seaweed.AWS_ENV)
    target = "999999" if refused else str(deployment)
    done = subprocess.run([TRACKER, "import", str(card), "--deployment", target, "--previews"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == (2 if refused else 0), done.stderr
    for data in photos:
        sha = hashlib.sha256(data).hexdigest()
        keys = [storage.original_relpath(sha)]
        keys += [storage.preview_relpath(sha, size) for size in storage.PREVIEW_SIZES]
        assert [objectstore.exists(media, key) for key in keys] == [not refused] * 3


def test_previews_from_the_store_hide_people_as_those_on_disk_do(s3_app, users):
    """A role without see_people gets the store's preview blurred, and no original at all."""
    from conftest import sign_in
    from detections_data import deployment, import_photos, results

    from tracker import previews
    from tracker.detections import importer, megadetector

    with s3_app.extensions["tracker.sessionmaker"]() as session:
        dep = deployment(session)
        image = import_photos(session, s3_app, dep, "human.jpg")["human.jpg"]
        importer.import_results(session, dep, megadetector.parse(results()), 0.2)
        session.commit()
        image_id, sha = image.id, image.sha256
    stored = previews.preview_bytes(s3_app.config["MEDIA_DIR"], sha, "preview")
    clients = {}
    for role in ("ranger", "researcher"):
        clients[role] = s3_app.test_client()
        assert sign_in(clients[role], users[role].email).status_code == 302
    assert clients["ranger"].get(f"/images/{image_id}/preview").data == stored
    blurred = clients["researcher"].get(f"/images/{image_id}/preview")
    assert blurred.status_code == 200 and blurred.mimetype == "image/jpeg"
    assert blurred.data != stored
    assert blurred.headers["Cache-Control"] == "private, no-store"
    assert clients["researcher"].get(f"/images/{image_id}/original").status_code == 403
    assert clients["ranger"].get(f"/images/{image_id}/original").status_code == 302
