"""Workers and web processes on several machines, sharing PostgreSQL, a Redis job queue and an S3
store (SeaweedFS): all of it real processes on loopback. The whole check (tests/multimachine.py)
runs in the PostgreSQL pass; the Redis queue on its own runs on both backends.

Redis is the machine's (127.0.0.1:6379), each test on a queue of its own name; a Redis or a
SeaweedFS that cannot be used fails the test, never skips it.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime
from pathlib import Path

import multimachine
import pytest
import redis
import requests
from conftest import PASSWORD_HASH, fetch
from sqlalchemy import func, select
from werkzeug.serving import make_server
from workers import start_worker, stop_worker, wait_until

from tracker import create_app, fieldwork, tokens
from tracker.jobs import queue
from tracker.models import Image, User, utcnow

REDIS = "redis://127.0.0.1:6379/0"
PHOTOS = 60  # per card: a card is one batch of rows, so "mid-card" is objects stored, no rows


@pytest.fixture
def redis_jobs_url():
    """A Redis job queue of this test's own, emptied at the end."""
    try:
        with redis.Redis.from_url(REDIS, socket_timeout=5) as conn:
            conn.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS} cannot be used (scripts/redis-up.sh starts it): {exc}")
    url = f"{REDIS}#tracker_test_{uuid.uuid4().hex[:10]}"
    yield url
    multimachine.forget_queue(url)


def _kp01_and_token(maker) -> str:
    """Station KP-01 deployed since 2024-01-01, and a ranger's API token."""
    with maker() as session:
        station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
        fieldwork.create_deployment(
            session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
        )
        user = User(email="field@park.test", password_hash=PASSWORD_HASH, role="ranger")
        session.add(user)
        session.flush()
        _row, secret = tokens.issue(session, user, "tests", None, utcnow())
        session.commit()
        return secret


@pytest.mark.backends("postgresql")
def test_two_cards_through_two_web_processes_survive_a_worker_killed_mid_card(
    app, redis_jobs_url, tmp_path
):
    token = _kp01_and_token(app.extensions["tracker.sessionmaker"])
    cards = {
        card.path.name: card
        for card in (
            multimachine.make_card(tmp_path / "card-a.zip", PHOTOS, datetime(2024, 3, 1, 20)),
            multimachine.make_card(tmp_path / "card-b.zip", PHOTOS, datetime(2024, 4, 1, 20)),
        )
    }
    work = tmp_path / "stack"
    work.mkdir()
    with multimachine.running(work, app.config["DATABASE_URL"], redis_jobs_url) as running:
        urls = multimachine.upload_at_once(running, token, list(cards.values()))
        kill = multimachine.kill_mid_card(running, cards, urls, seconds=60)
        statuses = multimachine.wait_done(running, token, urls, seconds=90)
        problems = multimachine.problems(running, cards, urls, statuses)
        attempts = {
            job_id: multimachine.attempts(running, job_id)
            for job_id in (multimachine.job_of(running, url) for url in urls.values())
        }
        survivors = [w for w in running.workers if w.poll() is None]
    assert problems == [], f"logs in {work}"
    assert 0 < kill.keys_stored < kill.keys_total and kill.rows < PHOTOS
    # The killed worker's card was finished by the other worker, once more; the other card once.
    assert len(survivors) == 1
    assert sorted(attempts.values()) == [1, 2] and attempts[kill.job_id] == 2


def test_a_card_queued_on_redis_is_imported_by_a_worker(app_config, redis_jobs_url, tmp_path):
    app = create_app(app_config | {"JOBS_URL": redis_jobs_url})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        token = _kp01_and_token(app.extensions["tracker.sessionmaker"])
        card = multimachine.make_card(tmp_path / "card.zip", 3, datetime(2024, 3, 1, 20))
        url = multimachine.send(f"http://127.0.0.1:{httpd.server_port}", token, card)
        assert _status(url, token)["state"] == "queued"
        assert multimachine.queue_length(redis_jobs_url) == 1  # in Redis, waiting for a worker
        worker = start_worker(app.config, tmp_path / "worker.log")
        try:
            status = wait_until(
                lambda: (s := _status(url, token))["state"] == "done" and s, what="the import"
            )
        finally:
            stop_worker(worker)
        assert (status["added"], status["duplicate"], status["rejected"]) == (3, 0, 0)
        assert multimachine.queue_length(redis_jobs_url) == 0
        assert fetch(app, select(func.count(Image.id))) == [(3,)]
        media = Path(app.config["MEDIA_DIR"])
        for sha in card.shas:  # the original, the preview and the thumbnail
            for relpath in multimachine.photo_keys(sha):
                assert (media / relpath).exists(), relpath
    finally:
        httpd.shutdown()
        thread.join()
        queue.queue(redis_jobs_url)[0].storage.conn.connection_pool.disconnect()
        app.extensions["tracker.engine"].dispose()


def _status(url: str, token: str) -> dict:
    response = requests.get(
        f"{url}/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()
