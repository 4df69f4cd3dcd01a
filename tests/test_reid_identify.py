"""`tracker identify` and the stored features, on real snow-leopard photos, both backends.

Three cats at three stations (the LeopardCat-style case): the catalogue holds one encounter of
each; the queries are photos of another day. The snow leopards stand in for Amur leopards
(the default TRACKER_PATTERN_SPECIES).
"""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from conftest import SHARED
from sqlalchemy import select

from tracker import fieldwork, ingest, sightings, sources
from tracker.detections import boxes
from tracker.models import LEOPARD, Annotation, Image, Job, PatternFeatures, Species
from tracker.reid import store
from tracker.sightings import SightingInput

DATA = SHARED / "reid" / "snow-leopard"

# The LeopardCat-style case: three cats, each at its own station, one reference photo each.
REFERENCES = [
    ("Cat23", "Station05", "01__Station05__Camera1__2012-6-19__1-55-42(7).JPG"),
    ("Cat1", "Station32", "02__Station32__Camera1__2012-7-14__4-47-54(2).JPG"),
    ("Cat5", "Station26", "02__Station26__Camera2__2012-8-7__9-3-20(1).JPG"),
]
# Queries: another photo of each reference's burst, seconds later. With the default
# TRACKER_EVENT_MINUTES they are the reference's own event; these tests set it to 0 so that
# they are not, and the matcher must find the same rosettes seen again.
QUERIES = [
    ("Cat23", "Station05", "01__Station05__Camera1__2012-6-19__1-55-46(1).JPG"),
    ("Cat1", "Station32", "02__Station32__Camera1__2012-7-14__4-47-56(3).JPG"),
    ("Cat5", "Station26", "02__Station26__Camera2__2012-8-7__9-3-22(2).JPG"),
]


def _labels() -> dict[str, dict]:
    with open(DATA / "labels.csv", newline="") as fh:
        return {row["file"]: row for row in csv.DictReader(fh)}


def _union(row: dict, width: int, height: int) -> list[int]:
    """The annotators' pattern boxes as one box, inside the frame."""
    b = json.loads(row["pattern_boxes"])
    x0, y0 = max(0, min(v[0] for v in b)), max(0, min(v[1] for v in b))
    x1 = min(width, max(v[0] + v[2] for v in b))
    y1 = min(height, max(v[1] + v[3] for v in b))
    return [x0, y0, x1 - x0, y1 - y0]


@pytest.fixture
def app_config(app_config):
    """Burst-mates seconds apart are separate events here (see QUERIES)."""
    return app_config | {"EVENT_MINUTES": 0}


@pytest.fixture
def stations(session):
    """One deployment per station, keyed by the station code."""
    out = {}
    for n, code in enumerate(("Station05", "Station32", "Station26")):
        station = fieldwork.create_station(session, code=code, latitude=43 + n / 10, longitude=131)
        out[code] = fieldwork.create_deployment(
            session, station, fieldwork.DeploymentInput(start_date=date(2012, 1, 1))
        )
    session.commit()
    return out


def add_photo(session, app, deployment, name: str, code: str | None) -> Image:
    """Import the photo, tag a leopard sighting (with `code`, or unidentified), draw its box."""
    items = sources.path_items([DATA / "images" / name], sources.ZipLimits())
    report = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    assert report.count("added") == 1, report.summary
    image = session.scalar(select(Image).where(Image.original_filename == name))
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    data = SightingInput(leopard.id, individual_code=code or "", new_individual=code is not None)
    sighting = sightings.tag_images(session, [image], data)
    W, H = image.width, image.height
    x, y, w, h = _union(_labels()[name], W, H)
    boxes.draw(
        session, image, boxes.BoxInput([x / W, y / H, w / W, h / H], sighting_id=sighting.id), None
    )
    session.commit()
    return image


def test_a_new_leopard_box_queues_its_features_and_the_job_stores_them(app, session, stations):
    code, station, name = REFERENCES[0]
    image = add_photo(session, app, stations[station], name, code)
    queued = session.scalars(select(Job).where(Job.function == store.JOB)).all()
    assert queued and image.id in queued[-1].args["image_ids"]
    result = store.compute_job(session, app.config, image_ids=[image.id])
    session.commit()
    assert result == {"computed": 1}
    stored = session.scalars(select(PatternFeatures)).one()
    assert stored.keypoints > 100 and stored.detector == "hesaff-full"
    # Run again: nothing to do, the stored features are kept.
    assert store.compute_job(session, app.config, image_ids=[image.id]) == {"computed": 0}
    # Features an earlier recipe made (700 px, one field) are made again by the current one.
    stored.detector = "hesaff"
    session.commit()
    assert store.compute_job(session, app.config, image_ids=[image.id]) == {"computed": 1}
    assert session.scalars(select(PatternFeatures)).one().detector == "hesaff-full"


def _catalogue(session, app, stations) -> dict[str, int]:
    """The reference photos in the tracker: image id per individual code."""
    return {
        code: add_photo(session, app, stations[station], name, code).id
        for code, station, name in REFERENCES
    }


def _queries(session, app, stations) -> list[tuple[str, Image]]:
    return [
        (code, add_photo(session, app, stations[station], name, None))
        for code, station, name in QUERIES
    ]


def test_identify_ranks_each_cat_first_with_the_json_the_issue_names(
    app, session, stations, runner
):
    catalogue = _catalogue(session, app, stations)
    queries = _queries(session, app, stations)
    ids = [str(image.id) for _, image in queries]
    result = runner.invoke(args=["identify", *ids, "--json", "--top", "2"])
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert [a["image"] for a in answers] == [image.id for _, image in queries]
    for (expected, image), answer in zip(queries, answers, strict=True):
        assert set(answer) == {"image", "box", "candidates", "probably_new"}
        assert answer["box"] == _union(
            _labels()[image.original_filename], image.width, image.height
        )
        assert 1 <= len(answer["candidates"]) <= 2
        best = answer["candidates"][0]
        assert set(best) == {"individualID", "score", "reference_image"}
        assert best["individualID"] == expected
        assert best["reference_image"] == catalogue[expected]
        assert best["score"] > 0 and answer["probably_new"] is False


def test_photos_of_the_query_s_own_event_are_never_its_references(app, session, stations):
    from tracker.reid import batch, identify

    _catalogue(session, app, stations)
    (code, image), *_ = _queries(session, app, stations)
    index = batch.catalogue_index(session, app.config)
    media = app.config["MEDIA_DIR"]
    # Seconds apart at one camera: within 30 minutes, one event, so not a reference.
    same = identify.identify_image(session, index, image, media, minutes=30)
    assert code not in [c.individual for c in same.candidates]
    apart = identify.identify_image(session, index, image, media, minutes=0)
    assert apart.candidates[0].individual == code


def test_identify_a_jpeg_path_reads_it_without_storing_it(app, session, stations, runner):
    _catalogue(session, app, stations)
    images_before = session.scalars(select(Image.id)).all()
    path = str(DATA / "images" / QUERIES[0][2])
    result = runner.invoke(args=["identify", path, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["image"] == path and answer["box"] == [0, 0, 1920, 1080]
    assert len(answer["candidates"]) <= 5
    assert isinstance(answer["probably_new"], bool)
    assert session.scalars(select(Image.id)).all() == images_before


def test_identify_unidentified_ranks_every_unidentified_leopard(app, session, stations, runner):
    _catalogue(session, app, stations)
    queries = _queries(session, app, stations)
    result = runner.invoke(args=["identify", "--unidentified", "--json", "--top", "1"])
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert [a["image"] for a in answers] == [image.id for _, image in queries]
    assert [a["candidates"][0]["individualID"] for a in answers] == [c for c, _ in queries]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["identify"], "name at least one IMAGE"),
        (["identify", "999"], "no image 999"),
        (["identify", "no/such/file.jpg"], "neither an image id nor a readable file"),
    ],
)
def test_identify_refuses_bad_input_with_a_clear_message(app, runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_identify_says_which_file_it_could_not_read(app, runner, tmp_path):
    bad = tmp_path / "card.jpg"
    bad.write_bytes(b"not a photo")
    result = runner.invoke(args=["identify", str(bad)])
    assert result.exit_code == 1 and "card.jpg" in result.output
    assert "not a JPEG" in result.output


def test_a_reference_marked_unusable_is_left_out(app, session, stations, runner):
    catalogue = _catalogue(session, app, stations)
    (code, query), *_ = _queries(session, app, stations)
    assert runner.invoke(args=["identify", str(query.id)]).exit_code == 0  # features computed
    box = session.scalar(select(Annotation.id).where(Annotation.image_id == catalogue[code]))
    result = runner.invoke(args=["reference", str(box), "--unusable"])
    assert result.exit_code == 0, result.output
    answer = json.loads(runner.invoke(args=["identify", str(query.id), "--json"]).output)
    assert catalogue[code] not in [c["reference_image"] for c in answer["candidates"]]
    assert runner.invoke(args=["reference", "99999"]).exit_code == 2


def test_the_batch_page_ranks_unidentified_leopards(app, session, stations, client, as_role):
    catalogue = _catalogue(session, app, stations)
    queries = _queries(session, app, stations)
    # A worker computes the features; here the job runs in the test.
    store.compute_job(session, app.config, image_ids=list(catalogue.values()))
    store.compute_job(session, app.config, image_ids=[image.id for _, image in queries[:2]])
    session.commit()
    assert client.get("/photo-id/unidentified").status_code == 302  # signed in only
    page = as_role("researcher").get("/photo-id/unidentified")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for code, image in queries[:2]:
        row = html.split(image.original_filename, 1)[1].split("</tr>", 1)[0]
        assert f"<strong>{code}</strong>" in row
        assert f"/images/{catalogue[code]}" in row
    assert html.count("features not computed yet") == 1  # the third query's job has not run
    client.get("/individuals/").get_data(as_text=True).index("/photo-id/unidentified")
