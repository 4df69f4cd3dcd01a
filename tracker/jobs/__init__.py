"""Background jobs: work that outlives a request, run by `tracker worker` processes.

The job library is huey: its SQLite storage on the embedded default (a file beside the database,
nothing to install or start but the worker), Redis or PostgreSQL when workers run on other
machines (TRACKER_JOBS_URL). Huey carries a job's id from the web to a worker and retries a job
that raised; the `job` table (tracker.models.Job) says what the job is and how far it got, so a
job whose worker was killed mid-way is found by its stopped heartbeat and run again.

A job is a plain function `fn(session, settings, **args)` named by its import path, e.g.
"tracker.uploads.jobs:ingest_upload". It must be safe to run again after a crash: it flushes,
and the runner commits. Use:

    job = jobs.submit(session, settings, "package.module:function", upload_id=7)
    session.commit()   # the job is handed to the queue once its row is committed
"""

from tracker.jobs.ledger import submit

__all__ = ["submit"]
