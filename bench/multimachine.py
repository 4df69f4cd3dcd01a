"""The multi-machine check, on one machine: every part as its own process, talking over loopback.

Two web processes (gunicorn) and two `tracker worker`s share PostgreSQL (127.0.0.1:5432), a Redis
job queue (127.0.0.1:6379) and a SeaweedFS object store (started here); partial uploads and
received cards sit in one shared upload folder. Two cards are uploaded at once with tus, each
through a different web process; the worker that is importing a card is killed with SIGKILL
mid-card. At the end every photo must be in the database once, with its original, preview and
thumbnail in the store, and both cards' reports must count every photo as added.

Usage: .venv/bin/python bench/multimachine.py [--photos 1000]   (exit status 0 when all holds)
"""

from __future__ import annotations

import argparse
import io
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import stack
from stack import status as _json
from stack import wait_for
from tusclient import client as tus_client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import seaweed  # noqa: E402  (the tests' SeaweedFS starter)

from tracker import objectstore, storage  # noqa: E402
from tracker.ingest import BATCH_SIZE  # noqa: E402
from tracker.synthetic import jpeg_bytes  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"


def make_card(path: Path, photos: int, first_day: datetime) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(photos):
            taken = first_day + timedelta(minutes=7 * i)
            archive.writestr(f"DCIM/IMG_{i:04}.JPG", jpeg_bytes(taken, size=(320, 240), seed=i))


def upload(base: str, token: str, card: Path, results: dict) -> None:
    client = tus_client.TusClient(f"{base}/uploads/", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(
        file_stream=io.BytesIO(card.read_bytes()),
        chunk_size=256 * 1024,
        metadata={"filename": card.name, "station": "kp-01"},
    )
    uploader.upload()
    results[card.name] = uploader.url


def sql(url: str, query: str):
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000, help="photos per card")
    args = parser.parse_args()
    if args.photos < 3 * BATCH_SIZE:
        parser.error(f"--photos: at least {3 * BATCH_SIZE}, so a worker can be caught mid-card")
    work = Path(tempfile.mkdtemp(prefix="tracker-multimachine-"))
    name = f"tracker_mm_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = f"{PG}/{name}"
    weed, endpoint = seaweed.start(work)
    processes: list[subprocess.Popen] = []
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": db,
        # One Redis queue of its own (the fragment names it), shared by every process.
        "TRACKER_JOBS_URL": f"redis://127.0.0.1:6379/0#{name}",
        "TRACKER_MEDIA_URL": f"s3://{seaweed.BUCKET}/{name}",
        "TRACKER_UPLOAD_DIR": str(work / "uploads"),
        "TRACKER_INSTANCE_PATH": str(work / "instance"),
        "TRACKER_SECRET_KEY": secrets.token_urlsafe(32),
        "TRACKER_JOB_LEASE_SECONDS": "5",
        "AWS_ENDPOINT_URL": endpoint,
        **seaweed.AWS_ENV,
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        token = stack.ranger_with_station(env)
        webs = []
        for i in range(2):
            web, base = stack.gunicorn(env, work / f"web{i}.log")
            processes.append(web)
            webs.append(base)
        workers = [stack.worker(env, work / f"worker{i}.log") for i in range(2)]
        processes += workers
        cards = [work / "card-a.zip", work / "card-b.zip"]
        make_card(cards[0], args.photos, datetime(2024, 3, 1, 20, 0))
        make_card(cards[1], args.photos, datetime(2024, 4, 1, 20, 0))
        started = time.monotonic()
        urls: dict[str, str] = {}
        senders = [
            threading.Thread(target=upload, args=(base, token, card, urls))
            for base, card in zip(webs, cards, strict=True)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        print(f"two cards of {args.photos} photos uploaded at once through two web processes "
              f"in {time.monotonic() - started:.1f} s")  # fmt: skip
        victim, job_id = wait_for(
            "a worker mid-card", lambda: mid_card(work, workers, db, args.photos), 300
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        print(f"worker {victim.pid} killed with SIGKILL mid-card: job {job_id} had "
              f"{files_of(db, job_id)} of {args.photos} files done")  # fmt: skip
        # As systemd's Restart=always would: a new worker takes the killed one's place.
        processes.append(stack.worker(env, work / "worker-restarted.log"))
        statuses = {}
        for card, url in urls.items():
            other = webs[1] if url.startswith(webs[0]) else webs[0]
            status_url = other + url[url.index("/uploads/") :] + "/status"
            statuses[card] = wait_for(
                f"{card}'s import",
                lambda u=status_url: (s := _json(u, token)) and s["state"] == "done" and s,
            )
        print(f"both imports done {time.monotonic() - started:.1f} s after the uploads began")
        problems = check(db, statuses, args.photos, env["TRACKER_MEDIA_URL"], work / "uploads")
        attempts = sql(db, f"SELECT attempts FROM job WHERE id = {job_id}")[0][0]
        print(f"job {job_id}, whose worker was killed, finished on attempt {attempts}")
        return problems or (0 if attempts == 2 else 1)
    finally:
        stack.stop(processes)
        weed.send_signal(signal.SIGTERM)
        weed.wait(timeout=30)
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"logs in {work}")


def check(db: str, statuses: dict, photos: int, media: str, uploads: Path) -> int:
    problems = []
    for card, status in statuses.items():
        counts = (status["added"], status["duplicate"], status["rejected"])
        if counts != (photos, 0, 0):
            problems.append(f"{card}: added/duplicate/rejected {counts}, not ({photos}, 0, 0)")
    rows, distinct = sql(db, "SELECT count(*), count(DISTINCT sha256) FROM image")[0]
    files = sql(db, "SELECT count(*), count(DISTINCT (upload_id, name)) FROM upload_file")[0]
    if rows != distinct or rows != 2 * photos:
        problems.append(f"{rows} image rows, {distinct} distinct photos: not {2 * photos} once")
    if files != (2 * photos, 2 * photos):
        problems.append(f"file outcomes {files}: not one per photo")
    missing = [
        sha
        for (sha,) in sql(db, "SELECT sha256 FROM image")
        if not all(
            objectstore.exists(media, path)
            for path in (storage.original_relpath(sha), *(storage.preview_relpath(sha, s)
                                                         for s in storage.PREVIEW_SIZES))
        )
    ]  # fmt: skip
    if missing:
        problems.append(f"{len(missing)} photos without their original or previews in the store")
    orphans = stored_keys(media) - {
        path
        for (sha,) in sql(db, "SELECT sha256 FROM image")
        for path in (storage.original_relpath(sha),
                     *(storage.preview_relpath(sha, s) for s in storage.PREVIEW_SIZES))
    }  # fmt: skip
    if orphans:
        problems.append(f"{len(orphans)} objects in the store that no photo has, e.g. {orphans}")
    left = [p for p in (uploads / "cards").iterdir()] + [p for p in (uploads / "parts").iterdir()]
    if left:
        problems.append(f"cards or partial uploads left in the upload folder: {left}")
    attempts = sql(db, "SELECT max(attempts) FROM job")[0][0]
    print(f"{rows} photos, each once; every original, preview and thumbnail in the store: "
          f"{'yes' if not missing else 'no'}; objects no photo has: {len(orphans)}; "
          f"most attempts of a job: {attempts}")  # fmt: skip
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


def stored_keys(media: str) -> set[str]:
    """Every object under the media prefix, as paths relative to it."""
    where = objectstore.location(media)
    pages = (
        objectstore.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=where.bucket, Prefix=f"{where.prefix}/")
    )
    return {
        item["Key"][len(where.prefix) + 1 :] for page in pages for item in page.get("Contents", [])
    }


def files_of(db: str, job_id: int) -> int:
    query = (
        "SELECT count(*) FROM upload_file JOIN upload ON upload.id = upload_file.upload_id "
        f"WHERE upload.job_id = {int(job_id)}"
    )
    return sql(db, query)[0][0]


def mid_card(work: Path, workers: list, db: str, photos: int):
    """(worker, job id) of a worker part-way through a card: some files done, not all."""
    for i, worker in enumerate(workers):
        log = _log(work / f"worker{i}.log")
        running = set(re.findall(r"job (\d+) \(\S+\) started", log)) - set(
            re.findall(r"job (\d+) \(\S+\) done", log)
        )
        for job_id in sorted(int(j) for j in running):
            if 0 < files_of(db, job_id) < photos - BATCH_SIZE:  # a batch or more to go
                return worker, job_id
    return None


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
