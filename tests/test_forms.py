"""Every form refuses bad input with a message on the page and writes nothing; good input lands.

Each refused submission must come back as the form with status 400 (never a 500), the reason in
words a ranger understands, and not one row more in any table, the audit log included.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import PASSWORD, csrf_token, fetch, row_counts, sign_in
from sqlalchemy import select

from tracker import fieldwork, ingest, sources
from tracker.db import get_session
from tracker.models import (
    AuditLog,
    Camera,
    Deployment,
    Image,
    Individual,
    Sighting,
    Species,
    Station,
    User,
)
from tracker.synthetic import jpeg_bytes

STATION = {"code": "KP-10", "name": "", "latitude": "43.0", "longitude": "131.0", "notes": ""}
DEPLOYMENT = {
    "station": "KP-01",
    "start_date": "2025-01-01",
    "end_date": "",
    "timezone": "Asia/Vladivostok",
    "camera_serial": "",
    "clock_offset_s": "0",
    "notes": "",
}
NEW_USER = {
    "email": "new@park.test",
    "role": "ranger",
    "password": "a long enough password",
    "confirm": "a long enough password",
}
EDIT_USER = {"role": "ranger", "active": "y", "password": "", "confirm": ""}


@pytest.fixture
def field(app, users) -> dict[str, int]:
    """Two stations: KP-01 with active deployment A (camera H500-1), KP-02 with closed B."""
    with app.app_context():
        session = get_session()
        kp1 = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
        kp2 = fieldwork.create_station(session, code="KP-02", latitude=43.2, longitude=131.8)
        a = fieldwork.create_deployment(
            session,
            kp1,
            fieldwork.DeploymentInput(start_date=date(2024, 4, 1), camera_serial="H500-1"),
        )
        b = fieldwork.create_deployment(
            session,
            kp2,
            fieldwork.DeploymentInput(
                start_date=date(2023, 1, 1), end_date=date(2023, 6, 30), camera_serial="H500-2"
            ),
        )
        session.commit()
        return {
            "kp1": kp1.id,
            "kp2": kp2.id,
            "a": a.id,
            "b": b.id,
            "ranger": users["ranger"].id,
            "admin": users["admin"].id,
        }


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# (case id, path with {ids}, form data, message that must be on the page)
BAD_INPUT = [
    # Station, new
    ("station-empty", "/stations/new", {"code": ""}, "This field is required."),
    ("station-code-long", "/stations/new", {"code": "K" * 33}, "cannot be longer than 32"),
    ("station-code-space", "/stations/new", {"code": "KP 7"}, "letters, digits or hyphens"),
    ("station-name-long", "/stations/new", {"name": "n" * 121}, "cannot be longer than 120"),
    ("station-lat-text", "/stations/new", {"latitude": "abc"}, "Not a valid float value."),
    ("station-lat-91", "/stations/new", {"latitude": "91"}, "Latitude must be a number from -90"),
    ("station-lat-nan", "/stations/new", {"latitude": "nan"}, "Latitude must be a number"),
    ("station-lon-181", "/stations/new", {"longitude": "-181"}, "from -180 to 180."),
    ("station-duplicate", "/stations/new", {"code": "KP-01"}, "Station KP-01 already exists."),
    # Station, edit
    ("station-edit-lat", "/stations/{kp1}/edit", {"latitude": "-90.5"}, "from -90 to 90."),
    ("station-edit-lon", "/stations/{kp1}/edit", {"longitude": "abc"}, "Not a valid float value."),
    ("station-edit-empty", "/stations/{kp1}/edit", {"latitude": ""}, "This field is required."),
    ("station-edit-notes", "/stations/{kp1}/edit", {"notes": "x" * 5001}, "longer than 5000"),
    # Deployment, new
    ("dep-no-station", "/deployments/new", {"station": ""}, "Choose a station."),
    ("dep-unknown-station", "/deployments/new", {"station": "NOPE"}, "No station with code 'NOPE'"),
    ("dep-no-start", "/deployments/new", {"start_date": ""}, "Enter the start date (YYYY-MM-DD)."),
    ("dep-start-text", "/deployments/new", {"start_date": "abc"}, "Not a valid date value."),
    (
        "dep-start-1989",
        "/deployments/new",
        {"start_date": "1989-12-31"},
        "A start before 1990 is not plausible.",
    ),
    ("dep-start-future", "/deployments/new", {"start_date": "2999-01-01"}, "is in the future"),
    (
        "dep-end-future",
        "/deployments/new",
        {"start_date": "2024-01-01", "end_date": "2999-01-01"},
        "The end date is in the future",
    ),
    (
        "dep-end-before-start",
        "/deployments/new",
        {"start_date": "2025-03-01", "end_date": "2025-02-28"},
        "The deployment cannot end before it starts.",
    ),
    (
        "dep-timezone",
        "/deployments/new",
        {"timezone": "Mars/Olympus"},
        "'Mars/Olympus' is not an IANA time zone",
    ),
    ("dep-offset-text", "/deployments/new", {"clock_offset_s": "abc"}, "Not a valid integer"),
    # Fits no 32-bit column: must be refused, not crash PostgreSQL.
    ("dep-offset-huge", "/deployments/new", {"clock_offset_s": "3000000000"}, "not plausible"),
    ("dep-serial-long", "/deployments/new", {"camera_serial": "S" * 65}, "longer than 64"),
    (
        "dep-camera-elsewhere",
        "/deployments/new",
        {"station": "KP-02", "camera_serial": "H500-1"},
        "Camera H500-1 is already deployed at station KP-01 from 2024-04-01",
    ),
    # Deployment, edit: A is active from 2024-04-01 with H500-1; B had H500-2 in 2023.
    (
        "dep-edit-end-before-start",
        "/deployments/{a}/edit",
        {"start_date": "2024-04-01", "end_date": "2024-03-01"},
        "The deployment cannot end before it starts.",
    ),
    (
        "dep-edit-timezone",
        "/deployments/{a}/edit",
        {"start_date": "2024-04-01", "timezone": "Mars/Olympus"},
        "is not an IANA time zone",
    ),
    (
        "dep-edit-camera-elsewhere",
        "/deployments/{a}/edit",
        {"start_date": "2023-05-01", "camera_serial": "H500-2"},
        "Camera H500-2 is already deployed at station KP-02 from 2023-01-01",
    ),
    # Deployment, close
    ("close-empty", "/deployments/{a}/close", {"end_date": ""}, "Enter the date the camera was"),
    ("close-text", "/deployments/{a}/close", {"end_date": "abc"}, "Not a valid date value."),
    (
        "close-before-start",
        "/deployments/{a}/close",
        {"end_date": "2024-03-31"},
        "The deployment cannot end before it starts.",
    ),
    ("close-future", "/deployments/{a}/close", {"end_date": "2999-01-01"}, "is in the future"),
    (
        "close-closed",
        "/deployments/{b}/close",
        {"end_date": "2024-01-01"},
        "This deployment already ended on 2023-06-30.",
    ),
    # User, new
    ("user-empty", "/users/new", {"email": ""}, "Enter a valid email address."),
    ("user-email-bad", "/users/new", {"email": "ranger.park.test"}, "Enter a valid email address."),
    ("user-email-long", "/users/new", {"email": "a" * 250 + "@p.test"}, "Enter a valid email"),
    (
        "user-duplicate",
        "/users/new",
        {"email": "Ranger@Park.test"},
        "A user with email ranger@park.test already exists.",
    ),
    (
        "user-short-password",
        "/users/new",
        {"password": "short", "confirm": "short"},
        "Use 10 to 200 characters.",
    ),
    ("user-no-password", "/users/new", {"password": "", "confirm": ""}, "Use 10 to 200 characters"),
    ("user-mismatch", "/users/new", {"confirm": "something else"}, "The two passwords differ."),
    ("user-role", "/users/new", {"role": "emperor"}, "Role must be one of: ranger, researcher"),
    # User, edit
    ("user-edit-role", "/users/{ranger}/edit", {"role": "emperor"}, "Role must be one of"),
    (
        "user-edit-short-password",
        "/users/{ranger}/edit",
        {"password": "short", "confirm": "short"},
        "Use 10 to 200 characters.",
    ),
    (
        "user-edit-mismatch",
        "/users/{ranger}/edit",
        {"password": "a long new password", "confirm": "a long other password"},
        "The two passwords differ.",
    ),
    (
        "user-edit-self-demote",
        "/users/{admin}/edit",
        {"role": "ranger"},
        "You cannot remove your own admin rights",
    ),
    (
        "user-edit-self-deactivate",
        "/users/{admin}/edit",
        {"role": "admin", "active": ""},
        "You cannot remove your own admin rights or deactivate yourself.",
    ),
    # Sign-in
    ("signin-empty", "/login", {"email": "", "password": ""}, "This field is required."),
    ("signin-email-long", "/login", {"email": "a" * 250 + "@p.test"}, "longer than 254"),
    ("signin-password-long", "/login", {"password": "p" * 201}, "longer than 200"),
]


def _complete(path: str, data: dict) -> dict:
    """The case's bad values on top of an otherwise valid submission of that form."""
    if path.startswith("/stations/"):
        base = STATION
    elif path.startswith("/deployments/new"):
        base = DEPLOYMENT
    elif path.endswith("/close"):
        base = {}
    elif path.startswith("/deployments/"):
        base = {k: v for k, v in DEPLOYMENT.items() if k != "station"}
    elif path == "/users/new":
        base = NEW_USER
    elif path.startswith("/users/"):
        base = EDIT_USER
    else:
        base = {"email": "ranger@park.test", "password": PASSWORD}
    return {**base, **data}


@pytest.mark.parametrize(
    ("path", "data", "message"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_refused_and_writes_nothing(app, client, as_role, field, path, data, message):
    url = path.format(**field)
    if url != "/login":
        as_role("admin")
    token = csrf_token(client, url)
    before = row_counts(app)
    response = client.post(url, data={**_complete(path, data), "csrf_token": token})
    assert response.status_code == 400, page_text(response)[:1000]
    assert message in page_text(response)
    assert 'role="alert"' in page_text(response), "the message is marked up as an error"
    assert row_counts(app) == before


def test_the_valid_base_submissions_are_accepted(app, client, as_role, field):
    """The bases the bad cases start from are good, so each case fails for its own reason."""
    as_role("admin")
    for url, data in [
        ("/stations/new", STATION),
        (f"/stations/{field['kp1']}/edit", STATION),
        ("/deployments/new", DEPLOYMENT),
        (f"/deployments/{field['b']}/edit", _complete("/deployments/1/edit", {})),
        ("/users/new", NEW_USER),
        (f"/users/{field['ranger']}/edit", EDIT_USER),
    ]:
        token = csrf_token(client, url)
        response = client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 302, (url, page_text(response)[:1000])


# --- Station CSV import -------------------------------------------------------------------------


def _import(client, content: bytes):
    token = csrf_token(client, "/stations/")
    return client.post(
        "/stations/import",
        data={"file": (io.BytesIO(content), "stations.csv"), "csrf_token": token},
        follow_redirects=True,
    )


@pytest.mark.parametrize(
    ("content", "messages"),
    [
        (
            b"code,name,latitude,longitude\nKP-20,Ok,43.1,131.1\nKP-21,Bad,abc,131.2\n"
            b"KP 22,Bad code,43.3,131.3\nKP-23,Far,43.4,200\n",
            [
                "line 3: latitude: Latitude must be a number from -90 to 90.",
                "line 4: code: Use 1 to 32 letters, digits or hyphens",
                "line 5: longitude: Longitude must be a number from -180 to 180.",
            ],
        ),
        (b"code,name,lat,lon\nKP-20,Ok,43.1,131.1\n", ["Missing column(s): latitude, longitude."]),
        (
            b"code,latitude,longitude\nKP-20,43.1,131.1\nKP-20,43.2,131.2\n",
            ["line 3: code: Station KP-20 appears twice in the file."],
        ),
        (b"code,latitude,longitude\nK\xd6-1,43.1,131.1\n", ["The file is not UTF-8 text."]),
    ],
    ids=["bad-lines", "missing-columns", "twice", "not-utf8"],
)
def test_csv_import_with_a_bad_line_imports_nothing(app, client, as_role, field, content, messages):
    as_role("admin")
    before = row_counts(app)
    response = _import(client, content)
    assert response.status_code == 200
    text = page_text(response)
    for message in messages:
        assert message in text
    assert row_counts(app) == before


def test_csv_import_creates_and_updates(app, client, as_role, field):
    as_role("admin")
    response = _import(
        client,
        b"\xef\xbb\xbfcode,name,latitude,longitude\nKP-01,Renamed,43.1,131.9\n"
        b"KP-02,,43.2,131.8\nKP-30,New,44.0,132.0\n",
    )
    assert "Imported: 1 created, 1 updated, 1 unchanged." in page_text(response)
    rows = dict(fetch(app, select(Station.code, Station.name)))
    assert rows == {"KP-01": "Renamed", "KP-02": "", "KP-30": "New"}


# --- Happy paths --------------------------------------------------------------------------------


def _audit(app, entity: str) -> list[tuple]:
    return fetch(
        app,
        select(AuditLog.action, AuditLog.entity_id, AuditLog.user_id)
        .where(AuditLog.entity == entity)
        .order_by(AuditLog.id),
    )


def test_create_station(app, client, as_role, users):
    as_role("admin")
    token = csrf_token(client, "/stations/new")
    data = {**STATION, "name": "<b>Ridge</b>", "csrf_token": token}
    response = client.post("/stations/new", data=data)
    assert response.status_code == 302
    [(station_id, name)] = fetch(
        app, select(Station.id, Station.name).where(Station.code == "KP-10")
    )
    assert name == "<b>Ridge</b>"
    assert response.headers["Location"] == f"/stations/{station_id}"
    assert _audit(app, "station") == [("create", str(station_id), users["admin"].id)]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "&lt;b&gt;Ridge&lt;/b&gt;" in page
    assert "<b>Ridge</b>" not in page


def test_create_deployment(app, client, as_role, users, field):
    as_role("admin")
    form = client.get("/deployments/new?station=KP-02").get_data(as_text=True)
    assert '<option selected value="KP-02">' in form
    assert 'value="Asia/Vladivostok"' in form, "the time zone defaults to the configured one"
    token = csrf_token(client, "/deployments/new")
    data = {
        **DEPLOYMENT,
        "station": "KP-02",
        "start_date": "2024-05-01",
        "timezone": "Asia/Shanghai",
        "camera_serial": " H500-2 ",  # its last deployment ended in 2023
        "clock_offset_s": "-3600",
        "notes": "<script>alert(1)</script>",
        "csrf_token": token,
    }
    response = client.post("/deployments/new", data=data)
    assert response.status_code == 302
    [deployment] = fetch(
        app,
        select(
            Deployment.id,
            Deployment.start_date,
            Deployment.end_date,
            Deployment.timezone,
            Deployment.clock_offset_s,
            Camera.serial,
        )
        .join(Camera)
        .where(Deployment.station_id == field["kp2"], Deployment.start_date == date(2024, 5, 1)),
    )
    assert deployment[1:] == (date(2024, 5, 1), None, "Asia/Shanghai", -3600, "H500-2")
    assert response.headers["Location"] == f"/deployments/{deployment.id}"
    assert ("create", str(deployment.id), users["admin"].id) in _audit(app, "deployment")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "Asia/Shanghai" in page


def test_edit_and_close_deployment(app, client, as_role, users, field):
    as_role("admin")
    url = f"/deployments/{field['a']}/edit"
    form = client.get(url).get_data(as_text=True)
    assert 'value="H500-1"' in form and 'value="2024-04-01"' in form
    data = {
        **_complete(url, {"start_date": "2024-04-01", "camera_serial": "H500-1"}),
        "clock_offset_s": "120",
        "csrf_token": csrf_token(client, url),
    }
    assert client.post(url, data=data).status_code == 302
    close = f"/deployments/{field['a']}/close"
    token = csrf_token(client, close)
    response = client.post(close, data={"end_date": "2024-10-15", "csrf_token": token})
    assert response.status_code == 302
    assert fetch(
        app,
        select(Deployment.end_date, Deployment.clock_offset_s).where(Deployment.id == field["a"]),
    ) == [(date(2024, 10, 15), 120)]
    actions = [a for a in _audit(app, "deployment") if a[1] == str(field["a"])]
    assert [a[0] for a in actions] == ["create", "update", "update"]
    assert client.get(close).status_code == 200
    assert "already ended on 2024-10-15" in page_text(client.get(close))


def test_close_form_defaults_to_today_in_the_deployment_zone(client, as_role, field):
    as_role("admin")
    page = client.get(f"/deployments/{field['a']}/close").get_data(as_text=True)
    today = datetime.now(ZoneInfo("Asia/Vladivostok")).date()
    assert f'value="{today.isoformat()}"' in page


def test_create_and_edit_user(app, client, as_role, users):
    as_role("admin")
    token = csrf_token(client, "/users/new")
    data = {**NEW_USER, "email": " New@Park.test ", "role": "researcher", "csrf_token": token}
    response = client.post("/users/new", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/"
    [(user_id, role, active)] = fetch(
        app, select(User.id, User.role, User.active).where(User.email == "new@park.test")
    )
    assert (role, active) == ("researcher", True)
    assert ("create", str(user_id), users["admin"].id) in _audit(app, "user")
    assert "new@park.test" in page_text(client.get("/users/"))

    url = f"/users/{user_id}/edit"
    data = {
        "role": "ranger",
        "active": "y",
        "password": "another long password",
        "confirm": "another long password",
        "csrf_token": csrf_token(client, url),
    }
    assert client.post(url, data=data).status_code == 302
    actions = [a[0] for a in _audit(app, "user") if a[1] == str(user_id)]
    assert actions == ["create", "update", "set-password"]

    other = app.test_client()
    assert sign_in(other, "new@park.test", "a long enough password").status_code == 200
    assert sign_in(other, "new@park.test", "another long password").status_code == 302


def test_deactivated_user_cannot_sign_in(app, client, as_role, users):
    as_role("admin")
    url = f"/users/{users['ranger'].id}/edit"
    data = {"role": "ranger", "active": "", "csrf_token": csrf_token(client, url)}
    assert client.post(url, data=data).status_code == 302
    assert "inactive" in page_text(client.get("/users/"))
    other = app.test_client()
    assert sign_in(other, users["ranger"].email).status_code == 200


# --- Lists --------------------------------------------------------------------------------------


def table_rows(response) -> list[list[str]]:
    """The text of each body cell of the page's table, row by row."""
    body = response.get_data(as_text=True).split("<tbody>", 1)[-1].split("</tbody>", 1)[0]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_deployment_list_filters_and_sorts(app, client, as_role, field):
    with app.app_context():
        session = get_session()
        kp1 = session.get(Station, field["kp1"])
        fieldwork.create_deployment(
            session, kp1, fieldwork.DeploymentInput(date(2022, 1, 1), date(2022, 12, 31))
        )
        session.commit()
    as_role("ranger")

    def starts(query: str) -> list[str]:
        return [row[3] for row in table_rows(client.get(f"/deployments/{query}"))]

    assert starts("") == ["2024-04-01", "2023-01-01", "2022-01-01"], "newest first"
    assert starts("?station=KP-01") == ["2024-04-01", "2022-01-01"]
    assert starts("?status=active") == ["2024-04-01"]
    assert starts("?status=closed") == ["2023-01-01", "2022-01-01"]
    assert "No deployments match this filter." in page_text(
        client.get("/deployments/?station=KP-02&status=active")
    )
    first = table_rows(client.get("/deployments/"))[0]
    assert first[1:] == ["KP-01", "H500-1", "2024-04-01", "active", "Asia/Vladivostok", "0"]


def test_individuals_list_counts_sightings(app, client, as_role, field):
    as_role("researcher")
    assert "No individuals identified yet." in page_text(client.get("/individuals/"))
    with app.app_context():
        session = get_session()
        leopard = session.scalar(select(Species).where(Species.common_name == "Amur leopard"))
        seen = Individual(code="AL-01", name="Kedrovaya", sex="female", species=leopard)
        unseen = Individual(code="AL-02", name="<i>Shy</i>", species=leopard)
        session.add_all([seen, unseen])
        for day in (3, 1, 20):
            at = datetime(2024, 5, day, 22, 15, tzinfo=UTC)
            session.add(
                Sighting(
                    species=leopard,
                    individual=seen,
                    deployment_id=field["a"],
                    event_start=at,
                    event_end=at,
                )
            )
        session.commit()
    response = client.get("/individuals/")
    # Three sightings days apart: three independent events, at one station. Last seen in 2024,
    # so flagged as not seen for NOT_SEEN_MONTHS (12).
    assert table_rows(response) == [
        [
            "AL-01",
            "Kedrovaya",
            "female",
            "Amur leopard",
            "2024-05-01 22:15",
            "2024-05-20 22:15 not seen for 12 months",
            "3",
            "3",
            "1",
        ],
        ["AL-02", "<i>Shy</i>", "unknown", "Amur leopard", "—", "—", "0", "0", "0"],
    ]
    assert "&lt;i&gt;Shy&lt;/i&gt;" in response.get_data(as_text=True)


def test_closing_before_the_latest_photo_asks_for_confirmation(app, client, as_role, field):
    """It says how many photos would become timestamp issues; only a confirmed close writes."""
    with app.app_context():
        session = get_session()
        deployment = session.get(Deployment, field["a"])
        items = [
            sources.Item(f"IMG_{day}.JPG", jpeg_bytes(datetime(2024, 5, day, 12, 0), seed=day))
            for day in (1, 10, 11, 12)
        ]
        ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"])
    as_role("admin")
    close = f"/deployments/{field['a']}/close"
    data = {"end_date": "2024-05-10", "csrf_token": csrf_token(client, close)}
    response = client.post(close, data=data)
    assert response.status_code == 400
    assert "2 photo(s) were taken after 2024-05-10" in page_text(response)
    assert fetch(app, select(Deployment.end_date).where(Deployment.id == field["a"])) == [(None,)]

    response = client.post(close, data={**data, "confirm": "y"})
    assert response.status_code == 302
    issues = fetch(app, select(Image.original_filename, Image.timestamp_issue))
    flagged = sorted(name for name, issue in issues if issue)
    assert flagged == ["IMG_11.JPG", "IMG_12.JPG"]
