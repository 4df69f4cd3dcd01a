"""The review queue's reference index is built once per worker and rebuilt exactly when the
references change (tracker.reid.cache); real snow-leopard photos, both backends, few of them."""

from __future__ import annotations

import test_reid_review as review
from sqlalchemy import select
from test_reid_identify import QUERIES, REFERENCES, add_photo
from test_reid_review import catalogue, untagged_box

from tracker import individuals
from tracker.models import Annotation, Individual
from tracker.reid import store

stations = review.stations  # fixtures: one deployment per station, burst-mates separate events
app_config = review.app_config


def _answer(client, box) -> tuple[list[dict], int]:
    """The box's candidates, and how many indexes this worker has built so far."""
    answer = client.get(f"/photo-id/boxes/{box.id}/candidates").get_json()
    assert answer["ok"], answer
    return answer["candidates"], client.application.extensions["tracker.reid.indexes"].built


def _first(client, box) -> tuple[str | None, int]:
    candidates, built = _answer(client, box)
    return (candidates[0]["individual"] if candidates else None), built


def test_the_index_is_reused_until_a_reference_is_added(app, session, stations, as_role):
    code, station, name = QUERIES[0]
    catalogue(session, app, stations, skip=code)
    box = untagged_box(session, app, stations[station], name)
    client = as_role("ranger")
    first, built = _first(client, box)
    assert first != code and built == 1
    assert _first(client, box) == (first, 1)  # the second request reuses the index
    assert client.get("/photo-id/unidentified").status_code == 200  # the batch page too
    assert _first(client, box)[1] == 1
    # The cat's reference photo is catalogued: a fresh index, which finds it.
    ref_code, ref_station, ref_name = REFERENCES[0]
    image = add_photo(session, app, stations[ref_station], ref_name, ref_code)
    store.compute_job(session, app.config, image_ids=[image.id])
    session.commit()
    assert _first(client, box) == (code, 2)


def test_an_unusable_reference_or_a_merge_gives_a_fresh_index(app, session, stations, as_role):
    refs = catalogue(session, app, stations)
    code, station, name = QUERIES[1]
    box = untagged_box(session, app, stations[station], name)
    client = as_role("ranger")
    assert _first(client, box) == (code, 1)
    # Merged into another code: the same photo now answers with the code it was kept under.
    other = next(c for c, _s, _n in REFERENCES if c != code)
    keep, absorb = (session.scalar(select(Individual).where(Individual.code == c))
                    for c in (other, code))  # fmt: skip
    individuals.merge(session, keep, absorb, None)
    session.commit()
    candidates, built = _answer(client, box)
    assert built == 2 and candidates[0]["individual"] == other
    assert candidates[0]["reference_image"] == refs[code]
    # Its reference marked unusable: no candidate rests on that photo any more.
    ref_box = session.scalar(select(Annotation.id).where(Annotation.image_id == refs[code]))
    store.mark_unusable(session, ref_box, True)
    session.commit()
    candidates, built = _answer(client, box)
    assert built == 3 and refs[code] not in [c["reference_image"] for c in candidates]
