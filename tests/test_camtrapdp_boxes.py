"""Camtrap DP with boxes: bbox fields on people's observations, the detector's own observations
for boxes nobody looked at, blanks confirmed from likely-empty photos; checked by the official
validator. The shared real photos and MegaDetector's real output on them.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from detections_data import imported_card, results
from PIL import Image as PILImage
from PIL import ImageFilter, ImageStat
from sqlalchemy import select
from test_camtrapdp import export_package, table, validate

from tracker.detections import boxes, empty
from tracker.exports.core import Filters
from tracker.models import Annotation, DetectionRun, Species, User
from tracker.sightings import SightingInput, tag_images

THRESHOLD = 0.2  # the file's typical_detection_threshold


@pytest.fixture
def card(app, session):
    return imported_card(session, app)


def animal(session, name: str) -> Species:
    found = Species(scientific_name=name, common_name=name, kind="animal")
    session.add(found)
    session.flush()
    return found


def boxes_of(session, image, category="animal") -> list[Annotation]:
    """The photo's boxes that count, largest first."""
    return [b for b in boxes.shown(session, [image.id], THRESHOLD) if b.category == category]


def detector_boxes(name: str) -> list[float]:
    """Confidences of MegaDetector's boxes on a photo at or above the threshold."""
    entry = next(e for e in results()["images"] if e["file"].endswith(name))
    return [d["conf"] for d in entry["detections"] if d["conf"] >= THRESHOLD]


def test_boxes_in_camtrap_dp(app, session, users, card, tmp_path):
    dep, photos = card
    ranger = session.get(User, users["ranger"].id)
    dog, cattle = animal(session, "Canis familiaris"), animal(session, "Bos taurus")
    # One animal box, one sighting: they belong together without anyone saying so.
    dog_sighting = tag_images(session, [photos["domestic_dog.jpg"]],
                              SightingInput(species_id=dog.id), ranger)  # fmt: skip
    # Two animals in one photo: two sightings, each with its own box; the third box is the
    # detector's alone.
    herd = photos["domestic_cattle.jpg"]
    cow, calf = (tag_images(session, [herd], SightingInput(species_id=cattle.id), ranger)
                 for _ in range(2))  # fmt: skip
    first, second, third = boxes_of(session, herd)
    for box, sighting in ((first, cow), (second, calf)):
        boxes.correct(session, box, boxes.BoxInput(box.bbox, sighting_id=sighting.id), ranger)
    # A box a person corrected without tagging is the person's, not the machine's.
    bear = boxes_of(session, photos["american_black_bear.jpg"])[0]
    boxes.correct(session, bear, boxes.BoxInput([0.1, 0.1, 0.5, 0.5]), ranger)
    # Likely-empty photos confirmed blank.
    blanks = [photos[n].id for n in ("blank.jpg", "blank2.jpg", "blank3.jpg")]
    empty.confirm(session, dep, blanks, [], ranger, 10, THRESHOLD)
    session.commit()

    folder = export_package(session, tmp_path)
    validate(folder)
    rows = table(folder, "observations")
    media = [r for r in rows if r["observationLevel"] == "media"]
    by_id = {r["observationID"]: r for r in media}
    dog_row = by_id[f"S{dog_sighting.id}-M{photos['domestic_dog.jpg'].id}"]
    dog_box = boxes_of(session, photos["domestic_dog.jpg"])[0]
    assert dog_row["classificationMethod"] == "human" and dog_row["classifiedBy"] == ranger.email
    assert [float(dog_row[f]) for f in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")] == [
        round(v, 4) for v in dog_box.bbox
    ]
    for sighting, box in ((cow, first), (calf, second)):
        row = by_id[f"S{sighting.id}-M{herd.id}"]
        assert float(row["bboxWidth"]) == round(box.width, 4)
    machine = [r for r in media if r["classificationMethod"] == "machine"]
    assert {r["observationID"] for r in machine if r["mediaID"] == f"M{herd.id}"} == {
        f"B{third.id}"
    }
    # Every detector box at or above the threshold that nobody touched, on an exported photo.
    exported = {r["mediaID"] for r in table(folder, "media")}
    expected = (
        sum(len(detector_boxes(n)) for n, i in photos.items() if f"M{i.id}" in exported) - 1 - 2 - 1
    )  # the dog's, the two tied cattle boxes and the corrected bear's
    assert len(machine) == expected
    assert f"M{photos['ocelot.jpg'].id}" not in exported  # dated before its deployment
    person = next(r for r in machine if r["mediaID"] == f"M{photos['human.jpg'].id}")
    assert person["observationType"] == "human" and person["scientificName"] == ""
    assert person["classifiedBy"] == "md_v5a.0.0.pt"
    assert person["classificationProbability"] == "0.933" and person["count"] == "1"
    vehicle = next(r for r in machine if r["mediaID"] == f"M{photos['vehicle.jpg'].id}")
    assert vehicle["observationType"] == "vehicle"
    assert all(0 < float(r["bboxWidth"]) <= 1 for r in machine)
    # Blanks confirmed from likely-empty bursts: blank, classified by the person who confirmed.
    blank_rows = [r for r in media if r["observationType"] == "blank"]
    assert sorted(r["mediaID"] for r in blank_rows) == sorted(f"M{i}" for i in blanks)
    assert {(r["classificationMethod"], r["bboxX"]) for r in blank_rows} == {("human", "")}


def test_thresholds_and_public_packages(app, session, card, tmp_path):
    _dep, photos = card
    run = session.scalar(select(DetectionRun))
    run.threshold = 0.95  # a person raised it: only the most confident boxes are observations
    session.commit()
    folder = export_package(session, tmp_path)
    validate(folder)
    machine = [r for r in table(folder, "observations") if r["classificationMethod"] == "machine"]
    assert machine and all(float(r["classificationProbability"]) >= 0.95 for r in machine)
    run.threshold = None
    session.commit()
    public = export_package(session, tmp_path, public=True)
    validate(public)
    rows = table(public, "observations")
    assert {r["observationType"] for r in rows} == {"animal"}
    assert all(r["classifiedBy"] == "" for r in rows)
    exported = {r["mediaID"] for r in table(public, "media")}
    assert f"M{photos['human.jpg'].id}" not in exported
    assert f"M{photos['vehicle.jpg'].id}" not in exported
    # A chosen species: the detector names none, so no machine rows.
    leopardless = export_package(session, tmp_path, filters=Filters(species_id=10**6))
    assert [r for r in table(leopardless, "observations") if r["classificationMethod"]] == []


def test_packaged_photos_of_people_are_blurred_unless_asked(app, session, card, tmp_path):
    _dep, photos = card
    person = photos["human.jpg"]
    media_dir = Path(app.config["MEDIA_DIR"])
    blurred = export_package(session, tmp_path, include_media=True, media_dir=media_dir)
    validate(blurred)
    rows = {r["mediaID"]: r for r in table(blurred, "media")}
    row = rows[f"M{person.id}"]
    assert row["filePath"] == f"media/{person.sha256}-blurred.jpg" and row["filePublic"] == "false"
    original = (media_dir / person.stored_path).read_bytes()
    x, y, w, h = boxes_of(session, person, "person")[0].bbox
    with (
        PILImage.open(io.BytesIO(original)) as before,
        PILImage.open(blurred / row["filePath"]) as after,
    ):
        size = before.size
        region = (
            int(x * size[0]),
            int(y * size[1]),
            int((x + w) * size[0]),
            int((y + h) * size[1]),
        )
        detail = before.convert("L").crop(region).filter(ImageFilter.FIND_EDGES)
        smooth = after.convert("L").crop(region).filter(ImageFilter.FIND_EDGES)
        # The person's details are gone; a corner far from the box is as it was.
        assert ImageStat.Stat(smooth).mean[0] < ImageStat.Stat(detail).mean[0] / 2
        assert after.getpixel((2, 2)) == pytest.approx(before.getpixel((2, 2)), abs=12)
    # A photo with no person is packaged as it was taken.
    dog = photos["domestic_dog.jpg"]
    packaged = (blurred / rows[f"M{dog.id}"]["filePath"]).read_bytes()
    assert packaged == (media_dir / dog.stored_path).read_bytes()
    # --with-people: as taken.
    kept = export_package(session, tmp_path, include_media=True, media_dir=media_dir,
                          blur_people=False)  # fmt: skip
    row = {r["mediaID"]: r for r in table(kept, "media")}[f"M{person.id}"]
    assert (kept / row["filePath"]).read_bytes() == original
