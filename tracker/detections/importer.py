"""Detector results -> boxes on a deployment's photos, matched by their path on the card.

A `file` in the results is matched to the photo whose stored name (its path on the card, as
imported) ends with it, or that it ends with, whole folder names at a time: `DCIM/IMG_1.JPG`
matches `card-7/DCIM/IMG_1.JPG`, never `XIMG_1.JPG`. An entry that fits several photos, or a
photo that several entries fit, is *ambiguous*; nothing is guessed. Re-importing the same
detector's results for a deployment replaces them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from tracker import audit
from tracker.detections import boxes
from tracker.detections.megadetector import BatchOutput, Entry
from tracker.models import Annotation, Deployment, DetectionResult, DetectionRun, Image, User

STATUSES = ("matched", "unmatched", "ambiguous", "failure")
BATCH = 20_000


@dataclass(frozen=True)
class Outcome:
    file: str
    image_id: int | None
    status: str
    boxes: int

    def as_dict(self) -> dict:
        return {"file": self.file, "image_id": self.image_id, "status": self.status,
                "boxes": self.boxes}  # fmt: skip


@dataclass
class Report:
    run_id: int
    detector: str
    threshold: float
    outcomes: list[Outcome] = field(default_factory=list)
    likely_empty: int = 0

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(o.status for o in self.outcomes)
        summary = {status: counts[status] for status in STATUSES}
        summary["boxes"] = sum(o.boxes for o in self.outcomes)
        summary["likely_empty"] = self.likely_empty
        return summary

    @property
    def not_matched(self) -> int:
        return sum(o.status in ("unmatched", "ambiguous") for o in self.outcomes)


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.replace("\\", "/").split("/") if p not in ("", "."))


def _fits(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """One path is the other's tail, whole folder names at a time."""
    n = min(len(a), len(b))
    return a[-n:] == b[-n:]


def match(files: list[str], photos: list[tuple[int, str]]) -> list[tuple[int | None, str]]:
    """(image id, status) per file: matched, unmatched or ambiguous."""
    by_name: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
    for image_id, name in photos:
        parts = _parts(name)
        if parts:
            by_name[parts[-1]].append((parts, image_id))
    found = []
    for file in files:
        parts = _parts(file)
        fits = [i for p, i in by_name.get(parts[-1], ()) if _fits(p, parts)] if parts else []
        found.append(fits)
    claimed = Counter(fits[0] for fits in found if len(fits) == 1)
    results: list[tuple[int | None, str]] = []
    for fits in found:
        if not fits:
            results.append((None, "unmatched"))
        elif len(fits) > 1 or claimed[fits[0]] > 1:
            results.append((None, "ambiguous"))
        else:
            results.append((fits[0], "matched"))
    return results


def _replace_run(session: Session, deployment: Deployment, output: BatchOutput, file_name: str,
                 actor: User | None) -> DetectionRun:  # fmt: skip
    old = session.scalar(
        select(DetectionRun).where(
            DetectionRun.deployment_id == deployment.id, DetectionRun.detector == output.detector
        )
    )
    if old is not None:
        # Explicit deletes: quicker than the ORM's cascade, and independent of SQLite's pragma.
        session.execute(delete(Annotation).where(Annotation.run_id == old.id))
        session.execute(delete(DetectionResult).where(DetectionResult.run_id == old.id))
        session.delete(old)
        session.flush()
    run = DetectionRun(deployment_id=deployment.id, detector=output.detector,
                       format_version=output.format_version,
                       file_threshold=output.typical_threshold, file_name=file_name[-255:],
                       imported_by_id=actor.id if actor else None)  # fmt: skip
    session.add(run)
    session.flush()
    return run


def _insert(session: Session, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(table), rows[start : start + BATCH])


def import_results(
    session: Session,
    deployment: Deployment,
    output: BatchOutput,
    default_threshold: float,
    file_name: str = "",
    actor: User | None = None,
) -> Report:
    """Store a checked batch output's boxes on the deployment's photos; flush, not commit."""
    photos = session.execute(
        select(Image.id, Image.original_filename).where(Image.deployment_id == deployment.id)
    ).all()
    matches = match([e.file for e in output.entries], [tuple(p) for p in photos])
    run = _replace_run(session, deployment, output, file_name, actor)
    threshold = boxes.effective_threshold(run, default_threshold)
    report = Report(run.id, run.detector, threshold)
    results, annotations = [], []
    for entry, (image_id, status) in zip(output.entries, matches, strict=True):
        if entry.failure is not None:
            status = "failure"
        stored = 0
        if image_id is not None:
            results.append({"run_id": run.id, "image_id": image_id, "failure": entry.failure})
            annotations += _boxes(entry, image_id, run.id)
            stored = len(entry.detections)
            if status == "matched" and _likely_empty(entry, threshold):
                report.likely_empty += 1
        report.outcomes.append(Outcome(entry.file, image_id, status, stored))
    _insert(session, DetectionResult, results)
    _insert(session, Annotation, annotations)
    boxes.link_lone_boxes(session, [r["image_id"] for r in results], default_threshold)
    audit.record(session, actor, "import", "detection_run", run.id, detector=run.detector,
                 deployment=deployment.id, **report.summary)  # fmt: skip
    return report


def _boxes(entry: Entry, image_id: int, run_id: int) -> list[dict]:
    return [
        {"image_id": image_id, "run_id": run_id, "category": d.category, "x": d.bbox[0],
         "y": d.bbox[1], "width": d.bbox[2], "height": d.bbox[3], "confidence": d.confidence}
        for d in entry.detections
    ]  # fmt: skip


def _likely_empty(entry: Entry, threshold: float) -> bool:
    return not any(d.confidence >= threshold for d in entry.detections)
