"""Boxes on photos: drawn, corrected, and tied to the sighting of a photo with one animal."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import SHARED, csrf_token
from sqlalchemy import select

from tracker import fieldwork, ingest, sightings, sources
from tracker.detections import boxes
from tracker.errors import InvalidInput
from tracker.models import LEOPARD, Annotation, AuditLog, DetectionRun, Image, Species
from tracker.sightings import SightingInput

PHOTOS = SHARED / "detections" / "images"


@pytest.fixture
def deployment(session):
    station = fieldwork.create_station(session, code="KP-07", latitude=43.1, longitude=131.5)
    dep = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2010, 1, 1))
    )
    session.commit()
    return dep


def photo(session, app, deployment, name: str) -> Image:
    """One of the shared real camera-trap photos, through the real import."""
    items = sources.path_items([PHOTOS / name], sources.ZipLimits())
    report = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    assert report.count("added") == 1, report.summary
    return session.scalar(select(Image).where(Image.original_filename == name))


def leopard(session) -> Species:
    return session.scalar(select(Species).where(Species.scientific_name == LEOPARD))


def detector_box(session, image, run, bbox, confidence, category="animal") -> Annotation:
    x, y, w, h = bbox
    box = Annotation(image_id=image.id, run_id=run.id, category=category, x=x, y=y, width=w,
                     height=h, confidence=confidence)  # fmt: skip
    session.add(box)
    session.flush()
    return box


def test_a_drawn_box_is_kept_with_who_drew_it(app, session, deployment, users):
    image = photo(session, app, deployment, "ocelot.jpg")
    ranger = session.merge(users["ranger"])
    box = boxes.draw(session, image, boxes.BoxInput([0.1, 0.2, 0.3, 0.4]), ranger)
    session.commit()
    assert box.bbox == [0.1, 0.2, 0.3, 0.4] and box.confidence is None
    assert box.source == "ranger@park.test"
    assert boxes.as_dict(box)["category"] == "animal"
    assert session.scalar(select(AuditLog.action).where(AuditLog.entity == "annotation")) == (
        "create"
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (boxes.BoxInput([0.5, 0.5, 0.6, 0.1]), "bbox"),
        (boxes.BoxInput([0.1, 0.1, 0, 0.2]), "bbox"),
        (boxes.BoxInput(["a", 0, 0.1, 0.1]), "bbox"),
        (boxes.BoxInput([0.1, 0.1, 0.1, 0.1], category="tiger"), "category"),
        (boxes.BoxInput([0.1, 0.1, 0.1, 0.1], flank="top"), "flank"),
        (boxes.BoxInput([0.1, 0.1, 0.1, 0.1], sighting_id=999), "sighting_id"),
    ],
)
def test_bad_boxes_are_refused_by_name(app, session, deployment, data, field):
    image = photo(session, app, deployment, "ocelot.jpg")
    with pytest.raises(InvalidInput) as refused:
        boxes.draw(session, image, data, None)
    assert field in refused.value.errors
    assert session.scalar(select(Annotation.id)) is None


def test_one_animal_box_and_one_animal_sighting_belong_together(app, session, deployment):
    image = photo(session, app, deployment, "american_black_bear.jpg")
    run = DetectionRun(deployment_id=deployment.id, detector="md_v5a.0.0.pt", format_version="1.4")
    session.add(run)
    session.flush()
    bear = detector_box(session, image, run, [0.3, 0.2, 0.4, 0.5], 0.959)
    detector_box(session, image, run, [0.0, 0.0, 0.1, 0.1], 0.05)  # below the threshold
    detector_box(session, image, run, [0.8, 0.8, 0.1, 0.1], 0.9, "vehicle")
    sighting = sightings.tag_images(session, [image], SightingInput(species_id=leopard(session).id))
    session.commit()
    assert bear.sighting_id == sighting.id
    others = session.scalars(select(Annotation).where(Annotation.id != bear.id)).all()
    assert [b.sighting_id for b in others] == [None, None]


def test_two_animal_boxes_stay_for_a_person_to_assign(app, session, deployment, users):
    image = photo(session, app, deployment, "domestic_dog.jpg")
    run = DetectionRun(deployment_id=deployment.id, detector="md_v5a.0.0.pt", format_version="1.4")
    session.add(run)
    session.flush()
    mother = detector_box(session, image, run, [0.1, 0.2, 0.4, 0.5], 0.93)
    cub = detector_box(session, image, run, [0.6, 0.5, 0.2, 0.2], 0.81)
    first = sightings.tag_images(session, [image], SightingInput(species_id=leopard(session).id))
    second = sightings.tag_images(session, [image], SightingInput(species_id=leopard(session).id))
    assert mother.sighting_id is None and cub.sighting_id is None
    ranger = session.merge(users["ranger"])
    boxes.correct(session, mother, boxes.BoxInput(mother.bbox, sighting_id=first.id,
                                                  flank="left"), ranger)  # fmt: skip
    boxes.correct(session, cub, boxes.BoxInput([0.6, 0.5, 0.25, 0.2], sighting_id=second.id),
                  ranger)  # fmt: skip
    session.commit()
    assert (mother.sighting_id, mother.flank) == (first.id, "left")
    assert cub.sighting_id == second.id and cub.width == 0.25
    assert cub.reviewed_by_id == ranger.id and cub.source == "md_v5a.0.0.pt"


def test_the_threshold_decides_which_boxes_are_shown(app, session, deployment):
    image = photo(session, app, deployment, "blank3.jpg")
    run = DetectionRun(deployment_id=deployment.id, detector="md_v5a.0.0.pt", format_version="1.4")
    session.add(run)
    session.flush()
    detector_box(session, image, run, [0.2, 0.2, 0.1, 0.1], 0.0101)
    assert boxes.shown(session, [image.id], default=0.2) == []
    assert len(boxes.shown(session, [image.id], default=0.01)) == 1
    run.threshold = 0.005  # a person's threshold wins over the default
    session.flush()
    assert len(boxes.shown(session, [image.id], default=0.2)) == 1
    assert boxes.effective_threshold(run, 0.2) == 0.005


def test_boxes_are_drawn_moved_and_deleted_through_the_json_routes(app, session, client, as_role,
                                                                   deployment):  # fmt: skip
    image = photo(session, app, deployment, "ocelot.jpg")
    session.commit()
    as_role("ranger")
    token = csrf_token(client, f"/images/{image.id}")
    headers = {"X-CSRFToken": token}
    made = client.post(f"/images/{image.id}/boxes", json={"bbox": [0.3, 0.3, 0.3, 0.3]},
                       headers=headers).get_json()  # fmt: skip
    assert made["ok"] and made["box"]["source"] == "ranger@park.test"
    box_id = made["box"]["id"]
    body = {"bbox": [0.3, 0.3, 0.4, 0.3], "category": "animal", "sighting_id": None, "flank": None}
    moved = client.post(f"/boxes/{box_id}", json=body, headers=headers).get_json()
    assert moved["ok"] and moved["box"]["bbox"] == [0.3, 0.3, 0.4, 0.3]
    refused = client.post(f"/boxes/{box_id}", json={"bbox": [0.9, 0.3, 0.4, 0.3]}, headers=headers)
    assert refused.status_code == 400 and "bbox" in refused.get_json()["errors"]
    assert client.post(f"/boxes/{box_id}/delete", headers=headers).get_json()["ok"]
    assert session.scalar(select(Annotation.id)) is None
