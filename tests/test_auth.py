"""Sign-in, sign-out, CSRF and the slowing-down of password guessing."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import PASSWORD, csrf_token, sign_in


def test_login_page_is_public(client, backend):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_sign_in_and_out(client, users):
    response = sign_in(client, users["ranger"].email)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_without_saying_which_part(client, users):
    response = sign_in(client, users["ranger"].email, "not the password")
    assert response.status_code == 200
    assert b"Wrong email or password" in response.data
    assert client.get("/").status_code == 302


def test_unknown_email_gets_the_same_message(client, users):
    response = sign_in(client, "nobody@park.test", PASSWORD)
    assert b"Wrong email or password" in response.data


def test_post_without_csrf_token_is_rejected(client, users):
    response = client.post("/login", data={"email": users["admin"].email, "password": PASSWORD})
    assert response.status_code == 400
    assert b"form expired" in response.data
    assert client.get("/").status_code == 302


def test_open_redirect_is_not_followed(client, users):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=//evil.example/",
        data={"email": users["ranger"].email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_repeated_failures_are_slowed_down(client, users, app, monkeypatch):
    # The clock stands still: the first delay is one second, which a loaded machine could
    # spend between two sign-ins and so make the test pass or fail by chance.
    from tracker.web import auth

    still = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(auth, "utcnow", lambda: still)
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    for _ in range(free):
        sign_in(client, users["admin"].email, "guess")
    response = sign_in(client, users["admin"].email, PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.data
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_sign_in(client, users, session):
    user = session.get(type(users["ranger"]), users["ranger"].id)
    user.active = False
    session.commit()
    response = sign_in(client, users["ranger"].email)
    assert response.status_code == 200
    assert client.get("/").status_code == 302
