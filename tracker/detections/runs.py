"""What a deployment's detector runs hold, for its page; and a run's threshold, set by a person."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import audit
from tracker.detections import boxes
from tracker.detections.jobs import FUNCTION
from tracker.errors import InvalidInput
from tracker.models import Annotation, DetectionResult, DetectionRun, Job, User

RECENT_JOBS = 50


@dataclass
class RunSummary:
    run: DetectionRun
    threshold: float
    photos: int
    failures: int
    boxes: int
    shown: int  # boxes at or above the threshold


def summaries(session: Session, deployment_id: int, default: float) -> list[RunSummary]:
    runs = session.scalars(
        select(DetectionRun).where(DetectionRun.deployment_id == deployment_id)
        .order_by(DetectionRun.imported_at.desc())
    ).all()  # fmt: skip
    found = []
    for run in runs:
        threshold = boxes.effective_threshold(run, default)
        photos, failures = session.execute(
            select(func.count(), func.count(DetectionResult.failure))
            .where(DetectionResult.run_id == run.id)
        ).one()  # fmt: skip
        total, shown = session.execute(
            select(func.count(), func.count().filter(Annotation.confidence >= threshold))
            .where(Annotation.run_id == run.id)
        ).one()  # fmt: skip
        found.append(RunSummary(run, threshold, photos, failures, total, shown))
    return found


def recent_jobs(session: Session, deployment_id: int) -> list[Job]:
    """The latest detection imports submitted for this deployment, newest first."""
    jobs = session.scalars(
        select(Job).where(Job.function == FUNCTION).order_by(Job.id.desc()).limit(RECENT_JOBS)
    )
    return [job for job in jobs if (job.args or {}).get("deployment_id") == deployment_id][:10]


def set_threshold(session: Session, run: DetectionRun, text: str, actor: User | None) -> None:
    """A person's threshold for a run (empty: back to the file's or the default)."""
    text = (text or "").strip()
    try:
        value = float(text) if text else None
    except ValueError:
        value = -1.0
    if value is not None and not 0 <= value <= 1:
        raise InvalidInput({"threshold": f"{text!r} is not a confidence from 0 to 1."})
    before = run.threshold
    run.threshold = value
    session.flush()
    audit.record(session, actor, "update", "detection_run", run.id, threshold=[before, value])


@dataclass
class OnPage:
    runs: list[RunSummary]
    jobs: list[Job]


def on_page(session: Session, deployment_id: int, default: float) -> OnPage:
    """What the deployment page shows of its detections."""
    return OnPage(summaries(session, deployment_id, default), recent_jobs(session, deployment_id))
