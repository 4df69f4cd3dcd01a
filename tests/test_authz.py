"""Who may reach which page: every route of the app, for anonymous visitors and each role.

The matrix below must name every route the app has (apart from static files), so a new page
without an entry here fails `test_matrix_covers_every_route` until someone decides who may use it.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import date, datetime
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, PASSWORD_HASH, csrf_token, row_counts
from sqlalchemy import select

from tracker import accounts, fieldwork, individuals, ingest, outages, sightings, sources, tokens
from tracker.db import get_session
from tracker.detections import boxes
from tracker.models import LEOPARD, DetectionRun, Image, Species, User, utcnow
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 4, 10, 22, 15)
ANON = "anonymous"
WHO = (ANON, "ranger", "researcher", "admin")
# A string is a 302 redirect to that path.
LOGIN = "to /login"
HOME = "to /"


def _roles(anonymous, ranger, researcher, admin) -> dict:
    return dict(zip(WHO, (anonymous, ranger, researcher, admin), strict=True))


VIEW = _roles(LOGIN, 200, 200, 200)
MANAGE = _roles(LOGIN, 403, 403, 200)
REFUSED = _roles(LOGIN, 403, 403, 400)  # an admin's bad submission is refused with 400
IMPORT = _roles(LOGIN, 403, 403, "to /stations/")
UPLOAD = _roles(LOGIN, 200, 403, 200)
SPECIES = _roles(LOGIN, 403, 403, "to /species/")
TAG_REFUSED = _roles(LOGIN, 400, 400, 400)
EXPORT = _roles(LOGIN, 403, 200, 200)
# The upload API answers scripts: 401 rather than a sign-in page; someone else's upload is 404.
UPLOAD_API = _roles(401, 404, 403, 404)
# POSTs an allowed role cannot get wrong: they are accepted, and write.
# Signing out writes too: it ends every session of the account, and is audited.
WRITES = {
    "review.delete_sighting",
    "deployments.remove_outage",
    "auth.logout",
    "boxes.delete",
    "account.revoke",
    "species.retire",
    "photoid.check_duplicates",
}

# (endpoint, method) -> (path, expected per visitor, POST data: valid CSRF token, bad values).
# {station}, {deployment}, {image}, {user}, {individual}, {species}, {outage}... are filled in with
# the ids of rows made by `rows`.
MATRIX = {
    ("auth.login", "GET"): ("/login", _roles(200, HOME, HOME, HOME), None),
    ("auth.login", "POST"): ("/login", _roles(400, HOME, HOME, HOME), {"email": ""}),
    ("auth.logout", "POST"): ("/logout", _roles(LOGIN, LOGIN, LOGIN, LOGIN), {}),
    ("main.dashboard", "GET"): ("/", VIEW, None),
    ("stations.index", "GET"): ("/stations/", VIEW, None),
    ("stations.detail", "GET"): ("/stations/{station}", VIEW, None),
    ("stations.create", "GET"): ("/stations/new", MANAGE, None),
    ("stations.create", "POST"): ("/stations/new", REFUSED, {"code": ""}),
    ("stations.edit", "GET"): ("/stations/{station}/edit", MANAGE, None),
    ("stations.edit", "POST"): ("/stations/{station}/edit", REFUSED, {"latitude": "abc"}),
    # No file chosen: the list page says so (a flash) after a redirect.
    ("stations.import_csv", "POST"): ("/stations/import", IMPORT, {}),
    ("deployments.index", "GET"): ("/deployments/", VIEW, None),
    ("deployments.detail", "GET"): ("/deployments/{deployment}", VIEW, None),
    ("deployments.create", "GET"): ("/deployments/new", MANAGE, None),
    ("deployments.create", "POST"): ("/deployments/new", REFUSED, {"station": ""}),
    ("deployments.edit", "GET"): ("/deployments/{deployment}/edit", MANAGE, None),
    ("deployments.edit", "POST"): (
        "/deployments/{deployment}/edit",
        REFUSED,
        {"start_date": "2024-06-01", "end_date": "2024-05-01"},
    ),
    ("deployments.add_outage", "GET"): ("/deployments/{deployment}/outages/new", UPLOAD, None),
    ("deployments.add_outage", "POST"): (
        "/deployments/{deployment}/outages/new",
        _roles(LOGIN, 400, 403, 400),
        {"start_date": "2024-03-01"},  # before the deployment started
    ),
    # A deletion carries no data to get wrong: whoever services cameras, removes (see WRITES).
    ("deployments.remove_outage", "POST"): (
        "/deployments/{deployment}/outages/{outage}/delete",
        _roles(LOGIN, "to /deployments/{deployment}", 403, "to /deployments/{deployment}"),
        {},
    ),
    ("deployments.close", "GET"): ("/deployments/{deployment}/close", MANAGE, None),
    ("deployments.close", "POST"): ("/deployments/{deployment}/close", REFUSED, {"end_date": ""}),
    ("images.upload", "GET"): ("/upload", UPLOAD, None),
    ("images.upload", "POST"): ("/upload", _roles(LOGIN, 400, 403, 400), {"deployment": ""}),
    ("images.index", "GET"): ("/images/", VIEW, None),
    ("images.detail", "GET"): ("/images/{image}", VIEW, None),
    ("images.thumb", "GET"): ("/images/{image}/thumb", VIEW, None),
    ("images.preview", "GET"): ("/images/{image}/preview", VIEW, None),
    ("images.original", "GET"): ("/images/{image}/original", VIEW, None),
    # No photo chosen: back to the library with a message.
    ("library.tag", "POST"): (
        "/images/tag",
        _roles(LOGIN, *["to /images/"] * 3),
        {"image_ids": "x"},
    ),
    ("individuals.index", "GET"): ("/individuals/", VIEW, None),
    ("photoid.unidentified", "GET"): ("/photo-id/unidentified", VIEW, None),
    # Candidates are for whoever tags (every role): rangers tag leopards in the review queue.
    ("photoid.candidates", "GET"): ("/photo-id/boxes/{box}/candidates", VIEW, None),
    ("photoid.duplicates", "GET"): ("/photo-id/duplicates", VIEW, None),
    # Queuing a check carries no data to get wrong: whoever may tag, starts one (see WRITES).
    ("photoid.check_duplicates", "POST"): (
        "/photo-id/duplicates/check",
        _roles(LOGIN, *["to /photo-id/duplicates"] * 3),
        {},
    ),
    ("individuals.detail", "GET"): ("/individuals/{individual}", VIEW, None),
    ("individuals.reference", "POST"): (
        "/individuals/{individual}/reference",
        _roles(LOGIN, 400, 400, 400),
        {"image_id": "", "flank": "left"},
    ),
    ("individuals.edit", "GET"): ("/individuals/{individual}/edit", MANAGE, None),
    ("individuals.edit", "POST"): ("/individuals/{individual}/edit", REFUSED, {"code": ""}),
    ("individuals.merge", "GET"): ("/individuals/{individual}/merge", MANAGE, None),
    ("individuals.merge", "POST"): ("/individuals/{individual}/merge", REFUSED, {"other": ""}),
    ("clocks.correct", "GET"): ("/deployments/{deployment}/clock", MANAGE, None),
    ("clocks.correct", "POST"): (
        "/deployments/{deployment}/clock",
        REFUSED,
        {"method": "fixed", "offset": "abc", "action": "apply"},
    ),
    ("clocks.report", "GET"): ("/deployments/{deployment}/timestamps", VIEW, None),
    ("review.index", "GET"): ("/review/", VIEW, None),
    ("review.queue", "GET"): ("/review/{deployment}", VIEW, None),
    ("review.next_sequence", "GET"): ("/review/{deployment}/next", VIEW, None),
    ("review.tag", "POST"): ("/review/{deployment}/tag", TAG_REFUSED, {"image_ids": ""}),
    ("review.edit_sighting", "GET"): ("/sightings/{sighting}/edit", VIEW, None),
    ("review.edit_sighting", "POST"): ("/sightings/{sighting}/edit", TAG_REFUSED, {"count": "0"}),
    # A deletion carries no data to get wrong: whoever may tag, deletes (see WRITES).
    ("review.delete_sighting", "POST"): (
        "/sightings/{sighting}/delete",
        _roles(LOGIN, *["to /review/{deployment}"] * 3),
        {},
    ),
    ("likely_empty.grid", "GET"): ("/review/{deployment}/empty", VIEW, None),
    # Nothing ticked: nothing to confirm, back to the grid with a message.
    ("likely_empty.grid", "POST"): (
        "/review/{deployment}/empty",
        _roles(LOGIN, *["to /review/{deployment}/empty"] * 3),
        {"blank": "x"},
    ),
    ("people.index", "GET"): ("/people", _roles(LOGIN, 200, 403, 200), None),
    # No file chosen: back to the deployment page with a message.
    ("detections.upload", "POST"): (
        "/deployments/{deployment}/detections",
        _roles(LOGIN, "to /deployments/{deployment}", 403, "to /deployments/{deployment}"),
        {},
    ),
    # A threshold out of range: back to the deployment page with a message.
    ("detections.threshold", "POST"): (
        "/detections/{run}/threshold",
        _roles(LOGIN, *["to /deployments/{deployment}"] * 3),
        {"threshold": "2"},
    ),
    ("boxes.create", "POST"): ("/images/{image}/boxes", TAG_REFUSED, {"bbox": "x"}),
    ("boxes.update", "POST"): ("/boxes/{box}", TAG_REFUSED, {"bbox": "x"}),
    ("boxes.delete", "POST"): ("/boxes/{box}/delete", _roles(LOGIN, 200, 200, 200), {}),
    ("exports.index", "GET"): ("/exports/", EXPORT, None),
    ("exports.index", "POST"): (
        "/exports/",
        _roles(LOGIN, 403, 400, 400),
        {"format": "csv", "date_from": "2024-05-10", "date_to": "2024-05-01"},
    ),
    ("exports.effort_page", "GET"): ("/exports/effort", EXPORT, None),
    ("maps.index", "GET"): ("/map", VIEW, None),
    # Off unless TRACKER_PUBLIC_MAP=1 (tests/test_maps.py covers it switched on).
    ("maps.public", "GET"): ("/map/public", _roles(404, 404, 404, 404), None),
    ("species.index", "GET"): ("/species/", MANAGE, None),
    # Both answer an admin with the list page and a message. Confirming a species that is
    # already confirmed (the leopard) changes nothing, so it stands in for a refused POST.
    ("species.confirm", "POST"): ("/species/{leopard}/confirm", SPECIES, {}),
    ("species.merge", "POST"): ("/species/{species}/merge", SPECIES, {"target": ""}),
    ("species.create", "POST"): ("/species/", SPECIES, {"scientific_name": ""}),
    ("species.edit", "POST"): ("/species/{species}/edit", SPECIES, {"scientific_name": ""}),
    # Retiring writes nothing new but a flag and the audit row (see WRITES).
    ("species.retire", "POST"): ("/species/{species}/retire", SPECIES, {"retired": "1"}),
    ("users.index", "GET"): ("/users/", MANAGE, None),
    ("users.create", "GET"): ("/users/new", MANAGE, None),
    ("users.create", "POST"): ("/users/new", REFUSED, {"email": "", "role": "ranger"}),
    ("users.edit", "GET"): ("/users/{user}/edit", MANAGE, None),
    ("users.edit", "POST"): ("/users/{user}/edit", REFUSED, {"role": "emperor"}),
    ("account.index", "GET"): ("/account/", VIEW, None),
    ("account.index", "POST"): ("/account/", _roles(LOGIN, 400, 400, 400), {"name": "x" * 101}),
    # Only one's own tokens: the admin's token is not there for anyone else.
    ("account.revoke", "POST"): (
        "/account/tokens/{token}/revoke",
        _roles(LOGIN, 404, 404, "to /account/"),
        {},
    ),
    # tus creation without the tus headers: refused before anything is stored.
    ("uploads.create", "POST"): ("/uploads/", _roles(401, 400, 403, 400), {}),
    ("uploads.transfer", "PATCH"): ("/uploads/{upload}", UPLOAD_API, {}),
    ("uploads.transfer", "DELETE"): ("/uploads/{upload}", UPLOAD_API, {}),
    ("uploads.status", "GET"): ("/uploads/{upload}/status", UPLOAD_API, None),
    ("uploads.result", "GET"): ("/uploads/{upload}", UPLOAD_API, None),
}

# Data each POST route would accept, to show that a missing CSRF token alone stops it.
# Accepted submissions redirect, except an upload, which answers with its report.
# a report, a download, the boxes' JSON answers, a new token's page, a tus creation
ACCEPTED = {"images.upload": 200, "exports.index": 200, "boxes.create": 200, "boxes.update": 200,
            "boxes.delete": 200, "account.index": 200, "uploads.create": 201}  # fmt: skip
# Headers a POST needs beyond its form data (a tus creation's).
HEADERS = {
    "uploads.create": {
        "Tus-Resumable": "1.0.0",
        "Upload-Length": "10",
        "Upload-Metadata": "filename Y2FyZC56aXA=,station S1AtMDE=",  # card.zip, KP-01
    }
}
VALID_POST = {
    "auth.login": lambda ids: {"email": "admin@park.test", "password": PASSWORD},
    "auth.logout": lambda ids: {},
    "stations.create": lambda ids: {"code": "KP-99", "latitude": "43.1", "longitude": "131.2"},
    "stations.edit": lambda ids: {"name": "Renamed", "latitude": "43.5", "longitude": "131.5"},
    "stations.import_csv": lambda ids: {
        "file": (io.BytesIO(b"code,name,latitude,longitude\nKP-50,Ridge,43.2,131.4\n"), "s.csv")
    },
    "deployments.create": lambda ids: {
        "station": "KP-01",
        "start_date": "2024-07-01",
        "timezone": "Asia/Vladivostok",
        "clock_offset_s": "0",
    },
    "deployments.edit": lambda ids: {
        "start_date": "2024-04-02",
        "timezone": "Asia/Vladivostok",
        "camera_serial": "H500-1",
        "clock_offset_s": "60",
    },
    "deployments.close": lambda ids: {"end_date": "2024-09-30"},
    "deployments.add_outage": lambda ids: {"start_date": "2024-04-20", "end_date": "2024-04-22"},
    "deployments.remove_outage": lambda ids: {},
    "users.create": lambda ids: {
        "email": "new@park.test",
        "role": "researcher",
        "password": "a long enough password",
        "confirm": "a long enough password",
    },
    "users.edit": lambda ids: {"role": "researcher", "active": "y"},
    "individuals.reference": lambda ids: {"image_id": str(ids["image"]), "flank": "left"},
    "individuals.edit": lambda ids: {"code": "AL-99", "sex": "unknown"},
    "photoid.check_duplicates": lambda ids: {},
    "individuals.merge": lambda ids: {"other": str(ids["other"]), "keep": "this", "confirm": "yes"},
    "clocks.correct": lambda ids: {"method": "fixed", "offset": "+00:01:00", "action": "apply"},
    "species.confirm": lambda ids: {},
    "exports.index": lambda ids: {"format": "csv"},
    "review.tag": lambda ids: {
        "image_ids": str(ids["untagged"]),
        "species_id": str(ids["leopard"]),
    },
    "library.tag": lambda ids: {
        "image_ids": str(ids["untagged"]),
        "species_id": str(ids["leopard"]),
    },
    "review.edit_sighting": lambda ids: {"species_id": str(ids["leopard"]), "count": "1"},
    "review.delete_sighting": lambda ids: {},
    "species.merge": lambda ids: {"target": str(ids["leopard"])},
    "species.create": lambda ids: {
        "scientific_name": "Ursus thibetanus",
        "common_name": "Asian black bear",
        "kind": "animal",
    },
    "species.edit": lambda ids: {"scientific_name": "Leoprd", "common_name": "Leopard?"},
    "species.retire": lambda ids: {"retired": "1"},
    "likely_empty.grid": lambda ids: {"kept": str(ids["untagged"])},
    "boxes.create": lambda ids: {"bbox": "[0.1, 0.1, 0.2, 0.2]"},
    "boxes.update": lambda ids: {"bbox": "[0.1, 0.1, 0.2, 0.2]"},
    "boxes.delete": lambda ids: {},
    "detections.upload": lambda ids: {"file": (io.BytesIO(b'{"images": []}'), "md.json")},
    "detections.threshold": lambda ids: {"threshold": "0.5"},
    "account.index": lambda ids: {"name": "laptop"},
    "account.revoke": lambda ids: {},
    "uploads.create": lambda ids: {},
    "images.upload": lambda ids: {
        "deployment": str(ids["deployment"]),
        "files": (io.BytesIO(jpeg_bytes(TAKEN, seed=2)), "IMG_0002.JPG"),
    },
}


@pytest.fixture
def rows(app, users) -> dict[str, int]:
    """A station, an active deployment there with one photo, and a user, for the pages that need
    an id."""
    with app.app_context():
        session = get_session()
        station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
        deployment = fieldwork.create_deployment(
            session,
            station,
            fieldwork.DeploymentInput(start_date=date(2024, 4, 1), camera_serial="H500-1"),
        )
        # Hashed once in conftest: scrypt per test would slow the matrix down for nothing.
        user = User(email="someone@park.test", password_hash=PASSWORD_HASH, role="ranger")
        session.add(user)
        session.commit()
        photos = [sources.Item(f"IMG_000{i}.JPG", jpeg_bytes(TAKEN, seed=i)) for i in (1, 2)]
        ingest.ingest(session, photos, deployment, app.config["MEDIA_DIR"])
        image, untagged = session.scalars(select(Image).order_by(Image.id)).all()
        leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
        cat = individuals.create(session, code="AL-01", species=leopard)
        other = individuals.create(session, code="AL-02", species=leopard)
        sighting = sightings.tag_images(
            session,
            [image],
            sightings.SightingInput(species_id=leopard.id, individual_code="AL-01"),
        )
        odd = Species(scientific_name="Leoprd", common_name="Leoprd", confirmed=False)
        session.add(odd)
        outage = outages.add_outage(session, deployment, date(2024, 4, 5), date(2024, 4, 8))
        box = boxes.draw(session, image, boxes.BoxInput([0.1, 0.1, 0.3, 0.3]), None)
        run = DetectionRun(
            deployment_id=deployment.id, detector="md_v5a.0.0.pt", format_version="1.4"
        )
        session.add(run)
        admin = session.scalar(select(User).where(User.role == "admin"))
        token, _secret = tokens.issue(session, admin, "laptop", admin, utcnow())
        session.commit()
        return {
            "station": station.id,
            "deployment": deployment.id,
            "image": image.id,
            "untagged": untagged.id,
            "sighting": sighting.id,
            "user": user.id,
            "individual": cat.id,
            "other": other.id,
            "species": odd.id,
            "leopard": leopard.id,
            "outage": outage.id,
            "box": box.id,
            "run": run.id,
            "token": token.id,
            "upload": "00000000-0000-4000-8000-000000000000",  # a tus id that is nobody's
        }


def assert_status(response, expected) -> None:
    if isinstance(expected, str):
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        assert urlsplit(response.headers["Location"]).path == expected.removeprefix("to ")
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:500]


def sign_in_as(who: str, client, as_role):
    return client if who == ANON else as_role(who)


def test_matrix_covers_every_route(app):
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes - set(MATRIX) == set(), "routes without an entry in the authorisation matrix"
    assert set(MATRIX) - routes == set(), "matrix entries for routes the app no longer has"
    adapter = app.url_map.bind("localhost")
    for (endpoint, method), (path, _, _) in MATRIX.items():
        url = path.format_map(defaultdict(lambda: 1))
        assert adapter.match(url, method)[0] == endpoint
    posts = {endpoint for endpoint, method in routes if method == "POST"}
    assert posts == set(VALID_POST)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("endpoint", "method"), list(MATRIX), ids=[f"{e}-{m}" for e, m in MATRIX])
def test_access(app, client, as_role, rows, endpoint, method, who):
    path, expected, data = MATRIX[(endpoint, method)]
    url = path.format(**rows)
    client = sign_in_as(who, client, as_role)
    if method == "GET":
        with client.get(url) as response:  # closes the file a photo is sent from
            assert_status(response, expected[who])
        return
    token = csrf_token(client, "/login" if who == ANON else "/")
    before = row_counts(app)
    response = client.open(url, method=method, data={**data, "csrf_token": token})
    assert_status(
        response, expected[who].format(**rows) if isinstance(expected[who], str) else expected[who]
    )
    if endpoint in WRITES and response.status_code in (200, 302) and who != ANON:
        return  # accepted, as it should be; its effect is tested with the page
    assert row_counts(app) == before, "a refused or forbidden POST wrote something"


def test_forbidden_page_explains_itself(client, as_role, rows):
    response = as_role("ranger").get("/users/")
    assert response.status_code == 403
    assert b"Your role does not allow this" in response.data


def test_anonymous_is_sent_back_after_signing_in(client, users, rows):
    response = client.get("/deployments/")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    token = csrf_token(client, login_url)
    response = client.post(
        login_url, data={"email": "ranger@park.test", "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/deployments/"


def test_deactivated_user_loses_access_at_once(app, client, as_role, users, rows):
    as_role("researcher")
    assert client.get("/deployments/").status_code == 200
    with app.app_context():
        session = get_session()
        user = session.get(User, users["researcher"].id)
        accounts.update_user(session, user, role="researcher", active=False, actor=None)
        session.commit()
    assert_status(client.get("/deployments/"), LOGIN)


@pytest.mark.parametrize("endpoint", sorted(VALID_POST))
def test_post_without_csrf_token_is_rejected(app, client, as_role, rows, endpoint):
    path = next(p for (e, m), (p, _, _) in MATRIX.items() if e == endpoint and m == "POST")
    url = path.format(**rows)
    as_role("admin")
    before = row_counts(app)
    headers = HEADERS.get(endpoint, {})
    response = client.post(url, data=VALID_POST[endpoint](rows), headers=headers)
    assert response.status_code == 400
    assert b"The form expired or was not sent from this site" in response.data
    assert row_counts(app) == before
    assert client.get("/users/").status_code == 200, "still signed in as admin"
    # The same data with the token goes through: only the token was missing.
    token = csrf_token(client, "/")
    response = client.post(
        url, data={**VALID_POST[endpoint](rows), "csrf_token": token}, headers=headers
    )
    expected = ACCEPTED.get(endpoint, 302)
    assert response.status_code == expected, response.get_data(as_text=True)[:500]
