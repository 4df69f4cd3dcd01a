"""The review queue: untagged sequences of a deployment, tagged one decision at a time.

Real JPEGs (tracker.synthetic) ingested into a real database on each backend; the pages are
driven through the test client as a browser without JavaScript would (form posts) and as
review.js does (fetch with Accept: application/json).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from conftest import csrf_token, fetch, row_counts, sign_in
from sqlalchemy import event, select

from tracker import fieldwork, individuals, ingest, sightings, sources
from tracker.models import (
    LEOPARD,
    AuditLog,
    Image,
    Individual,
    IndividualCode,
    Sighting,
    Species,
    sighting_image,
)
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)  # local time in Asia/Vladivostok (UTC+10)
JSON = {"Accept": "application/json"}
XSS = "<script>alert(1)</script>"
# Seconds after TAKEN (None: no capture time) of deployment A's photos, IMG_0000 to IMG_0007:
# bursts 0-3-6 s, 21 s (15 s after the last), an hour later 0-5 s, and two photos with no time.
SPECS = (0, 3, 6, 21, 3600, 3605, None, None)
SEQUENCES = [
    ["IMG_0000.JPG", "IMG_0001.JPG", "IMG_0002.JPG"],
    ["IMG_0003.JPG"],
    ["IMG_0004.JPG", "IMG_0005.JPG"],
    ["IMG_0006.JPG"],
    ["IMG_0007.JPG"],
]


def photo(seconds: int | None, seed: int) -> bytes:
    taken = None if seconds is None else TAKEN + timedelta(seconds=seconds)
    return jpeg_bytes(taken, seed=seed)


@pytest.fixture
def field(app, session, users) -> dict:
    """Deployment A (clock 2 min slow) with SPECS photos; deployment B with one photo."""
    kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
    kp2 = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.8)
    a = fieldwork.create_deployment(
        session, kp1, fieldwork.DeploymentInput(start_date=date(2024, 1, 1), clock_offset_s=120)
    )
    b = fieldwork.create_deployment(
        session, kp2, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    session.commit()
    items = [
        sources.Item(f"IMG_{n:04}.JPG", photo(seconds, seed=n)) for n, seconds in enumerate(SPECS)
    ]
    ingest.ingest(session, items, a, app.config["MEDIA_DIR"])
    ingest.ingest(session, [sources.Item("B_0001.JPG", photo(0, 99))], b, app.config["MEDIA_DIR"])
    ids = dict(session.execute(select(Image.original_filename, Image.id)).all())
    species = dict(session.execute(select(Species.scientific_name, Species.id)).all())
    return {"a": a.id, "b": b.id, "ids": ids, "species": species}


def seq_ids(field, n: int) -> list[int]:
    return [field["ids"][name] for name in SEQUENCES[n]]


def post_tag(client, field, images: list[int], deployment=None, as_json=False, **values):
    deployment = deployment or field["a"]
    token = csrf_token(client, f"/review/{field['a']}")
    data = {"csrf_token": token, "image_ids": [str(i) for i in images], "count": "1", **values}
    return client.post(f"/review/{deployment}/tag", data=data, headers=JSON if as_json else {})


def page_data(html: str) -> dict:
    """The JSON the queue page hands to review.js."""
    match = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html)
    assert match, html[:3000]
    return json.loads(match.group(1))


def text(html: str) -> str:
    """What a reader sees: no tags, single spaces."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def sightings_rows(app):
    return fetch(app, select(Sighting).order_by(Sighting.id))


def leopard(field) -> str:
    return str(field["species"][LEOPARD])


# --- sequences --------------------------------------------------------------------------------


def test_sequences_split_on_the_gap_and_untimed_images_stand_alone(app, session, field):
    groups = sightings.sequences(session, field["a"], app.config["SEQUENCE_SECONDS"])
    assert app.config["SEQUENCE_SECONDS"] == 10
    assert [[i.original_filename for i in g] for g in groups] == SEQUENCES
    # A longer configured gap joins the 0-3-6 s burst with the shot 15 s later.
    joined = sightings.sequences(session, field["a"], 20)
    assert [i.original_filename for i in joined[0]] == [*SEQUENCES[0], *SEQUENCES[1]]


def walk(client, field) -> list[list[int]]:
    """Every sequence of deployment A's queue, stepping with the next endpoint as review.js does."""
    data = page_data(client.get(f"/review/{field['a']}").get_data(as_text=True))
    found, current = [], data["current"]
    while current is not None:
        found.append(current["image_ids"])
        url = f"/review/{field['a']}/next?after={current['last_id']}"
        current = client.get(url).get_json()["next"]
    return found


def test_the_queue_steps_through_the_same_sequences_as_the_domain(app, session, as_role, field):
    client = as_role("ranger")
    assert walk(client, field) == [seq_ids(field, n) for n in range(5)]
    # Tagged images leave the queue; the rest are grouped as sightings.sequences groups them.
    middle = field["ids"]["IMG_0001.JPG"]
    data = sightings.SightingInput(species_id=field["species"][LEOPARD])
    sightings.tag_images(session, [session.get(Image, middle)], data)
    session.commit()
    gap = app.config["SEQUENCE_SECONDS"]
    expected = [[i.id for i in g] for g in sightings.sequences(session, field["a"], gap)]
    assert all(middle not in group for group in expected)
    assert walk(client, field) == expected


def test_the_gap_is_configurable_for_the_queue(app, as_role, field):
    app.config["SEQUENCE_SECONDS"] = 20
    client = as_role("ranger")
    data = page_data(client.get(f"/review/{field['a']}").get_data(as_text=True))
    assert data["current"]["image_ids"] == seq_ids(field, 0) + seq_ids(field, 1)
    assert data["current"]["total"] == 4


# --- the queue page ---------------------------------------------------------------------------


def test_queue_shows_the_first_sequence_with_form_legend_and_preloading(as_role, field):
    client = as_role("ranger")
    response = client.get(f"/review/{field['a']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Sequence 1 of 5" in html
    assert "8 of 8 images untagged" in text(html)
    for image_id in seq_ids(field, 0):
        assert f'src="/images/{image_id}/preview"' in html
        assert f'name="image_ids" value="{image_id}"' in html
    assert "IMG_0000.JPG" in html and "2024-03-10 22:17:00" in html  # local, clock corrected
    assert "IMG_0003.JPG" not in unescape(html.split('id="review-data"')[0])
    assert '<script src="/static/review.js" defer></script>' in html
    assert 'id="review-legend"' in html and "<kbd>b</kbd>" in html and "<kbd>u</kbd>" in html
    assert "Keys are ignored while typing in a field." in html
    # Leopard first among the species, blank in a group of its own, quick keys listed.
    options = re.findall(r'<option value="(\d+)"', html.split('name="species_id"')[1])
    assert options[0] == leopard(field)
    assert options[-1] == str(field["species"]["Blank"])
    assert '<optgroup label="Nothing there">' in html
    assert "<kbd>1</kbd> Amur leopard" in html
    # The next sequence is preloaded: prefetch links, and its previews in the page's JSON.
    following = seq_ids(field, 1)
    assert f'<link rel="prefetch" as="image" href="/images/{following[0]}/preview">' in html
    data = page_data(html)
    assert data["current"]["image_ids"] == seq_ids(field, 0)
    assert [i["preview_url"] for i in data["next"]["images"]] == [
        f"/images/{i}/preview" for i in following
    ]
    assert data["quick"][0] == {"key": "1", "id": int(leopard(field))}
    assert data["blank_id"] == field["species"]["Blank"]
    assert data["urls"]["next"] == f"/review/{field['a']}/next"
    script = client.get("/static/review.js")
    assert script.status_code == 200
    script.close()


def test_next_endpoint_returns_the_following_sequence_for_preloading(as_role, field):
    client = as_role("researcher")
    first, second = seq_ids(field, 0), seq_ids(field, 1)
    response = client.get(f"/review/{field['a']}/next?after={first[-1]}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    nxt = body["next"]
    assert nxt["image_ids"] == second
    assert nxt["position"] == 2 and nxt["total"] == 5
    assert nxt["untagged"] == 8 and nxt["images_total"] == 8
    image = nxt["images"][0]
    assert image["preview_url"] == f"/images/{second[0]}/preview"
    assert image["file_name"] == "IMG_0003.JPG"
    assert image["local_time"] == "2024-03-10 22:17:21"
    assert image["time_utc"] == "2024-03-10T12:17:21+00:00"
    # at= (the sequence holding an image), before= (the one before), past either end.
    middle = seq_ids(field, 0)[1]
    assert client.get(f"/review/{field['a']}/next?at={middle}").get_json()["next"]["image_ids"] == (
        first
    )
    before = client.get(f"/review/{field['a']}/next?before={second[0]}").get_json()
    assert before["next"]["image_ids"] == first
    assert client.get(f"/review/{field['a']}/next?before={first[0]}").get_json()["next"] is None
    last = seq_ids(field, 4)[0]
    assert client.get(f"/review/{field['a']}/next?after={last}").get_json()["next"] is None
    # Untimed images come last, in file-name order.
    untimed = client.get(f"/review/{field['a']}/next?after={seq_ids(field, 2)[-1]}").get_json()
    assert untimed["next"]["images"][0]["local_time"] is None
    assert untimed["next"]["image_ids"] == seq_ids(field, 3)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "99999999999"])
def test_next_endpoint_refuses_unknown_positions(as_role, field, value):
    client = as_role("ranger")
    response = client.get(f"/review/{field['a']}/next?after={value}")
    assert response.status_code == 400
    assert "after" in response.get_json()["errors"]
    other = field["ids"]["B_0001.JPG"]  # an image of another deployment
    response = client.get(f"/review/{field['a']}/next?at={other}")
    assert response.status_code == 400
    assert f"in deployment {field['a']}" in response.get_json()["errors"]["at"]


def test_skipping_moves_through_the_queue_without_tagging(app, as_role, field):
    client = as_role("ranger")
    second = seq_ids(field, 1)
    html = client.get(f"/review/{field['a']}?after={seq_ids(field, 0)[-1]}").get_data(as_text=True)
    assert "Sequence 2 of 5" in html
    assert page_data(html)["current"]["image_ids"] == second
    assert f'href="/review/{field["a"]}?after={second[-1]}" rel="next"' in html
    assert f'href="/review/{field["a"]}?before={second[0]}" rel="prev"' in html
    # Tagging the second sequence goes on to the third, not back to the skipped first.
    response = post_tag(client, field, second, species_id=leopard(field))
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert page_data(html)["current"]["image_ids"] == seq_ids(field, 2)
    assert "Sequence 2 of 4" in html
    assert row_counts(app)["sighting"] == 1


# --- tagging ----------------------------------------------------------------------------------


def test_tagging_a_sequence_with_the_form_makes_one_sighting_and_shows_the_next(
    app, as_role, field, users
):
    client = as_role("ranger")
    first = seq_ids(field, 0)
    response = post_tag(
        client, field, first, species_id=leopard(field), count="2", sex="female",
        life_stage="subadult", flank="left", comments="Two together",
    )  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"] == f"/review/{field['a']}?after={first[-1]}"
    ((sighting,),) = fetch(app, select(Sighting))
    images = fetch(app, select(Image).where(Image.id.in_(first)))
    times = [i.taken_at_utc for (i,) in images]
    assert sighting.event_start == min(times) == datetime(2024, 3, 10, 12, 17, 0, tzinfo=UTC)
    assert sighting.event_end == max(times) == datetime(2024, 3, 10, 12, 17, 6, tzinfo=UTC)
    assert (sighting.count, sighting.sex, sighting.life_stage, sighting.flank) == (
        2, "female", "subadult", "left",
    )  # fmt: skip
    assert sighting.comments == "Two together" and sighting.individual_id is None
    assert sighting.deployment_id == field["a"] and sighting.logged_by_id == users["ranger"].id
    linked = fetch(app, select(sighting_image.c.image_id).order_by(sighting_image.c.image_id))
    assert [i for (i,) in linked] == sorted(first)
    ((entry,),) = fetch(app, select(AuditLog).where(AuditLog.entity == "sighting"))
    assert entry.action == "create" and entry.user_id == users["ranger"].id
    assert entry.details["images"] == sorted(first) and entry.details["flank"] == "left"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved: Amur leopard, count 2 (3 images)." in html
    assert "Sequence 1 of 4" in html and "5 of 8 images untagged" in text(html)
    assert page_data(html)["current"]["image_ids"] == seq_ids(field, 1)


def test_tagging_with_json_answers_with_the_next_sequence(app, as_role, field):
    client = as_role("researcher")
    first = seq_ids(field, 0)
    response = post_tag(client, field, first, as_json=True, species_id=leopard(field))
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    ((sighting,),) = fetch(app, select(Sighting))
    assert body["sighting_id"] == sighting.id
    assert body["undo_url"] == f"/sightings/{sighting.id}/delete"
    assert body["edit_url"] == f"/sightings/{sighting.id}/edit"
    assert body["next"]["image_ids"] == seq_ids(field, 1)
    assert body["next"]["position"] == 1 and body["next"]["total"] == 4
    assert body["next"]["images"][0]["preview_url"] == f"/images/{seq_ids(field, 1)[0]}/preview"
    # The last sequence tagged: nothing after it.
    rest = [seq_ids(field, n) for n in range(1, 5)]
    for images in rest:
        # The last two sequences are photos with no capture time: tagged once confirmed.
        body = post_tag(
            client, field, images, as_json=True, species_id=leopard(field), confirm_timestamp="y"
        ).get_json()
    assert body["ok"] is True and body["next"] is None
    html = client.get(f"/review/{field['a']}").get_data(as_text=True)
    assert "All 8 images of this deployment are tagged." in html
    assert row_counts(app)["sighting"] == 5


def test_blank_tags_the_sequence_as_blank_with_no_individual(app, as_role, field):
    client = as_role("ranger")
    response = post_tag(
        client, field, seq_ids(field, 0), blank="1", species_id=leopard(field),
        individual_code="AL-1", count="7", flank="left",
    )  # fmt: skip
    assert response.status_code == 302
    ((sighting,),) = fetch(app, select(Sighting))
    assert sighting.species_id == field["species"]["Blank"]
    assert sighting.individual_id is None and sighting.count == 1 and sighting.flank is None
    assert row_counts(app)["individual"] == 0
    # Chosen in the species list instead of the button, it is the same.
    post_tag(client, field, seq_ids(field, 1), species_id=str(field["species"]["Blank"]))
    assert row_counts(app)["sighting"] == 2


def test_a_new_individual_is_created_in_place(app, as_role, field):
    client = as_role("ranger")
    response = post_tag(
        client, field, seq_ids(field, 0), as_json=True, species_id=leopard(field),
        individual_code="AL-20", new_individual="y", individual_name=XSS, sex="female",
    )  # fmt: skip
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["individual"] == {"code": "AL-20", "name": XSS}
    ((individual,),) = fetch(app, select(Individual))
    assert individual.code == "AL-20" and individual.sex == "female"
    ((sighting,),) = fetch(app, select(Sighting))
    assert sighting.individual_id == individual.id
    actions = fetch(app, select(AuditLog.entity, AuditLog.action).order_by(AuditLog.id))
    assert ("individual", "create") in actions and ("sighting", "create") in actions
    # Now offered in the code list, its name escaped.
    html = client.get(f"/review/{field['a']}").get_data(as_text=True)
    assert '<option value="AL-20" label="&lt;script&gt;alert(1)&lt;/script&gt;">' in html
    assert XSS not in html


def test_undo_removes_the_individual_created_in_place(app, as_role, field):
    client = as_role("ranger")
    body = post_tag(
        client, field, seq_ids(field, 0), as_json=True, species_id=leopard(field),
        individual_code="AL-20", new_individual="y",
    ).get_json()  # fmt: skip
    ((individual_id,),) = fetch(app, select(Individual.id))
    assert (
        body["undo_url"]
        == f"/sightings/{body['sighting_id']}/delete?new_individual={individual_id}"
    )
    token = csrf_token(client, f"/review/{field['a']}")
    answer = client.post(body["undo_url"], data={"csrf_token": token}, headers=JSON).get_json()
    assert answer["ok"] is True and answer["removed_individual"] == "AL-20"
    assert (row_counts(app)["sighting"], row_counts(app)["individual"]) == (0, 0)
    actions = fetch(app, select(AuditLog.entity, AuditLog.action).order_by(AuditLog.id))
    assert actions[-2:] == [("sighting", "delete"), ("individual", "delete")]


def test_undo_keeps_an_individual_in_use_or_made_by_someone_else(app, as_role, users, field):
    ranger = as_role("ranger")
    first = post_tag(
        ranger, field, seq_ids(field, 0), as_json=True, species_id=leopard(field),
        individual_code="AL-20", new_individual="y",
    ).get_json()  # fmt: skip
    # Seen again in the next sequence before the first was undone: AL-20 stays.
    post_tag(ranger, field, seq_ids(field, 1), species_id=leopard(field), individual_code="AL-20")
    token = csrf_token(ranger, f"/review/{field['a']}")
    answer = ranger.post(first["undo_url"], data={"csrf_token": token}, headers=JSON).get_json()
    assert answer["ok"] is True and answer["removed_individual"] is None
    assert row_counts(app)["individual"] == 1
    # Another user naming AL-20 in a forged undo of their own sighting cannot remove it.
    ((individual_id, sighting_id),) = fetch(app, select(Sighting.individual_id, Sighting.id))
    other = app.test_client()
    sign_in(other, users["researcher"].email)
    token = csrf_token(other, f"/review/{field['a']}")
    url = f"/sightings/{sighting_id}/delete?new_individual={individual_id}"
    answer = other.post(url, data={"csrf_token": token}, headers=JSON).get_json()
    assert answer["removed_individual"] is None
    assert (row_counts(app)["sighting"], row_counts(app)["individual"]) == (0, 1)


def test_an_existing_code_and_a_former_code_find_the_individual(app, session, as_role, field):
    known = individuals.create(
        session, code="AL-12", species=session.get(Species, field["species"][LEOPARD])
    )
    session.add(IndividualCode(individual_id=known.id, code="AL-OLD", reason="rename"))
    session.commit()
    client = as_role("ranger")
    assert (
        post_tag(
            client, field, seq_ids(field, 0), species_id=leopard(field), individual_code="AL-12"
        ).status_code
        == 302
    )
    assert (
        post_tag(
            client, field, seq_ids(field, 1), species_id=leopard(field), individual_code=" al-old "
        ).status_code
        == 302
    )
    rows = sightings_rows(app)
    assert [s.individual_id for (s,) in rows] == [known.id, known.id]
    assert row_counts(app)["individual"] == 1


BAD_VALUES = [
    ({"individual_code": "AL-99"}, "individual_code", "No individual with code AL-99"),
    ({"count": "0"}, "count", "Count must be a whole number from 1 to 1000."),
    ({"count": "abc"}, "count", "Count must be a whole number from 1 to 1000."),
    ({"count": ""}, "count", "Count must be a whole number from 1 to 1000."),
    ({"species_id": ""}, "species_id", "Choose a species (or blank)."),
    ({"flank": "top"}, "flank", "Choose one of: left, right, both."),
    ({"individual_code": "AL 1", "new_individual": "y"}, "individual_code", "letters, digits"),
]


@pytest.mark.parametrize(("values", "name", "message"), BAD_VALUES)
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
def test_bad_input_is_refused_with_a_message_and_writes_nothing(
    app, as_role, field, values, name, message, as_json
):
    client = as_role("ranger")
    before = row_counts(app)
    data = {"species_id": leopard(field), **values}
    response = post_tag(client, field, seq_ids(field, 0), as_json=as_json, **data)
    assert response.status_code == 400
    if as_json:
        body = response.get_json()
        assert body["ok"] is False
        assert message in body["errors"][name]
    else:
        html = response.get_data(as_text=True)
        assert message in unescape(html)
        assert "Sequence 1 of 5" in html  # the same sequence, to try again
    assert row_counts(app) == before


def bad_images(field, session) -> dict:
    tagged = seq_ids(field, 1)
    sightings.tag_images(
        session,
        list(session.scalars(select(Image).where(Image.id.in_(tagged)))),
        sightings.SightingInput(species_id=field["species"]["Blank"]),
    )
    session.commit()
    return {
        "other deployment": ([field["ids"]["B_0001.JPG"]], "not in deployment"),
        "mixed deployments": (
            [*seq_ids(field, 0), field["ids"]["B_0001.JPG"]],
            "not in deployment",
        ),
        "already tagged": (tagged, "already tagged"),
        "no such image": ([987654], "Image 987654 is not in deployment"),
        "not a number": (["x"], "whole numbers"),
        "none": ([], "No images were sent"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "other deployment",
        "mixed deployments",
        "already tagged",
        "no such image",
        "not a number",
        "none",
    ],
)
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
def test_images_must_be_untagged_images_of_the_deployment(
    app, session, as_role, field, case, as_json
):
    images, message = bad_images(field, session)[case]
    client = as_role("ranger")
    before = row_counts(app)
    response = post_tag(client, field, images, as_json=as_json, species_id=leopard(field))
    assert response.status_code == 400
    if as_json:
        assert message in response.get_json()["errors"]["images"]
    else:
        assert message in unescape(response.get_data(as_text=True))
    assert row_counts(app) == before


def test_tagging_in_another_deployments_queue_is_refused(app, as_role, field):
    client = as_role("ranger")
    before = row_counts(app)
    response = post_tag(
        client, field, seq_ids(field, 0), deployment=field["b"], as_json=True,
        species_id=leopard(field),
    )  # fmt: skip
    assert response.status_code == 400
    assert f"not in deployment {field['b']}" in response.get_json()["errors"]["images"]
    assert row_counts(app) == before
    assert post_tag(client, field, [1], deployment=987654).status_code == 404


# --- editing and deleting ---------------------------------------------------------------------


def tagged_sighting(client, field, **values) -> int:
    body = post_tag(
        client, field, seq_ids(field, 0), as_json=True, species_id=leopard(field), **values
    ).get_json()
    assert body["ok"], body
    return body["sighting_id"]


def test_edit_is_audited_with_before_and_after(app, session, as_role, field, users):
    known = individuals.create(
        session, code="AL-12", species=session.get(Species, field["species"][LEOPARD])
    )
    session.commit()
    client = as_role("researcher")
    sighting_id = tagged_sighting(client, field, count="1")
    url = f"/sightings/{sighting_id}/edit"
    html = client.get(url).get_data(as_text=True)
    assert 'name="count" type="text" value="1"' in html or 'value="1"' in html
    for image_id in seq_ids(field, 0):
        assert f"/images/{image_id}/preview" in html
    token = csrf_token(client, url)
    response = client.post(
        url,
        data={"csrf_token": token, "species_id": leopard(field), "individual_code": "AL-12",
              "count": "2", "flank": "right", "comments": XSS},
    )  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"] == f"/images/{seq_ids(field, 0)[0]}"
    ((sighting,),) = fetch(app, select(Sighting))
    assert (sighting.individual_id, sighting.count, sighting.flank) == (known.id, 2, "right")
    ((entry,),) = fetch(
        app, select(AuditLog).where(AuditLog.entity == "sighting", AuditLog.action == "update")
    )
    assert entry.user_id == users["researcher"].id
    assert entry.details["before"]["count"] == 1 and entry.details["after"]["count"] == 2
    assert entry.details["before"]["individual"] is None
    assert entry.details["after"]["individual"] == "AL-12"
    assert entry.details["after"]["comments"] == XSS
    # The image page lists the sighting, escaped, with a link to edit it.
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sighting " + str(sighting_id) + " saved" in html
    assert "individual <strong>AL-12</strong> · count 2" in html
    assert f'href="/sightings/{sighting_id}/edit"' in html
    html = client.get(url).get_data(as_text=True)
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": "0"}, "Count must be a whole number"),
        ({"count": "abc"}, "Count must be a whole number"),
        ({"individual_code": "AL-99"}, "No individual with code AL-99"),
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(app, as_role, field, values, message):
    client = as_role("ranger")
    sighting_id = tagged_sighting(client, field, count="3", comments="first")
    before = row_counts(app)
    url = f"/sightings/{sighting_id}/edit"
    data = {"csrf_token": csrf_token(client, url), "species_id": leopard(field), "count": "4",
            "comments": "changed", **values}  # fmt: skip
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert message in unescape(response.get_data(as_text=True))
    assert row_counts(app) == before
    ((sighting,),) = fetch(app, select(Sighting))
    assert (sighting.count, sighting.comments) == (3, "first")


def test_delete_is_audited_and_puts_the_images_back_in_the_queue(app, as_role, field, users):
    client = as_role("admin")
    sighting_id = tagged_sighting(client, field, count="2")
    token = csrf_token(client, f"/sightings/{sighting_id}/edit")
    response = client.post(f"/sightings/{sighting_id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    first = seq_ids(field, 0)
    assert response.headers["Location"] == f"/review/{field['a']}?at={first[0]}"
    assert row_counts(app)["sighting"] == 0 and row_counts(app)["sighting_image"] == 0
    ((entry,),) = fetch(
        app, select(AuditLog).where(AuditLog.entity == "sighting", AuditLog.action == "delete")
    )
    assert entry.entity_id == str(sighting_id) and entry.user_id == users["admin"].id
    assert entry.details["before"]["count"] == 2
    assert entry.details["before"]["images"] == sorted(first)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "deleted: its images are back in the queue" in html
    assert page_data(html)["current"]["image_ids"] == first
    assert client.get(f"/sightings/{sighting_id}/edit").status_code == 404


def test_undo_deletes_the_sighting_and_answers_with_its_sequence(app, as_role, field):
    client = as_role("ranger")
    body = post_tag(
        client, field, seq_ids(field, 1), as_json=True, species_id=leopard(field)
    ).get_json()
    token = csrf_token(client, f"/review/{field['a']}")
    response = client.post(body["undo_url"], data={"csrf_token": token}, headers=JSON)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["ok"] is True
    assert answer["next"]["image_ids"] == seq_ids(field, 1)
    assert answer["next"]["position"] == 2 and answer["next"]["total"] == 5
    assert row_counts(app)["sighting"] == 0


def test_posts_need_the_csrf_token(app, as_role, field):
    client = as_role("ranger")
    sighting_id = tagged_sighting(client, field)
    before = row_counts(app)
    data = {"image_ids": [str(i) for i in seq_ids(field, 1)], "species_id": leopard(field)}
    assert client.post(f"/review/{field['a']}/tag", data=data).status_code == 400
    assert client.post(f"/sightings/{sighting_id}/delete").status_code == 400
    assert client.post(f"/sightings/{sighting_id}/edit", data={"count": "5"}).status_code == 400
    assert row_counts(app) == before


# --- the list of deployments, links and permissions --------------------------------------------


def test_index_lists_deployments_with_untagged_counts_in_one_query(app, as_role, field):
    client = as_role("ranger")
    post_tag(client, field, seq_ids(field, 0), blank="1")
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = app.extensions["tracker.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/review/")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'href="/review/{field["a"]}">Review 5 untagged</a>' in html
    assert f'href="/review/{field["b"]}">Review 1 untagged</a>' in html
    # The counts the database keeps per deployment: no photo is counted on the request.
    assert not any("count(" in s.lower() for s in statements), statements
    assert any("image_count" in s for s in statements), statements
    assert len(statements) <= 2, statements  # the signed-in user, then the list


def test_links_to_the_queue_from_the_nav_and_the_deployment(as_role, field):
    client = as_role("ranger")
    html = client.get(f"/deployments/{field['a']}").get_data(as_text=True)
    assert f'href="/review/{field["a"]}">Review untagged images</a>' in html
    assert 'href="/review/">Review</a>' in html
    image = seq_ids(field, 0)[0]
    html = client.get(f"/images/{image}").get_data(as_text=True)
    assert f'href="/review/{field["a"]}?at={image}">review it</a>' in html


@pytest.mark.parametrize("role", ["ranger", "researcher", "admin"])
def test_every_tagging_role_may_review(as_role, field, role):
    client = as_role(role)
    sighting_id = tagged_sighting(client, field)
    for url in (
        "/review/",
        f"/review/{field['a']}",
        f"/review/{field['a']}/next?after={seq_ids(field, 1)[0]}",
        f"/sightings/{sighting_id}/edit",
    ):
        assert client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_sign_in(app, session, client, field):
    sighting = sightings.tag_images(
        session,
        list(session.scalars(select(Image).where(Image.id.in_(seq_ids(field, 0))))),
        sightings.SightingInput(species_id=field["species"]["Blank"]),
    )
    session.commit()
    before = row_counts(app)
    for method, url in (
        ("get", "/review/"),
        ("get", f"/review/{field['a']}"),
        ("get", f"/review/{field['a']}/next"),
        ("post", f"/review/{field['a']}/tag"),
        ("get", f"/sightings/{sighting.id}/edit"),
        ("post", f"/sightings/{sighting.id}/edit"),
        ("post", f"/sightings/{sighting.id}/delete"),
    ):
        response = getattr(client, method)(url)
        if method == "post":  # the CSRF check comes first, and refuses
            assert response.status_code in (302, 400), url
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login"), url
    assert row_counts(app) == before


def test_tagging_photos_with_a_timestamp_issue_asks_for_confirmation(app, as_role, field):
    """The queue says so, the server refuses without the box ticked, and keeps the images."""
    client = as_role("ranger")
    untimed = seq_ids(field, 3)
    html = client.get(f"/review/{field['a']}?at={untimed[0]}").get_data(as_text=True)
    warning = page_data(html)["current"]["timestamp_warning"]
    assert warning.startswith("1 of these 1 photo(s) have a timestamp issue (no capture time")
    assert "left out of the dashboard" in text(html)
    assert 'id="review-timestamp" class="timestamp-warning" hidden' not in html

    response = post_tag(client, field, untimed, as_json=True, species_id=leopard(field))
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"confirm_timestamp": warning}
    assert row_counts(app)["sighting"] == 0
    response = post_tag(client, field, untimed, species_id=leopard(field))  # the page, no script
    assert response.status_code == 400 and "Tag anyway" in text(response.get_data(as_text=True))

    response = post_tag(
        client, field, untimed, as_json=True, species_id=leopard(field), confirm_timestamp="y"
    )
    assert response.get_json()["ok"] is True
    assert row_counts(app)["sighting"] == 1


def test_a_sequence_without_timestamp_issues_hides_the_confirmation(as_role, field):
    client = as_role("ranger")
    html = client.get(f"/review/{field['a']}").get_data(as_text=True)
    assert page_data(html)["current"]["timestamp_warning"] is None
    assert 'id="review-timestamp" class="timestamp-warning" hidden' in html
