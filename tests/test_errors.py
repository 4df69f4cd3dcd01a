"""Error pages share the site layout, and a failed request leaves nothing half-written."""

from __future__ import annotations

from sqlalchemy import func, select

from tracker.db import get_session
from tracker.models import Station
from tracker.web import requires


def test_404_in_layout(as_role):
    response = as_role("ranger").get("/no/such/page")
    assert response.status_code == 404
    assert b"Not found" in response.data
    assert b"Leopard tracker" in response.data


def test_403_in_layout(as_role):
    response = as_role("ranger").get("/stations/new")
    assert response.status_code == 403
    assert b"Your role does not allow this" in response.data


def test_500_rolls_back_and_shows_the_layout(app, users, client):
    app.testing = False  # let the error handler run instead of re-raising into the test

    @app.route("/boom")
    def boom():
        get_session().add(Station(code="HALF", latitude=43.0, longitude=131.0))
        get_session().flush()
        raise RuntimeError("disk on fire")

    response = client.get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert b"disk on fire" not in response.data
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Station)) == 0


def test_the_500_page_works_for_a_signed_in_user(app, as_role):
    """The failed request's session is closed before the page is drawn: the page must not need
    the signed-in user's row (it used to raise DetachedInstanceError, and showed a bare page)."""
    app.testing = False

    @app.route("/boom-signed-in")
    @requires("view")  # loads the signed-in user in the request's session
    def boom_signed_in():
        get_session().add(Station(code="HALF", latitude=43.0, longitude=131.0))
        get_session().flush()
        raise RuntimeError("disk on fire")

    client = as_role("admin")

    response = client.get("/boom-signed-in")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html and "Leopard tracker" in html
    assert client.get("/").status_code == 200  # still signed in
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Station)) == 0


def test_the_500_page_when_the_database_connection_broke(app, as_role):
    """Even when the session cannot roll back or reach the database, a page is shown."""
    app.testing = False

    @app.route("/boom-no-database")
    @requires("view")
    def boom_no_database():
        session = get_session()
        session.get(Station, 1)
        session.connection().invalidate()  # the connection is gone, as when the server restarts
        raise RuntimeError("database went away")

    client = as_role("ranger")

    response = client.get("/boom-no-database")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
