"""Likely-empty photos: hidden from the queue, confirmed blank from a grid, thresholds later."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token, fetch, row_counts
from detections_data import imported_card
from sqlalchemy import select

from tracker.models import DetectionRun, EmptyOverride, Sighting, Species, sighting_image
from tracker.review.queue import Queue

BLANKS = ("blank.jpg", "blank2.jpg", "blank3.jpg")


@pytest.fixture
def card(app, session):
    return imported_card(session, app)


def hidden(session, dep, threshold=0.2) -> set[int]:
    queue = Queue.load(session, dep, 10, threshold)
    return {row.id for group in queue.empty_groups for row in group}


def test_the_queue_hides_likely_empty_bursts(app, session, card):
    dep, photos = card
    queue = Queue.load(session, dep, 10, 0.2)
    assert hidden(session, dep) == {photos[name].id for name in BLANKS}
    shown = {row.id for group in queue.groups for row in group}
    assert photos["ocelot.jpg"].id in shown and photos["blank.jpg"].id not in shown
    assert queue.likely_empty == 3 and queue.untagged == len(photos)


def test_thresholds_changed_after_import_change_what_is_empty(app, session, card):
    dep, photos = card
    # blank3.jpg's only box has confidence 0.0101; the file's threshold (0.2) wins over 0.01.
    assert photos["blank3.jpg"].id in hidden(session, dep, threshold=0.01)
    run = session.scalar(select(DetectionRun))
    run.file_threshold = None  # a file without a threshold: the configured one applies
    session.flush()
    assert photos["blank3.jpg"].id not in hidden(session, dep, threshold=0.01)
    run.threshold = 0.95  # a person raises the run's threshold: the elephants (0.935) go too
    session.flush()
    now_empty = hidden(session, dep, threshold=0.01)
    assert photos["african_elephants.jpg"].id in now_empty
    assert photos["ocelot.jpg"].id not in now_empty  # its box is at 0.971


def test_a_ranger_confirms_the_grid_with_one_post(app, session, client, as_role, card):
    dep, photos = card
    as_role("ranger")
    url = f"/review/{dep.id}/empty"
    page = client.get(url).get_data(as_text=True)
    assert len(re.findall(r'name="blank" value="\d+" checked', page)) == 3
    form = {
        "csrf_token": csrf_token(client, url),
        "blank": [photos["blank.jpg"].id, photos["blank2.jpg"].id],
        "kept": [photos["blank3.jpg"].id],
    }
    response = client.post(url, data=form, follow_redirects=True)
    assert "2 photos confirmed blank, 1 back in the queue" in response.get_data(as_text=True)
    rows = fetch(app, select(Sighting.source, Species.kind, sighting_image.c.image_id)
                 .join(Species).join(sighting_image))  # fmt: skip
    assert sorted(rows) == sorted(
        [
            ("detector", "blank", photos["blank.jpg"].id),
            ("detector", "blank", photos["blank2.jpg"].id),
        ]
    )
    assert fetch(app, select(EmptyOverride.image_id)) == [(photos["blank3.jpg"].id,)]
    assert hidden(session, dep) == set()
    queue = client.get(f"/review/{dep.id}").get_data(as_text=True)
    assert "likely-empty photo" not in queue


def test_photos_that_are_not_likely_empty_are_refused(app, session, client, as_role, card):
    dep, photos = card
    as_role("ranger")
    url = f"/review/{dep.id}/empty"
    before = row_counts(app)
    form = {"csrf_token": csrf_token(client, url), "blank": [photos["ocelot.jpg"].id]}
    response = client.post(url, data=form, follow_redirects=True)
    assert "Not untagged likely-empty photos" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_researchers_may_tag_but_visitors_must_sign_in(app, client, card):
    dep, _ = card
    assert client.get(f"/review/{dep.id}/empty").status_code == 302
