"""Several animals in one photo, in the review queue: one sighting each, each with its box.

The shared real photos and MegaDetector's real output on them (three cattle in one photo),
driven as review.js drives the queue (fetch with Accept: application/json).
"""

from __future__ import annotations

import pytest
from conftest import csrf_token, fetch, row_counts
from detections_data import imported_card
from sqlalchemy import select

from tracker.models import Annotation, Sighting, Species, sighting_image

JSON = {"Accept": "application/json"}


@pytest.fixture
def herd(app, session):
    dep, photos = imported_card(session, app)
    cattle = Species(scientific_name="Bos taurus", common_name="Cattle", kind="animal")
    session.add(cattle)
    session.commit()
    return dep, photos, cattle.id


def tag(client, dep, data: dict):
    url = f"/review/{dep.id}"
    form = {"csrf_token": csrf_token(client, url), **data}
    return client.post(f"{url}/tag", data=form, headers=JSON).get_json()


def test_a_mother_and_her_calf_are_two_sightings_with_a_box_each(app, as_role, herd):
    dep, photos, cattle = herd
    client = as_role("ranger")
    image = photos["domestic_cattle.jpg"].id
    shown = client.get(f"/review/{dep.id}/next?at={image}", headers=JSON).get_json()["next"]
    assert shown["image_ids"] == [image]
    first, second, third = (b["id"] for b in shown["images"][0]["boxes"])
    answer = tag(client, dep, {"image_ids": image, "species_id": cattle, "box_id": first,
                               "stay": "1", "comments": "mother"})  # fmt: skip
    assert answer["ok"], answer
    again = answer["next"]
    assert again["again"] is True and again["image_ids"] == [image]
    assert again["tagged"] == ["Cattle"]
    answer = tag(client, dep, {"image_ids": image, "species_id": cattle, "box_id": second,
                               "another": "1", "comments": "calf"})  # fmt: skip
    assert answer["ok"], answer
    assert answer["next"] is None or answer["next"]["image_ids"] != [image]
    rows = fetch(app, select(Sighting.id, Sighting.comments).join(sighting_image)
                 .where(sighting_image.c.image_id == image).order_by(Sighting.id))  # fmt: skip
    assert [c for _, c in rows] == ["mother", "calf"]
    tied = dict(fetch(app, select(Annotation.id, Annotation.sighting_id)
                      .where(Annotation.image_id == image)))  # fmt: skip
    assert (tied[first], tied[second], tied[third]) == (rows[0][0], rows[1][0], None)


def test_another_animal_is_refused_on_a_blank_and_without_saying_so(app, as_role, herd):
    dep, photos, cattle = herd
    client = as_role("ranger")
    blank = photos["blank.jpg"].id
    assert tag(client, dep, {"image_ids": blank, "blank": "1"})["ok"]
    before = row_counts(app)
    refused = tag(client, dep, {"image_ids": blank, "species_id": cattle, "another": "1"})
    assert "tagged blank" in refused["errors"]["images"]
    image = photos["domestic_cattle.jpg"].id
    assert tag(client, dep, {"image_ids": image, "species_id": cattle})["ok"]
    before = row_counts(app)
    # Without "another animal", a tagged photo is someone else's work: refused as before.
    refused = tag(client, dep, {"image_ids": image, "species_id": cattle})
    assert "already tagged" in refused["errors"]["images"]
    # A box on another photo is not this sighting's.
    dog_box = fetch(app, select(Annotation.id).where(
        Annotation.image_id == photos["domestic_dog.jpg"].id))[0][0]  # fmt: skip
    refused = tag(client, dep, {"image_ids": image, "species_id": cattle, "another": "1",
                                "box_id": dog_box})  # fmt: skip
    assert "is not on the photos of this sighting" in refused["errors"]["box_id"]
    assert row_counts(app) == before
