"""Sessions that really end: signing out, a new password and deactivation end every session of
the account, "keep me signed in" cookies included, even copied to another machine."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, csrf_token
from sqlalchemy import select

from tracker.models import User

NEW_PASSWORD = "a brand new passphrase"


def sign_in_remembered(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "remember": "y", "csrf_token": token},
    )
    assert response.status_code == 302
    assert client.get_cookie("remember_token") is not None
    return client


def copy_of(app, client, *, session_cookie: bool = True):
    """Another machine holding the cookies copied from this client's browser."""
    thief = app.test_client()
    names = ["remember_token", "session"] if session_cookie else ["remember_token"]
    for name in names:
        thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


@pytest.fixture
def victim(app, users):
    """The ranger signed in with "keep me signed in", and two copies of the cookies."""
    browser = sign_in_remembered(app.test_client(), users["ranger"].email)
    copies = [copy_of(app, browser), copy_of(app, browser, session_cookie=False)]
    assert all(signed_in(c) for c in [browser, *copies])
    return browser, copies


def test_signing_out_ends_every_session_of_the_account(app, victim):
    browser, copies = victim
    other_device = copies[1]
    assert browser.post("/logout", data={"csrf_token": csrf_token(browser, "/")}).status_code == 302
    assert not signed_in(browser)
    assert not any(signed_in(c) for c in copies)
    assert not signed_in(other_device)


def test_a_new_password_ends_every_session(app, victim, as_role, users):
    _, copies = victim
    admin = as_role("admin")
    ranger_id = users["ranger"].id
    form = {"role": "ranger", "active": "y", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    token = csrf_token(admin, f"/users/{ranger_id}/edit")
    response = admin.post(f"/users/{ranger_id}/edit", data=form | {"csrf_token": token})
    assert response.status_code == 302
    assert not any(signed_in(c) for c in copies)
    assert signed_in(admin)  # the admin's own sessions are not the ranger's
    fresh = sign_in_remembered(app.test_client(), users["ranger"].email, NEW_PASSWORD)
    assert signed_in(fresh)


def test_deactivating_ends_every_session(app, victim, as_role, users):
    _, copies = victim
    admin = as_role("admin")
    ranger_id = users["ranger"].id
    token = csrf_token(admin, f"/users/{ranger_id}/edit")
    response = admin.post(f"/users/{ranger_id}/edit", data={"role": "ranger", "csrf_token": token})
    assert response.status_code == 302
    assert not any(signed_in(c) for c in copies)


def test_changing_only_the_role_keeps_the_sessions(app, victim, as_role, users):
    _, copies = victim
    admin = as_role("admin")
    ranger_id = users["ranger"].id
    token = csrf_token(admin, f"/users/{ranger_id}/edit")
    data = {"role": "researcher", "active": "y", "csrf_token": token}
    assert admin.post(f"/users/{ranger_id}/edit", data=data).status_code == 302
    assert all(signed_in(c) for c in copies)


def test_an_admin_who_changes_their_own_password_stays_signed_in(app, as_role, users):
    admin = as_role("admin")
    admin_id = users["admin"].id
    copy = copy_of_session(app, admin)
    form = {"role": "admin", "active": "y", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    token = csrf_token(admin, f"/users/{admin_id}/edit")
    assert (
        admin.post(f"/users/{admin_id}/edit", data=form | {"csrf_token": token}).status_code == 302
    )
    assert signed_in(admin)
    assert not signed_in(copy)


def copy_of_session(app, client):
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_the_command_line_ends_every_session(app, runner, victim, users):
    _, copies = victim
    result = runner.invoke(
        args=["user", "set-password", "RANGER@park.test", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "every session of the account has ended" in result.output
    assert not any(signed_in(c) for c in copies)

    browser = sign_in_remembered(app.test_client(), users["ranger"].email, NEW_PASSWORD)
    copy = copy_of(app, browser, session_cookie=False)
    assert signed_in(copy)
    result = runner.invoke(args=["user", "deactivate", users["ranger"].email])
    assert result.exit_code == 0, result.output
    assert not signed_in(browser) and not signed_in(copy)
    with app.extensions["tracker.engine"].connect() as conn:
        assert conn.scalar(select(User.active).where(User.id == users["ranger"].id)) is False
    token = csrf_token(browser, "/login")
    data = {"email": users["ranger"].email, "password": NEW_PASSWORD, "csrf_token": token}
    assert b"not active" in browser.post("/login", data=data).data


def test_old_cookies_without_a_session_version_are_refused(app, users):
    """A session made before session versions existed names only the id: it is not enough."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(users["ranger"].id)
        session["_fresh"] = True
    assert not signed_in(client)
