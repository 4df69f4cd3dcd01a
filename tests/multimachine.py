"""The multi-machine check, on one machine: every part as its own process, talking over loopback.

Two web processes (gunicorn) and two `tracker worker`s share one PostgreSQL database, one Redis
job queue and a SeaweedFS object store (started here); partial uploads and received cards sit in
one shared upload folder, as a shared volume would on several machines. Two cards are uploaded at
once with tus, each through a different web process; the worker importing a card is frozen with
SIGSTOP until it is caught with part of the card in the store, then killed with SIGKILL. Then
`problems` lists whatever does not hold: every photo in the database once, its original, preview
and thumbnail in the store and nothing else there, every file's outcome recorded once, both
cards' status (asked of the web process that did not receive the card) done with every photo
added, the upload folder and the Redis queue empty.

One implementation for tests/test_multimachine.py (small cards, in the PostgreSQL pass) and
bench/multimachine.py (large ones).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import signal
import subprocess
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import psycopg
import redis
import seaweed
import stack
from tusclient import client as tus_client
from workers import spawn_worker, wait_until

from tracker import storage
from tracker.synthetic import jpeg_bytes

KEYS_PER_PHOTO = 1 + len(storage.PREVIEW_SIZES)  # the original, a preview and a thumbnail


@dataclass
class Card:
    path: Path
    shas: list[str]  # its photos' sha256, in card order

    @property
    def keys(self) -> set[str]:
        """What the store must hold for it: each photo's original and previews."""
        return {key for sha in self.shas for key in photo_keys(sha)}


def photo_keys(sha: str) -> list[str]:
    sizes = storage.PREVIEW_SIZES
    return [storage.original_relpath(sha), *(storage.preview_relpath(sha, s) for s in sizes)]


def make_card(path: Path, photos: int, first_day: datetime) -> Card:
    """A zipped memory card of `photos` distinct photos seven minutes apart."""
    shas = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(photos):
            data = jpeg_bytes(first_day + timedelta(minutes=7 * i), size=(320, 240), seed=i)
            archive.writestr(f"DCIM/IMG_{i:04}.JPG", data)
            shas.append(hashlib.sha256(data).hexdigest())
    return Card(path, shas)


@dataclass
class Stack:
    """The processes of a multi-machine tracker and what they share."""

    work: Path
    env: dict
    db: str  # libpq URL of the shared database
    jobs_url: str
    s3: object  # a boto3 client of the store
    media: str  # s3://bucket/prefix
    webs: list[str] = field(default_factory=list)  # base URLs of the web processes
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # each worker's, by process id
    processes: list[subprocess.Popen] = field(default_factory=list)

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.db) as conn:
            return conn.execute(query, params).fetchall()

    def stored_keys(self) -> set[str]:
        """Every object under the media prefix, as paths relative to it."""
        bucket, _, prefix = self.media[len("s3://") :].partition("/")
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {o["Key"][len(prefix) + 1 :] for page in pages for o in page.get("Contents", [])}

    def start_worker(self, name: str) -> subprocess.Popen:
        log = self.work / f"{name}.log"
        process = spawn_worker(self.env, log)
        self.logs[process.pid] = log
        self.workers.append(process)
        self.processes.append(process)
        return process


@contextmanager
def running(
    work: Path, database_url: str, jobs_url: str, *, web_workers: int = 1, lease: int = 2
) -> Iterator[Stack]:
    """SeaweedFS, two web processes and two workers on `database_url` and the Redis queue
    `jobs_url` (redis://host:port/db#name); all stopped at the end. Anything that cannot start
    raises."""
    weed, endpoint = seaweed.start(work)
    media = f"s3://{seaweed.BUCKET}/{secrets.token_hex(4)}"
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": database_url,
        "TRACKER_JOBS_URL": jobs_url,
        "TRACKER_MEDIA_URL": media,
        "TRACKER_UPLOAD_DIR": str(work / "uploads"),
        "TRACKER_INSTANCE_PATH": str(work / "instance"),
        "TRACKER_SECRET_KEY": secrets.token_urlsafe(32),
        # A killed worker's job is found within `lease` seconds by another worker's sweep.
        "TRACKER_JOB_LEASE_SECONDS": str(lease),
        "AWS_ENDPOINT_URL": endpoint,
        **seaweed.AWS_ENV,
    }
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=seaweed.AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=seaweed.AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=seaweed.AWS_ENV["AWS_DEFAULT_REGION"],
    )
    db = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    running = Stack(work, env, db, jobs_url, s3, media)
    try:
        for i in range(2):
            web, base = stack.gunicorn(env, work / f"web{i}.log", workers=web_workers)
            running.processes.append(web)
            running.webs.append(base)
        for i in range(2):
            running.start_worker(f"worker{i}")
        yield running
    finally:
        stack.stop(running.processes)
        s3.close()
        weed.send_signal(signal.SIGTERM)
        weed.wait(timeout=30)


def send(base: str, token: str, card: Card) -> str:
    """Upload a card to station KP-01 with tus (tuspy); its upload URL."""
    client = tus_client.TusClient(f"{base}/uploads/", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(
        file_stream=io.BytesIO(card.path.read_bytes()),  # tuspy never closes a file it opened
        chunk_size=256 * 1024,
        metadata={"filename": card.path.name, "station": "kp-01"},
    )
    uploader.upload()
    return uploader.url


def upload_at_once(running: Stack, token: str, cards: list[Card]) -> dict[str, str]:
    """Send the cards with tus at the same time, each through its own web process; the upload
    URL of each card, by card file name."""
    urls: dict[str, str] = {}
    errors: list[BaseException] = []

    def send_one(base: str, card: Card) -> None:
        try:
            urls[card.path.name] = send(base, token, card)
        except BaseException as exc:  # told to the caller, not lost in the thread
            errors.append(exc)

    senders = [
        threading.Thread(target=send_one, args=(base, card))
        for base, card in zip(running.webs, cards, strict=True)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    if errors:
        raise errors[0]
    return urls


def job_of(running: Stack, url: str) -> int:
    return running.sql("SELECT job_id FROM upload WHERE id = %s", url.rsplit("/", 1)[1])[0][0]


@dataclass
class Kill:
    worker: subprocess.Popen
    job_id: int
    keys_stored: int  # of the card's objects, when it was killed
    keys_total: int
    rows: int  # of the card's file outcomes committed, when it was killed


def kill_mid_card(
    running: Stack,
    cards: dict[str, Card],
    urls: dict[str, str],
    seconds: float = 120,
    min_rows: int = 0,
) -> Kill:
    """SIGKILL a worker part-way through a card: some of its objects stored, not all of them, and
    at least `min_rows` of its file outcomes committed but not all. The worker is frozen
    (SIGSTOP) while that is looked at, so what is seen is what it leaves behind; if the card is
    not that far, it goes on (SIGCONT) and is looked at again."""
    card_of_job = {job_of(running, url): cards[name] for name, url in urls.items()}

    def catch() -> Kill | None:
        for worker in [w for w in running.workers if w.poll() is None]:
            for job_id in _running_jobs(running.logs[worker.pid]) & card_of_job.keys():
                worker.send_signal(signal.SIGSTOP)
                card = card_of_job[job_id]
                stored = len(card.keys & running.stored_keys())
                rows = _files_of(running, job_id)
                if 0 < stored < len(card.keys) and min_rows <= rows < len(card.shas):
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    return Kill(worker, job_id, stored, len(card.keys), rows)
                worker.send_signal(signal.SIGCONT)
        return None

    return wait_until(catch, seconds, "a worker mid-card", every=0.02)


def _running_jobs(log: Path) -> set[int]:
    """Jobs a worker's log says it started and has not finished."""
    text = log.read_text(errors="replace") if log.exists() else ""
    started = {int(j) for j in re.findall(r"job (\d+) \(\S+\) started", text)}
    return started - {int(j) for j in re.findall(r"job (\d+) \(\S+\) done", text)}


def _files_of(running: Stack, job_id: int) -> int:
    query = (
        "SELECT count(*) FROM upload_file JOIN upload ON upload.id = upload_file.upload_id "
        "WHERE upload.job_id = %s"
    )
    return running.sql(query, job_id)[0][0]


def wait_done(running: Stack, token: str, urls: dict[str, str], seconds: float) -> dict:
    """Each card's status once its import is done, asked of the other web process."""
    statuses = {}
    for name, url in urls.items():
        other = next(base for base in running.webs if not url.startswith(base))
        status_url = other + url[url.index("/uploads/") :] + "/status"
        statuses[name] = wait_until(
            lambda u=status_url: (s := stack.status(u, token)) and s["state"] == "done" and s,
            seconds,
            f"{name}'s import",
        )
    return statuses


def problems(running: Stack, cards: dict[str, Card], urls: dict, statuses: dict) -> list[str]:
    """Everything that is not as the check wants it, in words; [] when all holds."""
    found = []
    for name, card in cards.items():
        status, photos = statuses[name], len(card.shas)
        counts = tuple(status[k] for k in ("total", "added", "duplicate", "rejected"))
        if counts != (photos, photos, 0, 0):
            found.append(f"{name}: total/added/duplicate/rejected {counts}, not ({photos}, ...)")
        outcomes = Counter(f["status"] for f in status["files"])
        if outcomes != {"added": photos}:
            found.append(f"{name}: its status lists the files as {dict(outcomes)}")
    shas = Counter(sha for (sha,) in running.sql("SELECT sha256 FROM image"))
    expected = {sha for card in cards.values() for sha in card.shas}
    if set(shas) != expected or set(shas.values()) != {1}:
        twice = sum(1 for n in shas.values() if n > 1)
        found.append(
            f"image rows: {len(expected - set(shas))} photos missing, {twice} more than once, "
            f"{len(set(shas) - expected)} not on the cards"
        )
    found += _row_problems(running, urls, len(expected))
    keys = running.stored_keys()
    wanted = {key for card in cards.values() for key in card.keys}
    if keys != wanted:
        found.append(
            f"store: {len(wanted - keys)} originals or previews missing, "
            f"{len(keys - wanted)} objects no photo has, e.g. {sorted(keys ^ wanted)[:3]}"
        )
    uploads = running.work / "uploads"
    left = [p for folder in ("cards", "parts") if (uploads / folder).exists()
            for p in (uploads / folder).iterdir()]  # fmt: skip
    if left:
        found.append(f"cards or partial uploads left in the upload folder: {left}")
    queued = queue_length(running.jobs_url)
    if queued:
        found.append(f"{queued} tasks left in the Redis queue")
    return found


def _row_problems(running: Stack, urls: dict, photos: int) -> list[str]:
    found = []
    files = running.sql(
        "SELECT count(*), count(DISTINCT (upload_id, name)), count(DISTINCT image_id) "
        "FROM upload_file"
    )[0]
    if files != (photos, photos, photos):
        found.append(f"file outcomes (rows, files, images) {files}: not one per photo")
    unrecorded = running.sql(
        "SELECT count(*) FROM image WHERE id NOT IN "
        "(SELECT image_id FROM upload_file WHERE image_id IS NOT NULL)"
    )[0][0]
    if unrecorded:
        found.append(f"{unrecorded} image rows no card's file outcome names")
    uploads = {upload_id for (upload_id,) in running.sql("SELECT id FROM upload")}
    if uploads != {url.rsplit("/", 1)[1] for url in urls.values()}:
        found.append(f"upload rows {sorted(uploads)}: not the two cards' uploads")
    states = Counter(state for (state,) in running.sql("SELECT state FROM job"))
    if states != {"done": len(urls)}:
        found.append(f"jobs {dict(states)}: not one done per card")
    return found


def queue_length(jobs_url: str) -> int:
    """Tasks waiting in huey's Redis queue `jobs_url`, now or scheduled for a retry."""
    url, name = _queue(jobs_url)
    with redis.Redis.from_url(url) as conn:
        return conn.llen(f"huey.redis.{name}") + conn.zcard(f"huey.schedule.{name}")


def forget_queue(jobs_url: str) -> None:
    """Delete whatever huey kept in Redis for the queue `jobs_url`."""
    url, name = _queue(jobs_url)
    with redis.Redis.from_url(url) as conn:
        for key in list(conn.scan_iter(match=f"huey.*.{name}*")):
            conn.delete(key)


def _queue(jobs_url: str) -> tuple[str, str]:
    """The Redis URL and the queue's name in its keys (huey keeps only [A-Za-z0-9_] of it)."""
    url, _, name = jobs_url.partition("#")
    return url, re.sub("[^A-Za-z0-9_]", "", name or "tracker")


def attempts(running: Stack, job_id: int) -> int:
    return running.sql("SELECT attempts FROM job WHERE id = %s", job_id)[0][0]
