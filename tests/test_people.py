"""People in photos: listed for rangers, blurred for roles without the right to see them."""

from __future__ import annotations

import io

import pytest
from detections_data import deployment, import_photos, results
from PIL import Image as PILImage
from PIL import ImageChops, ImageStat
from sqlalchemy import select

from tracker.detections import importer, megadetector
from tracker.models import Annotation


@pytest.fixture
def card(app, session):
    dep = deployment(session)
    photos = import_photos(session, app, dep, "human.jpg", "ocelot.jpg")
    importer.import_results(session, dep, megadetector.parse(results()), 0.2)
    session.commit()
    person = session.scalar(select(Annotation).where(Annotation.category == "person"))
    return photos, person.bbox


def picture(client, url) -> PILImage.Image:
    with client.get(url) as response:  # closes the file a photo is sent from
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        return PILImage.open(io.BytesIO(response.data)).convert("L")


def region(image: PILImage.Image, bbox) -> PILImage.Image:
    x, y, w, h = bbox
    return image.crop((int(x * image.width), int(y * image.height),
                       int((x + w) * image.width), int((y + h) * image.height)))  # fmt: skip


def detail(image: PILImage.Image) -> float:
    """How much fine detail a picture has: the spread of its differences to a shifted copy."""
    shifted = ImageChops.offset(image, 2, 2)
    return ImageStat.Stat(ImageChops.difference(image, shifted)).mean[0]


@pytest.mark.parametrize("size", ["preview", "thumb"])
def test_researchers_see_people_blurred_and_rangers_see_them(app, client, as_role, card, size):
    photos, bbox = card
    url = f"/images/{photos['human.jpg'].id}/{size}"
    sharp = picture(as_role("ranger"), url)
    client.delete_cookie("session")
    blurred = picture(as_role("researcher"), url)
    assert sharp.size == blurred.size
    # The person is gone: far less detail inside the box than in the ranger's copy ...
    assert detail(region(blurred, bbox)) < detail(region(sharp, bbox)) / 3
    # ... and the rest of the photo is the same photo.
    corner = (0, 0, sharp.width // 5, sharp.height // 5)
    difference = ImageChops.difference(sharp.crop(corner), blurred.crop(corner))
    assert ImageStat.Stat(difference).mean[0] < 3


def test_originals_of_people_only_for_roles_that_may_see_them(app, client, as_role, card):
    photos, _ = card
    human, ocelot = photos["human.jpg"].id, photos["ocelot.jpg"].id
    as_role("researcher")
    assert client.get(f"/images/{human}/original").status_code == 403
    with client.get(f"/images/{ocelot}/original") as response:
        assert response.status_code == 200
    page = client.get(f"/images/{human}").get_data(as_text=True)
    assert "the original is for roles that may see people" in page
    assert client.get("/people").status_code == 403


def test_rangers_get_the_list_of_photos_with_people(app, client, as_role, card):
    photos, _ = card
    as_role("ranger")
    with client.get(f"/images/{photos['human.jpg'].id}/original") as response:
        assert response.status_code == 200
    page = client.get("/people").get_data(as_text=True)
    assert "human.jpg" in page and "KP-07" in page and "ocelot.jpg" not in page
