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
from datetime import UTC, datetime

from sqlalchemy import delete, select
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


def _path(name: str) -> str:
    """A path with `/` between its folder names, none empty: `a\\b//c` -> `a/b/c`."""
    parts = name.replace("\\", "/").split("/")
    if "" in parts or "." in parts:
        parts = [p for p in parts if p not in ("", ".")]
    return "/".join(parts)


def _tails(path: str):
    """`a/b/c`, `b/c`, `c`: the path and every tail of whole folder names."""
    yield path
    at = path.find("/")
    while at >= 0:
        yield path[at + 1 :]
        at = path.find("/", at + 1)


def match(files: list[str], photos: list[tuple[int, str]]) -> list[tuple[int | None, str]]:
    """(image id, status) per file: matched, unmatched or ambiguous."""
    whole: dict[str, list[int]] = defaultdict(list)  # a photo's whole path
    tails: dict[str, list[int]] = defaultdict(list)  # every tail of it, the whole included
    for image_id, name in photos:
        path = _path(name)
        whole[path].append(image_id)
        for tail in _tails(path):
            tails[tail].append(image_id)
    found = []
    for file in files:
        path = _path(file)
        fits = list(tails.get(path, ())) if path else []
        for tail in _tails(path) if path else ():  # photos whose whole path is a tail of it
            if tail != path and tail in whole:
                fits += whole[tail]
        found.append(fits if len(fits) < 2 else sorted(set(fits)))
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


def _insert(session: Session, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """The driver's executemany of plain tuples: a season's boxes are a million rows, and
    SQLAlchemy's per-row parameter processing would take most of the import's time."""
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    marks = ", ".join([mark] * len(columns))
    # Table and column names are this module's constants, never input.
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
    for start in range(0, len(rows), BATCH):
        connection.exec_driver_sql(sql, rows[start : start + BATCH])


def _stored_time(session: Session, moment: datetime):
    """A time as the UTCDateTime columns store it: naive UTC (text in SQLite's format)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    if session.connection().dialect.name == "sqlite":
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    return naive


def import_results(
    session: Session,
    deployment: Deployment,
    output: BatchOutput,
    default_threshold: float,
    file_name: str = "",
    actor: User | None = None,
    now: datetime | None = None,
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
    stamp = _stored_time(session, now or run.imported_at)
    for entry, (image_id, status) in zip(output.entries, matches, strict=True):
        if entry.failure is not None:
            status = "failure"
        stored = 0
        if image_id is not None:
            results.append((run.id, image_id, entry.failure))
            annotations += _boxes(entry, image_id, run.id, stamp)
            stored = len(entry.detections)
            if status == "matched" and _likely_empty(entry, threshold):
                report.likely_empty += 1
        report.outcomes.append(Outcome(entry.file, image_id, status, stored))
    _insert(session, "detection_result", ("run_id", "image_id", "failure"), results)
    _insert(session, "annotation", BOX_COLUMNS, annotations)
    boxes.link_lone_boxes(session, [r[1] for r in results], default_threshold)
    audit.record(session, actor, "import", "detection_run", run.id, detector=run.detector,
                 deployment=deployment.id, **report.summary)  # fmt: skip
    return report


BOX_COLUMNS = ("image_id", "run_id", "category", "x", "y", "width", "height", "confidence",
               "created_at")  # fmt: skip


def _boxes(entry: Entry, image_id: int, run_id: int, now) -> list[tuple]:
    return [(image_id, run_id, d.category, *d.bbox, d.confidence, now) for d in entry.detections]


def _likely_empty(entry: Entry, threshold: float) -> bool:
    return not any(d.confidence >= threshold for d in entry.detections)
