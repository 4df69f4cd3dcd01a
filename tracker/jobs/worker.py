"""`tracker worker`: a huey consumer that runs tracker jobs, beats for them, and sweeps up.

Each job runs in a session of its own; the job function flushes and this edge commits. While a
job runs, a thread moves its heartbeat forward; a sweep in every worker finds jobs whose
heartbeat stopped (their worker was killed) and queues them again.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from tracker import storage
from tracker.errors import InvalidInput
from tracker.jobs import ledger, queue
from tracker.models import Job, utcnow

log = logging.getLogger("tracker.jobs")
# Housekeeping each sweep also does: functions (session, settings, now) -> count, by import path.
MAINTENANCE = [
    "tracker.jobs.worker:remove_half_written",
    "tracker.uploads.cards:forget_abandoned",
]


def resolve(function: str) -> Callable:
    """The function a job names ("package.module:function")."""
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


def lease(app: Flask) -> timedelta:
    return timedelta(seconds=app.config["JOB_LEASE_SECONDS"])


def run_job(app: Flask, job_id: int) -> None:
    """Claim the job and run it; raise to let huey retry it, unless it has failed for good."""
    maker = app.extensions["tracker.sessionmaker"]
    with maker() as session:
        job = ledger.claim(session, job_id, utcnow(), lease(app))
        session.commit()
        if job is None:
            return
        log.info("job %s (%s) started, attempt %s", job_id, job.function, job.attempts)
        stop = threading.Event()
        beater = threading.Thread(target=_beat, args=(app, job_id, stop), daemon=True)
        beater.start()
        try:
            with app.app_context():
                result = resolve(job.function)(session, app.config, **job.args)
            ledger.finish(session, job, utcnow(), result)
            session.commit()
            log.info("job %s (%s) done", job_id, job.function)
        except Exception as exc:
            session.rollback()
            job = session.get(Job, job_id, populate_existing=True)
            # Refused input (a card no deployment of its station covers) is refused again on
            # every retry: the job fails at once, with the reason a ranger can act on.
            refused = isinstance(exc, InvalidInput)
            final = refused or job.attempts > queue.RETRIES
            error = "; ".join(exc.errors.values()) if refused else f"{type(exc).__name__}: {exc}"
            ledger.fail(session, job, utcnow(), error, final=final)
            session.commit()
            if not final:
                raise
            log.exception("job %s (%s) failed for good", job_id, job.function)
        finally:
            stop.set()
            beater.join()


def _beat(app: Flask, job_id: int, stop: threading.Event) -> None:
    interval = lease(app).total_seconds() / 4
    maker = app.extensions["tracker.sessionmaker"]
    while not stop.wait(interval):
        try:
            with maker() as session:
                ledger.beat(session, job_id, utcnow())
                session.commit()
        except Exception:  # a missed beat is retried; the job itself goes on
            log.exception("heartbeat of job %s", job_id)


def remove_half_written(_session, settings, _now) -> int:
    """Files a killed process of this machine was writing into the media folder (the same
    clean-up every import does first, storage.remove_leftovers)."""
    return len(storage.remove_leftovers(settings["MEDIA_DIR"]))


def sweep(app: Flask) -> list[int]:
    """Queue again the jobs whose worker died, and do the housekeeping; returns the job ids."""
    maker = app.extensions["tracker.sessionmaker"]
    with maker() as session:
        ids = ledger.abandoned(session, utcnow(), lease(app))
        for function in MAINTENANCE:
            resolve(function)(session, app.config, utcnow())
        session.commit()
    for job_id in ids:
        log.warning("job %s lost its worker: queued again", job_id)
        queue.push(app.config["JOBS_URL"], job_id)
    return ids


def _sweeper(app: Flask, stop: threading.Event) -> None:
    interval = lease(app).total_seconds() / 2
    while True:
        try:
            sweep(app)
        except Exception:
            log.exception("sweeping for abandoned jobs")
        if stop.wait(interval):
            return


def serve(app: Flask, threads: int) -> None:
    """Consume jobs until stopped (SIGINT or SIGTERM end it after the running jobs)."""
    queue.set_runner(functools.partial(run_job, app))
    huey, _task = queue.queue(app.config["JOBS_URL"])
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweeper, args=(app, stop), daemon=True, name="sweeper")
    sweeper.start()
    consumer = huey.create_consumer(
        workers=threads, worker_type="thread", periodic=False, max_delay=1.0
    )
    try:
        consumer.run()
    finally:
        stop.set()
