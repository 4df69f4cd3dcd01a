"""Passwords as NIST SP 800-63B asks: length rules, no all-space or common passwords, everywhere
a password is set (the web form, `tracker user add` and `tracker user set-password`)."""

from __future__ import annotations

import pytest
from conftest import PASSWORD, csrf_token, fetch, row_counts, sign_in
from sqlalchemy import select

from tracker import accounts, passwords
from tracker.errors import InvalidInput
from tracker.models import AuditLog, User

REFUSED = [
    ("short", "Use 10 to 200 characters."),
    ("x" * 201, "Use 10 to 200 characters."),
    (" " * 12, "only spaces"),
    ("\t \u3000 \n        ", "only spaces"),
    ("qwertyuiop", "most common passwords"),
    ("  Password123 ", "most common passwords"),
    ("1q2w3e4r5t", "most common passwords"),
    ("Leopard Tracker", "most common passwords"),
    ("Someone1234@park.test", "email address"),
    ("SomeOne1234", "email address"),
]


@pytest.mark.parametrize(("password", "reason"), REFUSED)
def test_what_a_password_may_be(password, reason):
    assert reason in passwords.problem(password, "someone1234@park.test")


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "  spaces are fine inside  ", "Ünïcødé-Леопард", "x" * 200],
)
def test_good_passwords_pass(password):
    assert passwords.problem(password, "someone@park.test") is None


def test_the_bundled_list_is_read_and_folded():
    common = passwords.common_passwords()
    assert "password123" in common and "qwertyuiop" in common
    assert all(entry == entry.lower().strip() and not entry.startswith("#") for entry in common)
    assert len(common) > 100


def test_every_way_of_setting_a_password_refuses_a_common_one(session, users):
    with pytest.raises(InvalidInput, match="most common"):
        accounts.create_user(session, "new@park.test", "1234567890", "ranger")
    with pytest.raises(InvalidInput, match="only spaces"):
        accounts.set_password(session, users["ranger"], " " * 20, None)
    with pytest.raises(InvalidInput, match="most common"):
        accounts.edit_user(
            session, users["ranger"], role="ranger", active=True, password="qwertyuiop", actor=None
        )


def test_the_user_form_refuses_a_common_password(app, as_role):
    admin, before = as_role("admin"), row_counts(app)
    token = csrf_token(admin, "/users/new")
    form = {"email": "new@park.test", "role": "ranger", "password": "basketball"}
    response = admin.post("/users/new", data=form | {"confirm": "basketball", "csrf_token": token})
    assert response.status_code == 400
    assert "one of the most common passwords" in response.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("   " * 5, "error: password: A password of only spaces"),
        ("Qwertyuiop", "error: password: This is one of the most common passwords"),
        ("short", "error: password: Use 10 to 200 characters."),
    ],
)
def test_the_commands_refuse_bad_passwords(app, runner, users, password, message):
    before = row_counts(app)
    for args in (
        ["user", "add", "new@park.test", "--role", "ranger", "--password-stdin"],
        ["user", "set-password", users["ranger"].email, "--password-stdin"],
    ):
        result = runner.invoke(args=args, input=password + "\n")
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert row_counts(app) == before


def test_set_password_then_sign_in(app, runner, client, users):
    result = runner.invoke(
        args=["user", "set-password", users["researcher"].email, "--password-stdin"],
        input="a fresh field password\n",
    )
    assert result.exit_code == 0, result.output
    assert sign_in(client, users["researcher"].email, PASSWORD).status_code == 200  # old: no
    assert sign_in(client, users["researcher"].email, "a fresh field password").status_code == 302
    assert ("set-password", "user") in fetch(app, select(AuditLog.action, AuditLog.entity))


def test_set_password_prompts_twice_without_stdin(app, runner, users):
    result = runner.invoke(
        args=["user", "set-password", users["admin"].email],
        input="a prompted password\na prompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert "new password set for admin@park.test" in result.stdout


@pytest.mark.parametrize("command", ["set-password", "deactivate"])
def test_an_unknown_account_is_named_and_nothing_changes(app, runner, users, command):
    before = fetch(app, select(User.email, User.password_hash, User.active, User.session_version))
    result = runner.invoke(args=["user", command, "nobody@park.test"], input="whatever!!\n")
    assert result.exit_code == 2
    assert "error: email: There is no account with email nobody@park.test." in result.stderr
    assert "Traceback" not in result.output
    assert fetch(
        app, select(User.email, User.password_hash, User.active, User.session_version)
    ) == (before)
