"""Detector results imported in the background (tracker.jobs), from the Upload and deployment
pages: a season's file takes longer than a request should.

The page stores the file under MEDIA_DIR/detections/ and submits `import_file`; the job's
result is the import's summary, or the problems that made the file refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from tracker.detections import importer, megadetector
from tracker.errors import InvalidInput
from tracker.jobs import submit
from tracker.models import Deployment, Job, User
from tracker.sources import Item

FUNCTION = "tracker.detections.jobs:import_file"
FOLDER = "detections"


def is_results(name: str) -> bool:
    return name.lower().endswith(".json")


def divert(items: Iterable[Item], found: list[tuple[str, bytes]]) -> Iterator[Item]:
    """The items that are not detector results; results files (`.json`, beside the photos or
    in their zip) go into `found` as (name, bytes) instead of being refused as photos."""
    for item in items:
        if is_results(item.name) and item.reason is None:
            data, reason = item.load()
            if reason is None and data is not None:
                found.append((item.name, data))
                continue
        yield item


def queue_import(session: Session, settings, deployment: Deployment, name: str, data: bytes,
                 actor: User | None) -> Job:  # fmt: skip
    """Store a results file and submit its import; flushes, the caller commits."""
    folder = Path(settings["MEDIA_DIR"]) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.json"
    path.write_bytes(data)
    return submit(session, settings, FUNCTION, deployment_id=deployment.id, path=str(path),
                  file_name=name[-255:], actor_id=actor.id if actor else None)  # fmt: skip


def import_file(session: Session, settings, deployment_id: int, path: str, file_name: str,
                actor_id: int | None) -> dict:  # fmt: skip
    """The job: import the stored file; a refused file is a result (its problems), not a
    failure to retry. The stored file is kept, as the record of what was imported."""
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        return {"file": file_name, "refused": {"deployment": f"No deployment {deployment_id}."}}
    actor = session.get(User, actor_id) if actor_id else None
    try:
        with open(path, "rb") as fh:
            output = megadetector.load(fh)
    except InvalidInput as exc:
        return {"file": file_name, "refused": exc.errors}
    report = importer.import_results(session, deployment, output,
                                     settings["DETECTION_THRESHOLD"], file_name, actor)  # fmt: skip
    unmatched = [o.file for o in report.outcomes if o.status in ("unmatched", "ambiguous")]
    return {"file": file_name, "deployment_id": deployment_id, "summary": report.summary,
            "not_matched": unmatched[:100]}  # fmt: skip
