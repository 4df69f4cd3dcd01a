"""Error pages share the site layout, and a failed request leaves nothing half-written."""

from __future__ import annotations

from sqlalchemy import func, select

from tracker.db import get_session
from tracker.models import Station


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
