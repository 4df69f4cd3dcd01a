"""The multi-machine check at full size: tests/multimachine.py (which tests/test_multimachine.py
runs on small cards in the PostgreSQL pass) on cards of --photos photos, with times.

Two web processes (gunicorn) and two `tracker worker`s share PostgreSQL (127.0.0.1:5432, a
database made for the run), a Redis job queue (127.0.0.1:6379) and a SeaweedFS object store.
Two cards are uploaded at once with tus, each through a different web process; the worker that
is importing a card is killed with SIGKILL once a batch of it has committed; a new worker takes
its place, as systemd's Restart=always would. Every photo must be in the database once, with
its original, preview and thumbnail in the store, and both cards' reports must count every
photo as added.

Usage: .venv/bin/python bench/multimachine.py [--photos 1000]   (exit status 0 when all holds)
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import multimachine  # noqa: E402  (the check itself, shared with the tests)
import stack  # noqa: E402

from tracker.ingest import BATCH_SIZE  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"


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
    # One Redis queue of its own (the fragment names it), shared by every process.
    jobs_url = f"redis://127.0.0.1:6379/0#{name}"
    try:
        with multimachine.running(
            work, f"{PG}/{name}", jobs_url, web_workers=2, lease=5
        ) as running:
            return run(running, args.photos)
    finally:
        multimachine.forget_queue(jobs_url)
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"logs in {work}")


def run(running: multimachine.Stack, photos: int) -> int:
    token = stack.ranger_with_station(running.env)
    cards = {
        card.path.name: card
        for card in (
            multimachine.make_card(running.work / "card-a.zip", photos, datetime(2024, 3, 1, 20)),
            multimachine.make_card(running.work / "card-b.zip", photos, datetime(2024, 4, 1, 20)),
        )
    }
    started = time.monotonic()
    urls = multimachine.upload_at_once(running, token, list(cards.values()))
    print(f"two cards of {photos} photos uploaded at once through two web processes "
          f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    kill = multimachine.kill_mid_card(running, cards, urls, 300, min_rows=BATCH_SIZE)
    print(f"worker {kill.worker.pid} killed with SIGKILL mid-card: job {kill.job_id} had "
          f"{kill.rows} of {photos} files done, {kill.keys_stored} of {kill.keys_total} "
          "objects stored")  # fmt: skip
    running.start_worker("worker-restarted")
    statuses = multimachine.wait_done(running, token, urls, 600)
    print(f"both imports done {time.monotonic() - started:.1f} s after the uploads began")
    problems = multimachine.problems(running, cards, urls, statuses)
    attempts = multimachine.attempts(running, kill.job_id)
    print(f"{2 * photos} photos: every one once, with its original, preview and thumbnail in "
          f"the store and nothing else there: {'no' if problems else 'yes'}")  # fmt: skip
    print(f"job {kill.job_id}, whose worker was killed, finished on attempt {attempts}")
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems or attempts != 2 else 0


if __name__ == "__main__":
    sys.exit(main())
