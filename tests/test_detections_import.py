"""`tracker detections import`: MegaDetector's real output on real photos, every version."""

from __future__ import annotations

import json

import pytest
from conftest import row_counts
from detections_data import RESULTS, deployment, import_photos, results
from sqlalchemy import func, select

from tracker.detections import importer, megadetector
from tracker.errors import InvalidInput
from tracker.models import Annotation, DetectionResult, DetectionRun


def run_import(runner, path, *args):
    result = runner.invoke(args=["detections", "import", str(path), *args, "--json"])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result, lines[:-1], (lines[-1]["summary"] if lines else None)


@pytest.fixture
def card(app, session):
    dep = deployment(session)
    photos = import_photos(session, app, dep)
    return dep, photos


def test_the_real_output_lands_on_the_real_photos(app, session, runner, card):
    dep, photos = card
    result, entries, summary = run_import(runner, RESULTS, "--deployment", str(dep.id))
    # The truncated photo is refused at import, so its entry matches nothing: exit 1, named.
    assert "african_elephants_truncated_file.jpg" not in photos
    assert result.exit_code == 1, result.output
    status = {e["file"]: e["status"] for e in entries}
    assert status["african_elephants_truncated_file.jpg"] == "unmatched"
    assert status["human.jpg"] == status["vehicle.jpg"] == status["blank.jpg"] == "matched"
    assert {e["image_id"] for e in entries if e["file"] == "ocelot.jpg"} == {
        photos["ocelot.jpg"].id
    }
    assert summary == {"matched": 13, "unmatched": 1, "ambiguous": 0, "failure": 0,
                       "boxes": 85 - 14, "likely_empty": 3}  # fmt: skip
    query = select(Annotation.category, func.count()).group_by(Annotation.category)
    categories = {category: n for category, n in session.execute(query)}
    assert categories == {"animal": 69, "person": 1, "vehicle": 1}
    person = session.scalar(select(Annotation).where(Annotation.category == "person"))
    assert person.image_id == photos["human.jpg"].id and person.source == "md_v5a.0.0.pt"
    assert 0 < person.x < 1 and 0 < person.width <= 1 - person.x
    run = session.scalar(select(DetectionRun))
    assert (run.format_version, run.file_threshold) == ("1.4", 0.2)


def test_importing_the_same_detector_again_replaces_its_boxes(app, session, runner, card):
    dep, _ = card
    run_import(runner, RESULTS, "--deployment", str(dep.id))
    before = row_counts(app)
    result, _, summary = run_import(runner, RESULTS, "--station", "KP-07")
    assert result.exit_code == 1 and summary["boxes"] == 71
    after = row_counts(app)
    for table in ("annotation", "detection_result", "detection_run"):
        assert after[table] == before[table], table


def test_a_failure_entry_is_reported_and_its_photo_not_called_empty(app, session, runner, card,
                                                                    tmp_path):  # fmt: skip
    dep, photos = card
    data = results()
    for entry in data["images"]:
        if entry["file"] == "blank2.jpg":
            entry["detections"], entry["failure"] = None, "Failure image access"
    path = tmp_path / "md.json"
    path.write_text(json.dumps(data))
    _, entries, summary = run_import(runner, path, "--deployment", str(dep.id))
    failed = next(e for e in entries if e["file"] == "blank2.jpg")
    assert failed == {"file": "blank2.jpg", "image_id": photos["blank2.jpg"].id,
                      "status": "failure", "boxes": 0}  # fmt: skip
    assert summary["failure"] == 1 and summary["likely_empty"] == 2
    stored = session.scalar(
        select(DetectionResult.failure).where(DetectionResult.image_id == photos["blank2.jpg"].id)
    )
    assert stored == "Failure image access"


def test_without_a_file_threshold_the_configured_one_applies(app, session, card):
    dep, _ = card
    data = results()
    del data["info"]["detector_metadata"]  # no typical_detection_threshold in the file
    output = megadetector.parse(data)
    report = importer.import_results(session, dep, output, default_threshold=0.01)
    # blank3.jpg has one box at 0.0101: at 0.01 it is not empty, at 0.2 it is.
    assert report.summary["likely_empty"] == 2 and report.threshold == 0.01
    report = importer.import_results(session, dep, output, default_threshold=0.2)
    assert report.summary["likely_empty"] == 3


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3", "1.5", "1.6", 1.0, 1.3])
def test_every_format_version_in_the_wild_is_read(version):
    data = {
        "info": {"format_version": version, "detector": "megadetector_v4.1"},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "images": [
            {"file": "a/IMG_1.JPG", "max_detection_conf": 0.9,
             "detections": [{"category": "1", "conf": 0.9, "bbox": [0.5, 0.5, 0.50001, 0.2]}]},
            {"file": "a/clip.mp4", "frame_rate": 30, "detections": [
                {"category": "2", "conf": 0.8, "bbox": [0, 0, 0.1, 0.1], "frame_number": 3}]},
            {"file": "a/IMG_2.JPG", "failure": "Failure image access", "detections": None},
        ],
    }  # fmt: skip
    output = megadetector.parse(data)
    assert output.format_version == str(version) if isinstance(version, str) else "1.0"
    first, video, failed = output.entries
    assert first.detections[0].bbox == (0.5, 0.5, 0.5, 0.2)  # clipped to the photo's edge
    assert video.detections[0].category == "person"
    assert failed.failure == "Failure image access" and output.typical_threshold is None


def test_a_broken_file_is_refused_with_every_problem_named(app, session, runner, card, tmp_path):
    dep, _ = card
    data = {
        "info": {"format_version": "2.0"},
        "detection_categories": {"1": "animal", "4": "tiger"},
        "images": [
            {"file": "ocelot.jpg", "detections": [{"category": "9", "conf": 1.5, "bbox": [1, 2]}]},
            {"detections": []},
            {"file": "blank.jpg"},
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    before = row_counts(app)
    result = runner.invoke(args=["detections", "import", str(path), "--deployment", str(dep.id)])
    assert result.exit_code == 2
    first = "images[0].detections[0]"
    for where in ("info.format_version", "detection_categories.4", f"{first}.category",
                  f"{first}.conf", f"{first}.bbox", "images[1].file",
                  "images[2].detections"):  # fmt: skip
        assert f"error: {where}:" in result.output, where
    assert row_counts(app) == before
    path.write_text("{not json")
    result = runner.invoke(args=["detections", "import", str(path), "--deployment", str(dep.id)])
    assert result.exit_code == 2 and "not a JSON file" in result.output


@pytest.mark.parametrize(
    "args",
    [[], ["--deployment", "1", "--station", "KP-07"], ["--deployment", "99"], ["--station", "NO"]],
)
def test_usage_errors_exit_2(app, runner, card, args):
    result = runner.invoke(args=["detections", "import", str(RESULTS), *args])
    assert result.exit_code == 2 and "error:" in result.output
    assert "Traceback" not in result.output


def test_paths_match_by_whole_folder_names_and_never_guess():
    photos = [(1, "card.zip/DCIM/100/IMG_1.JPG"), (2, "DCIM/101/IMG_1.JPG"), (3, "XIMG_2.JPG"),
              (4, "IMG_3.JPG"), (5, "IMG_4.JPG")]  # fmt: skip
    files = ["100/IMG_1.JPG", "IMG_1.JPG", "IMG_2.JPG", "D:\\cards\\7\\IMG_3.JPG",
             "a/IMG_4.JPG", "b/IMG_4.JPG"]  # fmt: skip
    assert importer.match(files, photos) == [
        (1, "matched"),
        (None, "ambiguous"),  # fits two photos
        (None, "unmatched"),  # XIMG_2 is another name
        (4, "matched"),  # a Windows path, longer than the stored name
        (None, "ambiguous"),  # two entries claim one photo
        (None, "ambiguous"),
    ]


def test_parse_refuses_what_is_not_a_batch_output():
    with pytest.raises(InvalidInput) as refused:
        megadetector.parse([1, 2])
    assert "file" in refused.value.errors
