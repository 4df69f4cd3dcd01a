"""A received card: its import job, the outcome of every file, and its status.

Every file's outcome (an `upload_file` row) commits in the same transaction as its image row, so
a job run again after its worker was killed skips exactly the files already done: each photo
lands once, and the report still says which ones this card added.
"""

from __future__ import annotations

import os
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, joinedload

from tracker import ingest, jobs, sources
from tracker.models import OUTCOMES, Image, Job, Upload, UploadFile
from tracker.sightings import TagRules
from tracker.uploads import destination, tus

JOB = "tracker.uploads.cards:import_card"


def card_path(settings, upload_id: str) -> Path:
    """Where a fully received card waits for its import (outside the tus library's store)."""
    return Path(settings["UPLOAD_DIR"]) / "cards" / upload_id


def start(session, upload_id, filename, size, deployment, station, user, now) -> Upload:
    """Record a new upload, its destination already checked (destination.check)."""
    upload = Upload(
        id=upload_id,
        filename=filename.strip()[-255:],
        size=size,
        deployment=deployment,
        station=station,
        user=user,
        created_at=now,
    )
    session.add(upload)
    session.flush()
    return upload


def receive(session: Session, settings, upload: Upload, tus_file: str, now: datetime) -> bool:
    """Take a finished upload out of the tus store and queue its import; False if done before.

    One conditional update decides, so a last chunk retried by a client on a bad link (or sent
    to two web processes) queues the import once.
    """
    won = session.execute(
        update(Upload)
        .where(Upload.id == upload.id, Upload.received_at.is_(None))
        .values(received_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return False
    target = card_path(settings, upload.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tus_file, target)
    upload.job = jobs.submit(session, settings, JOB, upload_id=upload.id)
    return True


def _count(path: Path, name: str) -> int:
    """Files on the card: a zip's members (less folders and system files), else one."""
    with path.open("rb") as fh:
        if not sources.is_zip(name, fh.read(4)):
            return 1
        fh.seek(0)
        try:
            members = zipfile.ZipFile(fh).infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return 1
    return sum(1 for m in members if not m.is_dir() and not sources.is_junk(m.filename))


def import_card(session: Session, settings, *, upload_id: str) -> dict:
    """The job: ingest the card's files not yet done, recording each one's outcome."""
    upload = session.get(Upload, upload_id)
    path = card_path(settings, upload_id)
    done = set(session.scalars(select(UploadFile.name).where(UploadFile.upload_id == upload_id)))
    if upload.total is None:
        upload.total = _count(path, upload.filename)
    limits = ingest.Limits()
    zip_limits = sources.ZipLimits(max_file_bytes=limits.max_file_bytes)

    def record(outcome: ingest.Outcome) -> None:
        session.add(
            UploadFile(
                upload_id=upload_id,
                name=outcome.name[-255:],
                status=outcome.status,
                image_id=outcome.image_id if outcome.status != "rejected" else None,
                reason=outcome.reason[:500] if outcome.reason else None,
                warnings=list(outcome.warnings),
            )
        )

    with path.open("rb") as fh:
        items = (
            item
            for item in sources.file_item(fh, upload.filename, zip_limits)
            if item.name[-255:] not in done
        )
        deployment = upload.deployment
        if deployment is None:
            dates, items = destination.sample_dates(items)
            deployment = destination.deployment_for_card(session, upload.station, dates)
            upload.deployment = deployment
        ingest.ingest(
            session,
            items,
            deployment,
            settings["MEDIA_DIR"],
            user=upload.user,
            limits=limits,
            tag_rules=TagRules.from_config(settings),
            before_commit=lambda outcomes: [record(o) for o in outcomes],
            on_rejected=record,
            previews=True,
        )
    session.flush()
    path.unlink()
    return counts(session, upload_id)


def counts(session: Session, upload_id: str) -> dict[str, int]:
    query = (
        select(UploadFile.status, func.count())
        .where(UploadFile.upload_id == upload_id)
        .group_by(UploadFile.status)
    )
    found = dict(session.execute(query).all())
    return {status: found.get(status, 0) for status in ("added", "duplicate", "rejected")}


def status(session: Session, upload: Upload) -> dict:
    """The upload's state and counts; every file's outcome once its import is done."""
    state = "uploading" if upload.job is None else upload.job.state
    body = {"state": state, "total": upload.total, **counts(session, upload.id)}
    if state == "failed":
        body["error"] = upload.job.error
    if state == "done":
        rows = session.scalars(
            select(UploadFile).where(UploadFile.upload_id == upload.id).order_by(UploadFile.id)
        )
        body["files"] = [
            {"name": r.name, "status": r.status, "image_id": r.image_id, "reason": r.reason,
             "warnings": r.warnings}
            for r in rows
        ]  # fmt: skip
    return body


def files_by_status(session: Session, upload_id: str) -> dict[str, list[UploadFile]]:
    """The upload's files grouped by outcome, with each duplicate's image and where it is."""
    query = (
        select(UploadFile)
        .where(UploadFile.upload_id == upload_id)
        .options(joinedload(UploadFile.image).joinedload(Image.deployment))
        .order_by(UploadFile.id)
    )
    grouped: dict[str, list[UploadFile]] = {status: [] for status in OUTCOMES}
    for row in session.scalars(query):
        grouped[row.status].append(row)
    return grouped


def forget_abandoned(session: Session, settings, now: datetime) -> int:
    """Remove the uploads never finished within TRACKER_UPLOAD_KEEP_HOURS: their partial files
    and records, the tus library's and the tracker's. Returns how many the tracker had.
    The card of an import that failed for good goes as long after (its record and its error
    stay).

    Every worker's sweep runs this, so they go even when no upload request comes to make the
    library look for expired ones itself.
    """
    cutoff = now - timedelta(hours=settings["UPLOAD_KEEP_HOURS"])
    failed = (
        select(Upload.id).join(Upload.job).where(Job.state == "failed", Job.finished_at < cutoff)
    )
    for upload_id in session.scalars(failed):
        card_path(settings, upload_id).unlink(missing_ok=True)
    query = select(Upload.id).where(Upload.received_at.is_(None), Upload.created_at < cutoff)
    ids = list(session.scalars(query))
    for upload_id in ids:
        tus.forget(settings, upload_id)
    if ids:
        session.execute(
            delete(Upload).where(Upload.id.in_(ids)).execution_options(synchronize_session=False)
        )
    tus.remove_expired(settings)
    return len(ids)
