"""Background jobs on huey with real `tracker worker` processes, on both database backends."""

from __future__ import annotations

import signal

import pytest
from conftest import fetch
from sqlalchemy import select
from workers import start_worker, stop_worker, wait_until

from tracker import jobs
from tracker.jobs import queue
from tracker.models import AuditLog, Job


@pytest.fixture
def job_app(app_config):
    from tracker import create_app

    # A short lease: a killed worker's job is found within seconds, not a minute.
    app = create_app(app_config | {"JOB_LEASE_SECONDS": 2}, web=False)
    yield app
    app.extensions["tracker.engine"].dispose()


def _submit(app, function: str, **args) -> int:
    with app.extensions["tracker.sessionmaker"]() as session:
        job = jobs.submit(session, app.config, function, **args)
        session.commit()
        return job.id


def _job(app, job_id: int) -> Job:
    return fetch(app, select(Job).where(Job.id == job_id))[0][0]


def _stamps(app, label: str) -> int:
    rows = fetch(app, select(AuditLog).where(AuditLog.action == "job"))
    return sum(1 for (row,) in rows if row.entity_id == label)


def test_a_worker_runs_a_submitted_job(job_app, tmp_path):
    job_id = _submit(job_app, "jobfuncs:stamp", label="one")
    worker = start_worker(job_app.config, tmp_path / "worker.log")
    try:
        wait_until(lambda: _job(job_app, job_id).state == "done", what="the job to finish")
    finally:
        stop_worker(worker)
    job = _job(job_app, job_id)
    assert (job.attempts, job.result, job.error) == (1, {"label": "one"}, None)
    assert _stamps(job_app, "one") == 1


def test_a_job_rolled_back_is_never_queued(job_app, tmp_path):
    with job_app.extensions["tracker.sessionmaker"]() as session:
        jobs.submit(session, job_app.config, "jobfuncs:stamp", label="never")
        session.rollback()
    done_id = _submit(job_app, "jobfuncs:stamp", label="after")
    worker = start_worker(job_app.config, tmp_path / "worker.log")
    try:
        wait_until(lambda: _job(job_app, done_id).state == "done", what="the later job")
    finally:
        stop_worker(worker)
    assert fetch(job_app, select(Job.id)) == [(done_id,)]
    assert _stamps(job_app, "never") == 0


def test_a_job_whose_worker_is_killed_runs_again_once(job_app, tmp_path):
    gate = tmp_path / "gate"
    job_id = _submit(job_app, "jobfuncs:stamp", label="survivor", wait_file=str(gate))
    first = start_worker(job_app.config, tmp_path / "first.log")
    try:
        wait_until(lambda: (tmp_path / "gate.started").exists(), what="the job to start")
        assert _job(job_app, job_id).state == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    gate.touch()
    second = start_worker(job_app.config, tmp_path / "second.log")
    try:
        wait_until(lambda: _job(job_app, job_id).state == "done", what="the retried job")
    finally:
        stop_worker(second)
    job = _job(job_app, job_id)
    assert job.attempts == 2
    assert _stamps(job_app, "survivor") == 1
    assert "lost its worker" in (tmp_path / "second.log").read_text()


def test_a_job_that_keeps_failing_fails_with_its_reason(job_app, tmp_path):
    job_id = _submit(job_app, "jobfuncs:explode")
    worker = start_worker(job_app.config, tmp_path / "worker.log")
    try:
        wait_until(lambda: _job(job_app, job_id).state == "failed", 60, "the job to fail")
    finally:
        stop_worker(worker)
    job = _job(job_app, job_id)
    assert job.attempts == 3
    assert job.error == "ValueError: this job always fails"


def test_a_job_is_named_by_its_import_path(job_app):
    with job_app.extensions["tracker.sessionmaker"]() as session, pytest.raises(ValueError):
        jobs.submit(session, job_app.config, "not a function")


def test_a_queue_in_the_trackers_own_database_leaves_its_schema_alone(
    app_config, backend, tmp_path
):
    """On PostgreSQL the queue may live in the tracker's database (one service for workers on
    other machines): huey adds its huey_* tables, and `tracker db check` still passes."""
    from tracker import create_app

    config = app_config | {"JOB_LEASE_SECONDS": 2}
    if backend == "postgresql":
        config["JOBS_URL"] = app_config["DATABASE_URL"]
    app = create_app(config, web=False)
    try:
        job_id = _submit(app, "jobfuncs:stamp", label="shared")
        worker = start_worker(app.config, tmp_path / "worker.log")
        try:
            wait_until(lambda: _job(app, job_id).state == "done", what="the job to finish")
        finally:
            stop_worker(worker)
        assert _stamps(app, "shared") == 1
        result = app.test_cli_runner().invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
    finally:
        queue.queue(app.config["JOBS_URL"])[0].storage.close()  # the submit's connection
        app.extensions["tracker.engine"].dispose()
