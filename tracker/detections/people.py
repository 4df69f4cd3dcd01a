"""Photos of people: listed for rangers (anti-poaching), blurred for everyone else.

A person box at or above the threshold makes a photo a photo of people. Roles without the
`see_people` permission (researchers by default) get every preview and thumbnail of it with
the person boxes blurred beyond recognition, and no original.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from PIL import Image as PILImage
from PIL import ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.detections.boxes import counts
from tracker.models import Annotation, Deployment, DetectionRun, Image, Station

MARGIN = 0.15  # of the box's size on each side: a blur that stops at the box shows its edges


def person_boxes(session: Session, image_ids: Iterable[int], default: float) -> dict[int, list]:
    """{image id: [bbox, ...]} of the person boxes that count, for the photos that have any."""
    ids = list(image_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Annotation.image_id, Annotation.x, Annotation.y, Annotation.width, Annotation.height)
        .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
        .where(Annotation.image_id.in_(ids), Annotation.category == "person", counts(default))
    )
    found: dict[int, list] = {}
    for image_id, x, y, w, h in rows:
        found.setdefault(image_id, []).append((x, y, w, h))
    return found


def blurred(path: str | Path | IO[bytes], bboxes: list) -> bytes:
    """A JPEG of the picture at `path` (a file, or one from the object store) with each box (and
    a margin) blurred away."""
    with PILImage.open(path) as picture:
        picture = picture.convert("RGB")
    width, height = picture.size
    for x, y, w, h in bboxes:
        left = max(0, int((x - w * MARGIN) * width))
        top = max(0, int((y - h * MARGIN) * height))
        right = min(width, int((x + w * (1 + MARGIN)) * width) + 1)
        bottom = min(height, int((y + h * (1 + MARGIN)) * height) + 1)
        if right <= left or bottom <= top:
            continue
        region = picture.crop((left, top, right, bottom))
        # Pixelate, then blur: a face or a number plate must not be recoverable.
        small = region.resize((max(1, region.width // 24), max(1, region.height // 24)))
        region = small.resize(region.size).filter(ImageFilter.GaussianBlur(8))
        picture.paste(region, (left, top))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def photos_with_people(session: Session, default: float, limit: int = 500) -> list:
    """Photos with a person box, newest first: station, time, photo, highest confidence."""
    query = (
        select(
            Image.id,
            Image.taken_at_utc,
            Image.original_filename,
            Station.code,
            Deployment.timezone,
            Annotation.confidence,
        )
        .join(Annotation, Annotation.image_id == Image.id)
        .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
        .join(Deployment, Deployment.id == Image.deployment_id)
        .join(Station, Station.id == Deployment.station_id)
        .where(Annotation.category == "person", counts(default))
        .order_by(Image.taken_at_utc.desc().nulls_last(), Image.id.desc())
    )
    rows, seen = [], set()
    for row in session.execute(query):
        if row.id not in seen:
            seen.add(row.id)
            rows.append(row)
        if len(rows) >= limit:
            break
    return rows
