"""The huey instance for a jobs URL, and the one huey task that runs any tracker job.

sqlite:///path (default, embedded), redis://host:port/db or postgresql://... for many machines.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey

# Huey retries a job that raised this many times more (a database briefly unreachable, say);
# a job whose worker died is retried by the sweep in tracker.jobs.worker instead.
RETRIES = 2
RETRY_DELAY_SECONDS = 5

# Set by `tracker worker` before it starts consuming: runs one job by id in the worker's app.
_runner: Callable[[int], None] | None = None


def set_runner(runner: Callable[[int], None]) -> None:
    global _runner
    _runner = runner


def _run(job_id: int) -> None:
    if _runner is None:
        raise RuntimeError("a tracker job ran outside `tracker worker`")
    _runner(job_id)


def _storage(url: str) -> Huey:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("tracker", filename=str(path), results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        # redis://host:6379/0#name: several trackers (or test runs) on one Redis, each its queue.
        url, _, name = url.partition("#")
        return RedisHuey(name or "tracker", url=url, results=False)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        # The tracker's own DATABASE_URL may be given as it is (huey's tables are huey_*).
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        return PostgresHuey("tracker", dsn=dsn, results=False)
    raise RuntimeError(
        f"TRACKER_JOBS_URL must start with sqlite:///, redis:// or postgresql://, not {url!r}"
    )


@functools.cache
def queue(url: str) -> tuple[Huey, Callable]:
    """The huey instance for `url` and its task that runs a tracker job by id."""
    huey = _storage(url)
    task = huey.task(retries=RETRIES, retry_delay=RETRY_DELAY_SECONDS, name="tracker.job")(_run)
    return huey, task


def push(url: str, job_id: int) -> None:
    """Hand a job's id to the queue; a worker picks it up."""
    _huey, task = queue(url)
    task(job_id)
