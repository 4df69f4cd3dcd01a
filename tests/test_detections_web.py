"""Detector results from the pages: the deployment page and the Upload page (a .json beside
the photos or in their zip), imported by a real `tracker worker`; a run's threshold."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import csrf_token, fetch
from detections_data import PHOTOS, RESULTS, deployment, import_photos, results
from sqlalchemy import func, select
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.test import EnvironBuilder, stream_encode_multipart
from workers import start_worker, stop_worker, wait_until

from tracker.models import Annotation, DetectionRun, Job


@pytest.fixture
def card(app, session):
    dep = deployment(session)
    import_photos(session, app, dep)
    return dep


def run_jobs(app, tmp_path) -> list[Job]:
    worker = start_worker(app.config, tmp_path / "worker.log")
    try:
        wait_until(lambda: all(j.state in ("done", "failed") for (j,) in fetch(app, select(Job))),
                   what="the detection imports to finish")  # fmt: skip
    finally:
        stop_worker(worker)
    return [job for (job,) in fetch(app, select(Job).order_by(Job.id))]


def upload(client, form) -> str:
    """The Upload page's answer, the body encoded in memory (Werkzeug's test client would spool
    a large one to a temporary file it never closes)."""
    builder = EnvironBuilder(data=form)  # files as FileStorage, fields as a MultiDict
    fields = CombinedMultiDict([builder.form, builder.files])
    stream, _, boundary = stream_encode_multipart(fields, use_tempfile=False)
    builder.close()
    content_type = f"multipart/form-data; boundary={boundary}"
    with client.post("/upload", data=stream.getvalue(), content_type=content_type) as response:
        return response.get_data(as_text=True)


def boxes(app) -> int:
    return fetch(app, select(func.count(Annotation.id)))[0][0]


def test_the_deployment_page_imports_results_in_the_background(app, client, as_role, card,
                                                               tmp_path):  # fmt: skip
    as_role("ranger")
    url = f"/deployments/{card.id}"
    form = {"csrf_token": csrf_token(client, url),
            "file": (io.BytesIO(RESULTS.read_bytes()), "megadetector_v5a.json")}  # fmt: skip
    page = client.post(f"{url}/detections", data=form, follow_redirects=True)
    assert "megadetector_v5a.json: import queued (job" in page.get_data(as_text=True)
    (job,) = run_jobs(app, tmp_path)
    assert job.state == "done" and job.result["summary"]["boxes"] == 71
    assert job.result["not_matched"] == ["african_elephants_truncated_file.jpg"]
    assert boxes(app) == 71
    page = client.get(url).get_data(as_text=True)
    assert "md_v5a.0.0.pt" in page and "matched 13" in page


def test_a_refused_file_shows_its_problems(app, client, as_role, card, tmp_path):
    as_role("ranger")
    url = f"/deployments/{card.id}"
    bad = json.dumps({"info": {"format_version": "9"}, "images": []}).encode()
    form = {"csrf_token": csrf_token(client, url), "file": (io.BytesIO(bad), "bad.json")}
    client.post(f"{url}/detections", data=form)
    (job,) = run_jobs(app, tmp_path)
    assert job.state == "done" and "info.format_version" in job.result["refused"]
    assert "refused: info.format_version" in client.get(url).get_data(as_text=True)
    assert boxes(app) == 0


def test_a_person_sets_a_runs_threshold(app, session, client, as_role, card):
    from tracker.detections import importer, megadetector

    importer.import_results(session, card, megadetector.parse(results()), 0.2)
    session.commit()
    run_id = session.scalar(select(DetectionRun.id))
    as_role("researcher")
    url = f"/deployments/{card.id}"
    token = csrf_token(client, url)
    client.post(f"/detections/{run_id}/threshold", data={"csrf_token": token, "threshold": "0.9"})
    assert fetch(app, select(DetectionRun.threshold)) == [(0.9,)]
    page = client.post(f"/detections/{run_id}/threshold", data={"csrf_token": token,
                       "threshold": "2"}, follow_redirects=True)  # fmt: skip
    assert "is not a confidence from 0 to 1" in page.get_data(as_text=True)
    assert fetch(app, select(DetectionRun.threshold)) == [(0.9,)]


def test_a_results_file_in_the_card_zip(app, session, client, as_role, tmp_path):
    dep = deployment(session)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ocelot.jpg", "human.jpg", "blank.jpg"):
            zf.write(PHOTOS / name, f"DCIM/{name}")
        zf.writestr("megadetector.json", RESULTS.read_bytes())
    archive.seek(0)
    as_role("ranger")
    form = {"csrf_token": csrf_token(client, "/upload"), "deployment": str(dep.id),
            "files": (archive, "card.zip")}  # fmt: skip
    page = upload(client, form)
    assert "megadetector.json" in page and "import queued" in page
    (job,) = run_jobs(app, tmp_path)
    assert job.result["summary"]["matched"] == 3
    assert job.result["summary"]["unmatched"] == 11


def test_a_results_file_beside_the_photos(app, session, client, as_role, tmp_path):
    dep = deployment(session)
    as_role("ranger")
    files = [(io.BytesIO((PHOTOS / n).read_bytes()), n) for n in ("ocelot.jpg", "vehicle.jpg")]
    files.append((io.BytesIO(RESULTS.read_bytes()), "md.json"))
    form = {"csrf_token": csrf_token(client, "/upload"), "deployment": str(dep.id),
            "files": files}  # fmt: skip
    assert "import queued" in upload(client, form)
    (job,) = run_jobs(app, tmp_path)
    assert job.result["summary"]["matched"] == 2
    categories = {c for (c,) in fetch(app, select(Annotation.category).distinct())}
    assert categories == {"animal", "vehicle"}
