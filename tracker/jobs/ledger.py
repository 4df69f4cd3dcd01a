"""The job table: submit a job, claim it in a worker, beat while it runs, record how it ended.

Domain code: every function takes the session and the time; the worker commits.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from tracker.models import Job

FUNCTION_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# Attempts after which a job that keeps dying (killing its worker, say) is given up as failed.
MAX_ATTEMPTS = 5
# A queued job whose message may have been lost (the queue was down at submit) is sent again
# after this long; running it twice is harmless (claim() lets one worker have it).
REQUEUE_QUEUED_AFTER = timedelta(minutes=15)
_PENDING = "tracker.jobs.pending"
log = logging.getLogger("tracker.jobs")


def submit(session: Session, settings, function: str, **args) -> Job:
    """Add a job to run `function` (its "module:name") with `args` (JSON values).

    The job is handed to the queue when the session commits, so a worker never looks for a row
    it cannot see yet, and a rolled-back request queues nothing.
    """
    if not FUNCTION_RE.match(function):
        raise ValueError(f"a job function is named 'package.module:function', not {function!r}")
    job = Job(function=function, args=args, state="queued")
    session.add(job)
    session.flush()
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        event.listen(session, "after_commit", _push_pending)
        event.listen(session, "after_rollback", _forget_pending)
    session.info[_PENDING].append((settings["JOBS_URL"], job.id))
    return job


def _push_pending(session: Session) -> None:
    from tracker.jobs import queue

    pending, session.info[_PENDING] = session.info[_PENDING], []
    for url, job_id in pending:
        try:
            queue.push(url, job_id)
        except Exception:
            # The row is committed and stays queued: a worker's sweep sends it again later.
            log.exception("job %s could not reach the queue yet", job_id)


def _forget_pending(session: Session) -> None:
    session.info[_PENDING] = []


def claim(session: Session, job_id: int, now: datetime, lease: timedelta) -> Job | None:
    """Mark the job running for this worker; None when it is done or alive elsewhere.

    One conditional UPDATE decides, so two workers handed the same job never both run it.
    """
    claimable = or_(
        Job.state == "queued", (Job.state == "running") & (Job.heartbeat_at < now - lease)
    )
    claimed = session.execute(
        update(Job)
        .where(Job.id == job_id, claimable)
        .values(state="running", attempts=Job.attempts + 1, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    job = session.get(Job, job_id, populate_existing=True)
    if job.attempts > MAX_ATTEMPTS:
        job.state, job.finished_at = "failed", now
        job.error = f"given up after {MAX_ATTEMPTS} attempts that never finished"
        return None
    return job


def beat(session: Session, job_id: int, now: datetime) -> None:
    """The running job is alive."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "running")
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )


def finish(session: Session, job: Job, now: datetime, result: dict | None) -> None:
    job.state, job.result, job.error, job.finished_at = "done", result, None, now


def fail(session: Session, job: Job, now: datetime, error: str, *, final: bool) -> None:
    """Record the error; the job waits for its retry, or has failed for good."""
    job.error = error[:4000]
    job.heartbeat_at = now
    job.state = "failed" if final else "queued"
    if final:
        job.finished_at = now


def abandoned(session: Session, now: datetime, lease: timedelta) -> list[int]:
    """Jobs to send to the queue again: running without a heartbeat, or queued for long.

    They are queued again with a heartbeat of now, so each sweep sends each of them once and the
    next worker to be handed one claims it at once.
    """
    query = select(Job.id).where(
        or_(
            (Job.state == "running") & (Job.heartbeat_at < now - lease),
            (Job.state == "queued") & (Job.heartbeat_at < now - REQUEUE_QUEUED_AFTER),
        )
    )
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(state="queued", heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids
