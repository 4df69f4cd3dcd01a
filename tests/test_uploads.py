"""Resumable card uploads: a real tus client (tuspy) against the real endpoint, served over HTTP,
and the import by a real `tracker worker` process, on both database backends."""

from __future__ import annotations

import io
import random
import signal
import threading
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from conftest import PASSWORD_HASH, damaged_jpeg, fetch, sign_in
from linkproxy import LinkProxy
from sqlalchemy import func, select
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError
from werkzeug.serving import make_server
from workers import start_worker, stop_worker, wait_until, writing_to

from tracker import fieldwork, storage, tokens
from tracker.jobs import worker as worker_module
from tracker.models import Image, Job, Upload, UploadFile, User, utcnow
from tracker.synthetic import jpeg_bytes

START = datetime(2024, 3, 10, 22, 15)


@pytest.fixture
def server(app):
    """The app served over real HTTP on 127.0.0.1, as tus clients talk to it."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


@pytest.fixture
def kp01(session):
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    deployment = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    session.commit()
    return deployment


def _token(session, email: str, role: str) -> str:
    user = User(email=email, password_hash=PASSWORD_HASH, role=role)
    session.add(user)
    session.flush()
    _row, secret = tokens.issue(session, user, "tests", None, utcnow())
    session.commit()
    return secret


@pytest.fixture
def ranger_token(session) -> str:
    return _token(session, "field@park.test", "ranger")


def card(path: Path, photos: int, start: datetime = START, extra: dict | None = None) -> Path:
    """A zipped memory card of `photos` distinct photos a minute apart (and `extra` files)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(photos):
            taken = start + timedelta(minutes=i)
            archive.writestr(f"DCIM/IMG_{i:04}.JPG", jpeg_bytes(taken, size=(160, 120), seed=i))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def _uploader(base: str, token: str, path: Path, **options):
    """A tuspy uploader of `path` (from memory: tuspy never closes a file it opened)."""
    client = tus_client.TusClient(f"{base}/uploads/", headers={"Authorization": f"Bearer {token}"})
    return client.uploader(file_stream=io.BytesIO(path.read_bytes()), **options)


def _status(base: str, token: str, upload_url: str) -> dict:
    response = requests.get(
        f"{upload_url}/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_card_sent_with_tus_is_imported_by_a_worker(app, server, kp01, ranger_token, tmp_path):
    path = card(tmp_path / "card.zip", 5, extra={"DCIM/broken.jpg": b"not a photo"})
    uploader = _uploader(
        server,
        ranger_token,
        path,
        chunk_size=64 * 1024,
        metadata={"filename": "card.zip", "station": "kp-01"},
    )
    uploader.upload()
    assert _status(server, ranger_token, uploader.url)["state"] == "queued"
    worker = start_worker(app.config, tmp_path / "worker.log")
    try:
        status = wait_until(
            lambda: (s := _status(server, ranger_token, uploader.url))["state"] == "done" and s,
            what="the card's import",
        )
    finally:
        stop_worker(worker)
    assert {k: status[k] for k in ("total", "added", "duplicate", "rejected")} == {
        "total": 6, "added": 5, "duplicate": 0, "rejected": 1,
    }  # fmt: skip
    rejected = [f for f in status["files"] if f["status"] == "rejected"]
    assert [f["name"] for f in rejected] == ["card.zip/DCIM/broken.jpg"]
    assert rejected[0]["reason"]
    images = fetch(app, select(Image.deployment_id, Image.sha256))
    assert len(images) == 5 and {d for d, _ in images} == {kp01.id}
    media = Path(app.config["MEDIA_DIR"])
    for _d, sha in images:  # browsable at once: previews were made by the worker
        for size in storage.PREVIEW_SIZES:
            assert (media / storage.preview_relpath(sha, size)).exists()
    assert not list((Path(app.config["UPLOAD_DIR"]) / "cards").iterdir())  # the card is gone


def test_an_interrupted_upload_resumes_where_it_stopped(app, server, kp01, ranger_token, tmp_path):
    path = card(tmp_path / "card.zip", 4)
    chunk = 4 * 1024
    assert path.stat().st_size > 4 * chunk
    meta = {"filename": "card.zip", "deployment": str(kp01.id)}
    first = _uploader(server, ranger_token, path, chunk_size=chunk, metadata=meta)
    for _ in range(3):  # then the link drops
        first.upload_chunk()
    assert first.offset == 3 * chunk
    # The client kept the upload's URL: it asks the server how far it got and goes on from there.
    again = _uploader(server, ranger_token, path, chunk_size=chunk, url=first.url)
    assert again.offset == 3 * chunk  # nothing sent twice
    again.upload()
    upload_id = first.url.rsplit("/", 1)[1]
    received = Path(app.config["UPLOAD_DIR"]) / "cards" / upload_id
    assert received.read_bytes() == path.read_bytes()
    assert fetch(app, select(Upload.received_at.is_not(None)))[0][0]


def test_a_dropped_link_costs_at_most_the_chunk_in_flight(
    app, server, kp01, ranger_token, tmp_path
):
    path = tmp_path / "card.zip"
    path.write_bytes(random.Random(7).randbytes(600 * 1024))
    chunk = 64 * 1024
    # The link drops twice, mid-chunk, and stays down a moment each time.
    port = int(server.rsplit(":", 1)[1])
    with LinkProxy(port, cut_at=[150 * 1024, 410 * 1024], down_seconds=0.5) as link:
        uploader = _uploader(
            link.url, ranger_token, path, chunk_size=chunk, retries=10, retry_delay=0.3,
            metadata={"filename": "card.zip", "deployment": str(kp01.id)},
        )  # fmt: skip
        uploader.upload()
    upload_id = uploader.url.rsplit("/", 1)[1]
    received = Path(app.config["UPLOAD_DIR"]) / "cards" / upload_id
    assert received.read_bytes() == path.read_bytes()
    assert link.cuts == 2
    # The chunk in flight is sent again, or only its missing part when the server kept what
    # arrived of it (gunicorn passes a cut body on, the development server drops it).
    assert link.body_bytes - path.stat().st_size <= 2 * chunk


def test_a_partial_upload_is_removed_after_the_keep_time(app, server, kp01, ranger_token, tmp_path):
    from tracker.uploads import tus

    path = card(tmp_path / "card.zip", 4)
    meta = {"filename": "card.zip", "deployment": str(kp01.id)}
    stale, fresh = (
        _uploader(server, ranger_token, path, chunk_size=4096, metadata=meta) for _ in range(2)
    )
    stale.upload_chunk()
    fresh.upload_chunk()
    stale_id, fresh_id = (u.url.rsplit("/", 1)[1] for u in (stale, fresh))
    parts = [Path(tus.file_path(app.config, i)) for i in (stale_id, fresh_id)]
    assert all(part.stat().st_size == 4096 for part in parts)
    with app.extensions["tracker.sessionmaker"]() as session:  # begun 73 hours ago
        session.get(Upload, stale_id).created_at -= timedelta(hours=73)
        session.commit()
    assert app.config["UPLOAD_KEEP_HOURS"] == 72
    worker_module.sweep(app)  # what every worker does every half lease
    assert fetch(app, select(Upload.id)) == [(fresh_id,)]
    assert not parts[0].exists() and tus.progress(app.config, stale_id) is None
    auth = {"Authorization": f"Bearer {ranger_token}", "Tus-Resumable": "1.0.0"}
    assert requests.head(stale.url, headers=auth, timeout=10).status_code == 404
    fresh.upload()  # the other one goes on
    assert (Path(app.config["UPLOAD_DIR"]) / "cards" / fresh_id).read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"station": "KP-99"}, "No station with code 'KP-99'."),
        ({"station": "KP-02"}, "Station KP-02 has no deployment yet; add one first."),
        ({"deployment": "999"}, "No deployment with id '999'."),
        ({}, "Choose a deployment, or enter a station code."),
    ],
)
def test_the_destination_is_checked_before_any_byte(
    app, session, server, kp01, ranger_token, tmp_path, meta, message
):
    fieldwork.create_station(session, code="KP-02", latitude=43.0, longitude=131.0)
    session.commit()
    path = card(tmp_path / "card.zip", 1)
    uploader = _uploader(server, ranger_token, path, metadata={"filename": "card.zip", **meta})
    with pytest.raises(TusCommunicationError) as refused:
        uploader.upload()
    assert refused.value.status_code == 422
    assert refused.value.response_content.decode() == message
    assert fetch(app, select(func.count()).select_from(Upload)) == [(0,)]
    parts = Path(app.config["UPLOAD_DIR"]) / "parts"
    assert not parts.exists() or not list(parts.iterdir())


def test_a_card_no_deployment_covers_fails_at_once_with_its_reason(
    app, session, server, ranger_token, tmp_path
):
    station = fieldwork.create_station(session, code="KP-07", latitude=43.1, longitude=131.5)
    dates = fieldwork.DeploymentInput(start_date=date(2023, 5, 1), end_date=date(2023, 9, 30))
    fieldwork.create_deployment(session, station, dates)
    session.commit()
    path = card(tmp_path / "card.zip", 2)  # March 2024: after the station's only deployment
    uploader = _uploader(
        server, ranger_token, path, metadata={"filename": "card.zip", "station": "kp-07"}
    )
    uploader.upload()  # accepted: an old card of that deployment would be
    worker = start_worker(app.config, tmp_path / "worker.log")
    try:
        status = wait_until(
            lambda: (s := _status(server, ranger_token, uploader.url))["state"] == "failed" and s,
            what="the import to fail",
        )
    finally:
        stop_worker(worker)
    assert status["error"] == (
        "No deployment at station KP-07 covers the photos' dates and it has no active "
        "deployments; choose a deployment."
    )
    assert fetch(app, select(Job.attempts)) == [(1,)]  # not retried: it would fail again
    assert fetch(app, select(func.count()).select_from(Image)) == [(0,)]
    received = Path(app.config["UPLOAD_DIR"]) / "cards" / uploader.url.rsplit("/", 1)[1]
    assert received.exists()  # kept a while: TRACKER_UPLOAD_KEEP_HOURS
    with app.extensions["tracker.sessionmaker"]() as db:
        db.scalar(select(Job)).finished_at -= timedelta(hours=73)
        db.commit()
    worker_module.sweep(app)
    assert not received.exists()
    assert _status(server, ranger_token, uploader.url)["state"] == "failed"  # its record stays


def _create(client, headers: dict, meta: str = "filename Y2FyZC56aXA=,station S1AtMDE="):
    return client.post(
        "/uploads/",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": meta}
        | headers,
    )


def test_tokens_sign_in_with_their_accounts_role(app, client, session, kp01, ranger_token):
    researcher = _token(session, "science@park.test", "researcher")
    assert _create(client, {}).status_code == 401
    assert _create(client, {"Authorization": "Bearer trk_not-a-token"}).status_code == 401
    assert _create(client, {"Authorization": f"Bearer {researcher}"}).status_code == 403
    created = _create(client, {"Authorization": f"Bearer {ranger_token}"})
    assert created.status_code == 201
    owner = fetch(app, select(User.email).join(Upload, Upload.user_id == User.id))
    assert owner == [("field@park.test",)]
    token_row = session.scalar(
        select(tokens.ApiToken).join(User).where(User.email == "field@park.test")
    )
    tokens.revoke(session, token_row, token_row.user, utcnow())
    session.commit()
    assert _create(client, {"Authorization": f"Bearer {ranger_token}"}).status_code == 401


def test_a_signed_in_page_needs_its_csrf_token(client, users, kp01):
    assert sign_in(client, users["ranger"].email).status_code == 302
    assert _create(client, {}).status_code == 400  # no CSRF token: refused
    page = client.get("/upload").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert _create(client, {"X-CSRFToken": token}).status_code == 201


def test_someone_elses_upload_is_not_there(app, client, session, kp01, ranger_token):
    other = _token(session, "other@park.test", "ranger")
    created = _create(client, {"Authorization": f"Bearer {ranger_token}"})
    location = created.headers["Location"]
    seen = client.get(f"{location}/status", headers={"Authorization": f"Bearer {other}"})
    assert seen.status_code == 404
    mine = client.get(f"{location}/status", headers={"Authorization": f"Bearer {ranger_token}"})
    assert mine.get_json() == {
        "state": "uploading", "total": None, "added": 0, "duplicate": 0, "rejected": 0,
    }  # fmt: skip


def test_a_worker_killed_mid_card_leaves_every_photo_once(
    app, server, kp01, ranger_token, tmp_path
):
    photos = 700
    path = card(tmp_path / "card.zip", photos)
    uploader = _uploader(
        server,
        ranger_token,
        path,
        chunk_size=4 * 1024 * 1024,
        metadata={"filename": "card.zip", "station": "KP-01"},
    )
    uploader.upload()
    upload_id = uploader.url.rsplit("/", 1)[1]
    config = app.config | {"JOB_LEASE_SECONDS": 2}
    first = start_worker(config, tmp_path / "first.log")

    def files_done() -> int:
        return fetch(app, select(func.count()).select_from(UploadFile))[0][0]

    try:
        wait_until(lambda: files_done() > 0, 120, "the first batch of the card")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert files_done() < photos  # killed mid-card
    # Nothing of it lives on: its preparing processes die with it (they held the card's file).
    wait_until(lambda: not writing_to(tmp_path / "first.log"), 10, "the killed worker's children")
    second = start_worker(config, tmp_path / "second.log")
    try:
        status = wait_until(
            lambda: (s := _status(server, ranger_token, uploader.url))["state"] == "done" and s,
            180,
            "the import to finish",
        )
    finally:
        stop_worker(second)
    assert (status["added"], status["duplicate"], status["rejected"]) == (photos, 0, 0)
    assert fetch(app, select(func.count(Image.id), func.count(func.distinct(Image.sha256)))) == [
        (photos, photos)
    ]
    media = Path(app.config["MEDIA_DIR"])
    originals = list((media / "originals").rglob("*.jpg"))
    assert len(originals) == photos  # no orphan file
    assert not list(media.rglob(".incoming-*"))
    hashes = {sha for (sha,) in fetch(app, select(Image.sha256))}
    for sha in hashes:
        assert (media / storage.preview_relpath(sha, "thumb")).exists()
    rows = fetch(app, select(UploadFile.name, func.count()).group_by(UploadFile.name))
    assert len(rows) == photos and {n for _name, n in rows} == {1}
    assert fetch(app, select(Upload.id)) == [(upload_id,)]


def test_the_result_page_names_rejects_duplicates_and_links_the_review(
    app, server, session, kp01, ranger_token, tmp_path
):
    from tracker import ingest, sources

    known = jpeg_bytes(START, size=(160, 120), seed=99)
    ingest.ingest(session, [sources.Item("old.jpg", known)], kp01, app.config["MEDIA_DIR"])
    damaged = damaged_jpeg(jpeg_bytes(START, size=(640, 480), seed=98))
    extra = {"DCIM/known.jpg": known, "DCIM/damaged.jpg": damaged, "notes.txt": b"hi"}
    path = card(tmp_path / "card.zip", 2, extra=extra)
    uploader = _uploader(
        server, ranger_token, path, metadata={"filename": "card.zip", "station": "KP-01"}
    )
    uploader.upload()
    worker = start_worker(app.config, tmp_path / "worker.log")
    try:
        wait_until(lambda: _status(server, ranger_token, uploader.url)["state"] == "done")
    finally:
        stop_worker(worker)
    page = requests.get(
        uploader.url, headers={"Authorization": f"Bearer {ranger_token}"}, timeout=10
    ).text
    rejected = page[page.index('id="rejected"') : page.index('id="warnings"')]
    assert "card.zip/notes.txt" in rejected
    # A photo that landed with something wrong is named with what, on the page and in the JSON.
    warned = page[page.index('id="warnings"') : page.index('id="duplicates"')]
    assert "card.zip/DCIM/damaged.jpg" in warned and "damaged image data (" in warned
    files = {f["name"]: f for f in _status(server, ranger_token, uploader.url)["files"]}
    assert files["card.zip/DCIM/damaged.jpg"]["warnings"][0].startswith("damaged image data (")
    assert files["card.zip/DCIM/damaged.jpg"]["status"] == "added"
    assert files["card.zip/DCIM/known.jpg"]["warnings"] == []
    assert "card.zip/DCIM/known.jpg" in page
    assert f"station KP-01, deployment {kp01.id}" in page
    assert f'href="/review/{kp01.id}"' in page
