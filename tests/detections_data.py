"""The shared real detections (14 photos, MegaDetector v5a's output on them) for tests."""

from __future__ import annotations

import json
from datetime import date

from conftest import SHARED
from sqlalchemy import select

from tracker import fieldwork, ingest, sources
from tracker.models import Deployment, Image

DETECTIONS = SHARED / "detections"
PHOTOS = DETECTIONS / "images"
RESULTS = DETECTIONS / "megadetector_v5a.json"


def results() -> dict:
    return json.loads(RESULTS.read_text())


def deployment(session, code: str = "KP-07") -> Deployment:
    station = fieldwork.create_station(session, code=code, latitude=43.1, longitude=131.5)
    made = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2010, 1, 1))
    )
    session.commit()
    return made


def import_photos(session, app, deployment: Deployment, *names: str) -> dict[str, Image]:
    """The shared photos (all, or those named) through the real import; by file name."""
    paths = [PHOTOS / n for n in names] if names else [PHOTOS]
    items = sources.path_items(paths, sources.ZipLimits())
    ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    session.commit()
    images = session.scalars(select(Image).where(Image.deployment_id == deployment.id))
    return {i.original_filename.rsplit("/", 1)[-1]: i for i in images}


def imported_card(session, app) -> tuple[Deployment, dict[str, Image]]:
    """KP-07 with every shared photo and MegaDetector's results on them, imported for real."""
    from tracker.detections import importer, megadetector

    made = deployment(session)
    photos = import_photos(session, app, made)
    importer.import_results(session, made, megadetector.parse(results()), 0.2)
    session.commit()
    return made, photos
