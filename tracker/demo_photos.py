"""Photos for the demo: real JPEGs through the real ingest, so every page has something to show.

The most recent sightings get one to three frames each (a trigger burst), written with the
camera's own (uncorrected) clock so that ingest's correction lands them on the sighting's time;
a few untagged bursts wait in the review queue.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, joinedload

from tracker import ingest, sources
from tracker.models import Deployment, Sighting, sighting_image
from tracker.synthetic import jpeg_bytes

PHOTO_SIGHTINGS = 60
UNTAGGED_BURSTS = 10
SIZE = (1024, 768)
SUBJECT = {
    "Panthera pardus orientalis": "leopard",
    "Panthera tigris altaica": "tiger",
    "Cervus nippon": "deer",
    "Capreolus pygargus": "deer",
    "Sus scrofa": "boar",
    "Homo sapiens": "human",
}


def camera_time(true_utc: datetime, deployment: Deployment) -> datetime:
    """What the camera's clock showed at a true instant: local time minus its correction."""
    local = true_utc.astimezone(ZoneInfo(deployment.timezone)).replace(tzinfo=None)
    return local - timedelta(seconds=deployment.clock_offset_s)


def _frames(sighting: Sighting, rng: random.Random) -> list[tuple[str, bytes]]:
    dep = sighting.deployment
    subject = SUBJECT.get(sighting.species.scientific_name)
    serial = dep.camera.serial if dep.camera else None
    frames = []
    for k in range(rng.randint(1, 3)):
        taken = camera_time(sighting.event_start + timedelta(seconds=2 * k), dep)
        name = f"DEMO/{dep.station.code}/S{sighting.id:05}_{k + 1}.JPG"
        data = jpeg_bytes(taken, size=SIZE, seed=sighting.id * 10 + k, subject=subject,
                          serial=serial)  # fmt: skip
        frames.append((name, data))
    return frames


def _untagged(session: Session, rng: random.Random) -> dict[Deployment, list[tuple[str, bytes]]]:
    """Bursts after each active deployment's last sighting, not yet reviewed."""
    latest = (
        select(Deployment, Sighting.event_start)
        .join(Sighting, Sighting.deployment_id == Deployment.id)
        .where(Deployment.end_date.is_(None), Sighting.event_start.is_not(None))
        .order_by(Sighting.event_start.desc())
    )
    seen, bursts = set(), defaultdict(list)
    for dep, last in session.execute(latest):
        if dep.id in seen or len(seen) >= UNTAGGED_BURSTS:
            continue
        seen.add(dep.id)
        subject = rng.choice(["leopard", "deer", "boar", None])
        start = last + timedelta(hours=rng.randint(1, 5))
        for k in range(3):
            taken = camera_time(start + timedelta(seconds=2 * k), dep)
            data = jpeg_bytes(taken, size=SIZE, seed=dep.id * 100 + k, subject=subject)
            bursts[dep].append((f"DEMO/{dep.station.code}/U{dep.id:03}_{k + 1}.JPG", data))
    return bursts


def add_photos(session: Session, media_dir: str, seed: int) -> int:
    """Make, ingest and link the demo's photos; commits (ingest does, in batches)."""
    rng = random.Random(seed)
    recent = session.scalars(
        select(Sighting)
        .options(joinedload(Sighting.deployment), joinedload(Sighting.species))
        .where(Sighting.event_start.is_not(None))
        .order_by(Sighting.event_start.desc())
        .limit(PHOTO_SIGHTINGS)
    ).all()
    links: dict[str, int] = {}
    per_deployment: dict[Deployment, list[tuple[str, bytes]]] = defaultdict(list)
    for sighting in recent:
        for name, data in _frames(sighting, rng):
            per_deployment[sighting.deployment].append((name, data))
            links[name] = sighting.id
    for dep, frames in _untagged(session, rng).items():
        per_deployment[dep].extend(frames)
    added = 0
    for dep, frames in per_deployment.items():
        items = [sources.Item(name, data) for name, data in frames]
        report = ingest.ingest(session, items, dep, media_dir)
        rows = [
            {"sighting_id": links[o.name], "image_id": o.image_id}
            for o in report.of("added")
            if o.name in links
        ]
        if rows:
            session.execute(insert(sighting_image), rows)
        added += report.count("added")
    session.commit()
    return added
