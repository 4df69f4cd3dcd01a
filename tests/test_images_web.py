"""The image pages: upload through the browser, the filterable list, one image, and its files.

Real JPEGs (tracker.synthetic), a real database on each backend, real previews on disk.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import csrf_token, row_counts
from markupsafe import escape
from PIL import Image as PILImage
from sqlalchemy import select

from tracker import fieldwork, ingest, sources, storage
from tracker.db import get_session
from tracker.models import Deployment, Image, Sighting, Species, User
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)
XSS = "<script>alert(1)</script>.jpg"


@pytest.fixture
def field(app, users) -> dict[str, int]:
    """KP-01 with active deployment A (camera H500-1, clock 2 min slow), KP-02 with closed
    deployment B, KP-03 with no deployment at all."""
    with app.app_context():
        session = get_session()
        kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
        kp2 = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.8)
        fieldwork.create_station(session, code="KP-03", latitude=43.3, longitude=131.7)
        a = fieldwork.create_deployment(
            session,
            kp1,
            fieldwork.DeploymentInput(
                start_date=date(2024, 1, 1), camera_serial="H500-1", clock_offset_s=120
            ),
        )
        b = fieldwork.create_deployment(
            session,
            kp2,
            fieldwork.DeploymentInput(start_date=date(2023, 1, 1), end_date=date(2023, 12, 31)),
        )
        session.commit()
        return {"a": a.id, "b": b.id, "ranger": users["ranger"].id}


def images_by_name(app) -> dict[str, Image]:
    with app.app_context():
        session = get_session()
        rows = {i.original_filename: i for i in session.scalars(select(Image))}
        session.expunge_all()  # still readable after the request's session is closed
        return rows


def post_upload(client, files, **fields):
    token = csrf_token(client, "/upload")
    data = {"csrf_token": token, **fields, "files": [(io.BytesIO(d), n) for n, d in files]}
    return client.post("/upload", data=data, content_type="multipart/form-data")


def summary_of(page: str) -> tuple[int, int, int]:
    match = re.search(r"(\d+) added, (\d+) already present, (\d+) rejected\.", page)
    assert match, page[:2000]
    return tuple(int(n) for n in match.groups())


def add_images(app, deployment_id: int, files: dict[str, bytes], user_id=None) -> dict[str, int]:
    """Ingest files straight into a deployment (as the CLI does); name -> image id."""
    with app.app_context():
        session = get_session()
        deployment = session.get(Deployment, deployment_id)
        user = session.get(User, user_id) if user_id else None
        limits = sources.ZipLimits()
        items = [
            item for n, d in files.items() for item in sources.file_item(io.BytesIO(d), n, limits)
        ]
        report = ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"], user=user)
        assert report.count("added") == len(files), report.outcomes
        return {o.name: o.image_id for o in report.outcomes}


def tag(app, image_id: int, scientific_name: str) -> None:
    with app.app_context():
        session = get_session()
        image = session.get(Image, image_id)
        species = session.scalar(select(Species).where(Species.scientific_name == scientific_name))
        when = image.taken_at_utc or datetime(2024, 3, 1, tzinfo=UTC)
        session.add(
            Sighting(
                species_id=species.id,
                deployment_id=image.deployment_id,
                event_start=when,
                event_end=when,
                images=[image],
            )
        )
        session.commit()


# --- upload -----------------------------------------------------------------------------------


def test_ranger_uploads_photos_and_a_bad_file_is_named(app, as_role, field):
    client = as_role("ranger")
    files = [(f"IMG_{i}.JPG", jpeg_bytes(TAKEN, seed=i)) for i in range(3)]
    files.append(("notes.jpg", b"just some notes, not a photo"))
    response = post_upload(client, files, deployment=str(field["a"]))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert summary_of(page) == (3, 0, 1)
    assert "notes.jpg" in page
    assert "not a JPEG image (text file)" in page
    rows = images_by_name(app)
    assert sorted(rows) == ["IMG_0.JPG", "IMG_1.JPG", "IMG_2.JPG"]
    assert {r.uploaded_by_id for r in rows.values()} == {field["ranger"]}
    assert {r.deployment_id for r in rows.values()} == {field["a"]}
    for row in rows.values():  # the result links to every added image
        assert f'href="/images/{row.id}"' in page
        stored = Path(app.config["MEDIA_DIR"]) / row.stored_path
        assert stored.read_bytes() == dict(files)[row.original_filename]

    again = post_upload(client, files, deployment=str(field["a"]))
    assert again.status_code == 200
    assert summary_of(again.get_data(as_text=True)) == (0, 3, 1)
    assert len(images_by_name(app)) == 3


def test_zip_of_a_card_adds_the_good_photo_and_names_the_evil_member(app, as_role, field):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("DCIM/100RECNX/IMG_0001.JPG", jpeg_bytes(TAKEN, seed=11))
        archive.writestr("../evil.jpg", jpeg_bytes(TAKEN, seed=12))
    response = post_upload(
        as_role("admin"), [("card.zip", buffer.getvalue())], deployment=str(field["a"])
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert summary_of(page) == (1, 0, 1)
    assert "card.zip/../evil.jpg" in page
    assert "unsafe path in zip (../)" in page
    assert list(images_by_name(app)) == ["card.zip/DCIM/100RECNX/IMG_0001.JPG"]
    media = Path(app.config["MEDIA_DIR"])
    assert not list(media.parent.glob("evil.jpg")) and not list(media.rglob("evil.jpg"))


def test_station_code_means_its_active_deployment(app, as_role, field):
    response = post_upload(
        as_role("ranger"), [("x.jpg", jpeg_bytes(TAKEN, seed=3))], station="KP-01"
    )
    assert response.status_code == 200
    assert summary_of(response.get_data(as_text=True)) == (1, 0, 0)
    assert images_by_name(app)["x.jpg"].deployment_id == field["a"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"station": "KP-03"}, "Station KP-03 has no active deployment; choose a deployment."),
        ({"station": "KP-99"}, "No station with code 'KP-99'."),
        ({"deployment": "12345"}, "No deployment with id 12345."),
        ({"deployment": "abc"}, "Choose a deployment from the list."),
        ({}, "Choose a deployment, or enter a station code."),
    ],
)
def test_upload_without_a_usable_deployment_is_refused(app, as_role, field, fields, message):
    client = as_role("ranger")
    before = row_counts(app)
    response = post_upload(client, [("x.jpg", jpeg_bytes(TAKEN, seed=3))], **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert escape(message) in page
    assert 'id="upload-form"' in page  # the form again, to correct and resend
    assert row_counts(app) == before
    assert not (Path(app.config["MEDIA_DIR"]) / "originals").exists()


def test_upload_with_no_files_is_refused(app, as_role, field):
    client = as_role("ranger")
    before = row_counts(app)
    response = post_upload(client, [], deployment=str(field["a"]))
    assert response.status_code == 400
    assert "Choose at least one photo (JPEG) or a zip file" in response.get_data(as_text=True)
    # An empty file input, as a browser sends it when nothing was chosen.
    response = post_upload(client, [("", b"")], deployment=str(field["a"]))
    assert response.status_code == 400
    assert "Choose at least one photo (JPEG) or a zip file" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_upload_without_csrf_token_is_refused(app, as_role, field):
    client = as_role("ranger")
    before = row_counts(app)
    response = client.post(
        "/upload",
        data={"deployment": str(field["a"]), "files": [(io.BytesIO(jpeg_bytes(TAKEN)), "x.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The form expired or was not sent from this site" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_only_rangers_and_admins_may_upload(app, client, as_role, field):
    response = client.get("/upload")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    token = csrf_token(client, "/login")
    response = client.post("/upload", data={"csrf_token": token, "deployment": str(field["a"])})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")

    researcher = as_role("researcher")
    assert researcher.get("/upload").status_code == 403
    before = row_counts(app)
    token = csrf_token(researcher, "/")
    response = researcher.post(
        "/upload",
        data={
            "csrf_token": token,
            "deployment": str(field["a"]),
            "files": [(io.BytesIO(jpeg_bytes(TAKEN)), "x.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert row_counts(app) == before
    page = researcher.get("/images/").get_data(as_text=True)
    assert 'href="/images/"' in page and 'href="/upload"' not in page


def test_upload_page_has_the_progress_bar_and_its_script(client, as_role, field):
    page = as_role("ranger").get("/upload").get_data(as_text=True)
    assert 'href="/upload"' in page  # the nav link, for roles that may upload
    assert '<script src="/static/upload.js"></script>' in page
    assert "<progress" in page
    assert 'enctype="multipart/form-data"' in page
    file_input = re.search(r"<input[^>]*name=\"files\"[^>]*>", page).group(0)
    assert "multiple" in file_input
    assert 'accept=".jpg,.jpeg,.zip,image/jpeg,application/zip"' in file_input
    # Active deployments first, labelled station · period · camera serial.
    options = re.findall(r'<option[^>]*value="(\d+)"[^>]*>([^<]*)</option>', page)
    assert [label for _, label in options] == [
        "KP-01 · 2024-01-01\N{EN DASH}active · H500-1",
        "KP-02 · 2023-01-01\N{EN DASH}2023-12-31 · no camera serial",
    ]
    with client.get("/static/upload.js") as script:
        assert script.status_code == 200
        assert "javascript" in script.content_type
        body = script.get_data(as_text=True)
    assert 'upload.addEventListener("progress"' in body and "new FormData(form)" in body


# --- list -------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(app, field) -> dict[str, int]:
    """a1 (Mar 10, leopard), a2 (Mar 12, blank), a3 (no time), a4 (Mar 20) at KP-01; b1 at KP-02."""
    ids = add_images(
        app,
        field["a"],
        {
            "a1.jpg": jpeg_bytes(datetime(2024, 3, 10, 22, 0), seed=1),
            "a2.jpg": jpeg_bytes(datetime(2024, 3, 12, 22, 0), seed=2),
            "a3.jpg": jpeg_bytes(None, seed=3),
            "a4.jpg": jpeg_bytes(datetime(2024, 3, 20, 22, 0), seed=4),
        },
    )
    ids |= add_images(app, field["b"], {"b1.jpg": jpeg_bytes(datetime(2023, 5, 1), seed=5)})
    tag(app, ids["a1.jpg"], "Panthera pardus orientalis")
    tag(app, ids["a2.jpg"], "Blank")
    return ids


def shown(client, query: str = "") -> list[str]:
    response = client.get(f"/images/{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    return re.findall(r'class="names">([^<]+)</a>', response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["a4.jpg", "a2.jpg", "a1.jpg", "b1.jpg", "a3.jpg"]),  # newest first, no time last
        ("?station=KP-02", ["b1.jpg"]),
        ("?deployment={a}", ["a4.jpg", "a2.jpg", "a1.jpg", "a3.jpg"]),
        ("?from=2024-03-11", ["a4.jpg", "a2.jpg"]),
        ("?to=2024-03-12", ["a2.jpg", "a1.jpg", "b1.jpg"]),
        ("?from=2024-03-10&to=2024-03-10", ["a1.jpg"]),
        ("?status=untagged", ["a4.jpg", "b1.jpg", "a3.jpg"]),
        ("?status=tagged", ["a1.jpg"]),
        ("?status=blank", ["a2.jpg"]),
        ("?status=timestamp", ["a3.jpg"]),
        ("?station=KP-01&status=untagged", ["a4.jpg", "a3.jpg"]),
    ],
)
def test_list_filters(as_role, field, catalogue, query, expected):
    assert shown(as_role("researcher"), query.format(**field)) == expected


def test_list_shows_counts_current_filters_and_badges(as_role, field, catalogue):
    client = as_role("researcher")
    page = client.get("/images/?station=KP-01&status=untagged").get_data(as_text=True)
    assert '<strong id="total">2</strong>' in page
    assert "Of the 4 matching the other filters" in page
    for count in ("2 untagged", "1 tagged", "1 blank", "1 with timestamp issues"):
        assert count in page
    assert '<option value="KP-01" selected>' in page
    assert '<option value="untagged" selected>' in page
    assert page.count('class="badge bad"') == 1  # a3's timestamp issue
    assert 'loading="lazy"' in page
    assert f'src="/images/{catalogue["a3.jpg"]}/thumb"' in page

    page = client.get("/images/?from=2024-01-01&deployment={a}".format(**field))
    page = page.get_data(as_text=True)
    assert 'name="from" value="2024-01-01"' in page
    assert f'<option value="{field["a"]}" selected>' in page
    assert '<strong id="total">3</strong>' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=2024-13-45", "From date &#39;2024-13-45&#39; is not a date: use YYYY-MM-DD."),
        ("?to=yesterday", "To date &#39;yesterday&#39; is not a date"),
        ("?from=2024-03-12&to=2024-03-01", "The From date is after the To date."),
        (
            "?status=cats",
            "Status &#39;cats&#39; is not one of: untagged, tagged, blank, timestamp.",
        ),
        ("?deployment=x", "Deployment &#39;x&#39; is not a deployment number."),
    ],
)
def test_bad_filters_say_so(as_role, field, catalogue, query, message):
    response = as_role("ranger").get(f"/images/{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'class="thumbs"' not in page
    assert 'action="/images/"' in page  # the filter form, to correct it


def pager_links(client, query: str = "") -> dict[str, str]:
    page = client.get(f"/images/{query}").get_data(as_text=True)
    links = re.findall(r'<a href="/images/([^"]*)"(?: rel="\w+")?>([^<]+)</a>', page)
    return {label.strip(" \u2039\u203a\xab\xbb"): html.unescape(href) for href, label in links}


def test_list_pages_are_keysets_with_older_and_newer_links(app, as_role, field):
    files = {
        f"p{i:02}.jpg": jpeg_bytes(
            datetime(2024, 2, 1, 12) + timedelta(minutes=i), size=(64, 48), seed=i
        )
        for i in range(61)
    }
    files["none.jpg"] = jpeg_bytes(None, size=(64, 48), seed=99)
    add_images(app, field["a"], files)
    client = as_role("researcher")
    first = shown(client)
    assert len(first) == 60
    assert first[0] == "p60.jpg" and first[-1] == "p01.jpg"
    links = pager_links(client, "?deployment={a}".format(**field))
    assert set(links) >= {"older"} and "newer" not in links
    older = links["older"]
    assert older.startswith(f"?deployment={field['a']}&before=2024-02-01T")
    assert shown(client, older) == ["p00.jpg", "none.jpg"]  # no capture time: last
    links = pager_links(client, older)
    assert "older" not in links
    assert shown(client, links["newer"]) == first
    assert shown(client, links["newest"]) == first
    # From the photo without a time, "newer" goes back into the timed ones.
    none_id = re.search(r"_(\d+)$", older).group(1)
    assert shown(client, f"?after=none_{int(none_id) + 1}")[-2:] == ["p00.jpg", "none.jpg"]
    # Old page numbers and broken cursors show the newest page, never an error.
    assert shown(client, "?page=2") == first
    assert shown(client, "?before=yesterday_x") == first


def test_dashboard_links_latest_uploads_to_the_image(as_role, field, catalogue):
    page = as_role("researcher").get("/").get_data(as_text=True)
    assert f'<a href="/images/{catalogue["a1.jpg"]}">a1.jpg</a>' in page


# --- one image and its files ------------------------------------------------------------------


def test_detail_shows_what_the_camera_wrote_and_what_was_made_of_it(app, as_role, field):
    ids = add_images(
        app,
        field["a"],
        {
            "plain.jpg": jpeg_bytes(TAKEN, seed=1, serial="H500-1"),
            "gps.jpg": jpeg_bytes(TAKEN, seed=2, gps=(43.2, 131.4), altitude=512.0),
        },
        user_id=field["ranger"],
    )
    tag(app, ids["plain.jpg"], "Panthera pardus orientalis")
    client = as_role("researcher")
    page = client.get(f"/images/{ids['plain.jpg']}").get_data(as_text=True)
    assert "<code>2024:03:10 22:15:00</code>" in page
    # Vladivostok is UTC+10; the camera ran 2 minutes slow.
    assert "2024-03-10 12:17:00 UTC" in page
    assert "2024-03-10 22:17:00 +1000" in page
    assert "the deployment&#39;s time zone Asia/Vladivostok, clock correction +120 s" in page
    assert "station KP-01 position (no valid GPS): 43.100000, 131.900000" in page
    assert "RECONYX" in page and "HF2 PRO COVERT" in page and "H500-1" in page
    assert "Amur leopard" in page
    assert "ranger@park.test" in page
    with app.app_context():
        image = get_session().get(Image, ids["plain.jpg"])
        assert image.sha256 in page
    assert f'href="/images/{ids["plain.jpg"]}/original"' in page
    assert f'src="/images/{ids["plain.jpg"]}/preview"' in page
    assert f'href="/deployments/{field["a"]}"' in page
    # Same capture time: the neighbour is by id.
    assert f'href="/images/{ids["gps.jpg"]}" rel="next"' in page

    page = client.get(f"/images/{ids['gps.jpg']}").get_data(as_text=True)
    assert "Position (EXIF GPS)</dt><dd>43.200000, 131.400000" in page
    assert "512.0 m" in page
    assert "no valid GPS" not in page
    assert f'href="/images/{ids["plain.jpg"]}" rel="prev"' in page


def test_detail_highlights_a_timestamp_issue(app, as_role, field):
    ids = add_images(app, field["a"], {"early.jpg": jpeg_bytes(datetime(2023, 6, 1), seed=9)})
    page = as_role("ranger").get(f"/images/{ids['early.jpg']}").get_data(as_text=True)
    assert "Timestamp issue: capture time outside the deployment period" in page
    assert '<span class="badge bad">capture time outside the deployment period</span>' in page


def test_previews_are_small_jpegs_and_the_original_is_the_exact_file(app, client, as_role, field):
    data = jpeg_bytes(TAKEN, size=(1280, 960), seed=7)
    ids = add_images(app, field["a"], {"card.zip/DCIM/IMG_0042.JPG": data})
    image_id = ids["card.zip/DCIM/IMG_0042.JPG"]

    anonymous = [client.get(f"/images/{image_id}/{kind}") for kind in ("thumb", "original")]
    for response in anonymous:
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
        assert response.data != data

    as_role("researcher")
    for kind, longest in (("preview", 660), ("thumb", 340)):
        with client.get(f"/images/{image_id}/{kind}") as response:
            body = response.data
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg"
        assert response.headers["Cache-Control"] == "private, max-age=86400"
        with PILImage.open(io.BytesIO(body)) as picture:
            assert picture.format == "JPEG"
            assert 100 <= max(picture.size) <= longest
    # Made lazily on first view, and kept for the next one.
    assert list((Path(app.config["MEDIA_DIR"]) / "previews").rglob("*.thumb.jpg"))

    with client.get(f"/images/{image_id}/original") as response:
        assert response.data == data
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Content-Disposition"] == "attachment; filename=IMG_0042.JPG"


def test_unknown_images_are_404(as_role, field):
    client = as_role("admin")
    for url in ("/images/999", "/images/999/thumb", "/images/999/preview", "/images/999/original"):
        assert client.get(url).status_code == 404


def test_a_damaged_stored_file_gets_a_placeholder_not_a_crash(app, as_role, field):
    data = jpeg_bytes(TAKEN, seed=8)
    ids = add_images(app, field["a"], {"x.jpg": data})
    sha = hashlib.sha256(data).hexdigest()
    (Path(app.config["MEDIA_DIR"]) / storage.original_relpath(sha)).write_bytes(b"rotten bits")
    client = as_role("ranger")
    for kind in ("thumb", "preview"):
        response = client.get(f"/images/{ids['x.jpg']}/{kind}")
        assert response.status_code == 404
        assert response.mimetype == "image/svg+xml"  # a grey tile in the grid, not a broken one
        assert f"No {kind}: the stored photo cannot be decoded" in response.get_data(as_text=True)
    assert client.get(f"/images/{ids['x.jpg']}").status_code == 200


def test_a_missing_stored_file_gets_a_placeholder_that_says_so(app, as_role, field):
    data = jpeg_bytes(TAKEN, seed=9)
    ids = add_images(app, field["a"], {"y.jpg": data})
    sha = hashlib.sha256(data).hexdigest()
    media = Path(app.config["MEDIA_DIR"])
    for path in media.rglob(f"{sha}*"):
        path.unlink()  # the original and any preview already made
    response = as_role("ranger").get(f"/images/{ids['y.jpg']}/thumb")
    assert response.status_code == 404
    assert response.mimetype == "image/svg+xml"
    assert "No thumb: the stored photo is missing" in response.get_data(as_text=True)


def test_file_names_are_escaped_everywhere(app, as_role, field):
    client = as_role("ranger")
    response = post_upload(
        client,
        [(XSS, jpeg_bytes(TAKEN, seed=21)), ("<b>bad</b>.jpg", b"not a photo")],
        deployment=str(field["a"]),
    )
    image_id = images_by_name(app)[XSS].id
    pages = [
        response.get_data(as_text=True),
        client.get("/images/").get_data(as_text=True),
        client.get(f"/images/{image_id}").get_data(as_text=True),
        client.get("/").get_data(as_text=True),
    ]
    for page in pages:
        assert "<script>alert(1)" not in page
        assert escape(XSS) in page
    assert "<b>bad</b>" not in pages[0] and "&lt;b&gt;bad&lt;/b&gt;.jpg" in pages[0]
    download = client.get(f"/images/{image_id}/original")
    assert download.status_code == 200
    download.close()
    assert download.headers["Content-Disposition"] == 'attachment; filename="script>.jpg"'
