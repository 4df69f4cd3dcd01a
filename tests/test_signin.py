"""Sign-in throttling: slows guessing down, never locks out anyone else, counts exactly.

Failures count per (account, address) pair, plus the number of accounts an address failed
against (password spraying). The concurrent tests send real parallel requests, each thread with
its own client and database connection, on both databases.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest import PASSWORD, csrf_token
from sqlalchemy import select

from tracker import create_app, signin
from tracker.errors import SignInRefused
from tracker.models import AuditLog, LoginThrottle, utcnow
from tracker.web import auth

WRONG = "Wrong email or password"
LIMITS = signin.Limits(pair_free=2, address_free=3, max_delay=60)


def authenticate(session, email, password, address, *, limits=LIMITS, now):
    """Both steps of a sign-in, committed in between as the sign-in page does."""
    attempt = signin.begin(session, email, address, limits=limits, now=now)
    session.commit()
    user = signin.finish(session, attempt, password, limits=limits, now=now)
    session.commit()
    return user


def attempt(client, email: str, password: str, address: str = "10.0.0.1", **headers):
    """One sign-in from `address` (the socket's peer) with optional extra headers."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def test_delay_doubles_and_a_success_clears_it(session, users):
    user, now = users["researcher"], utcnow()
    for _ in range(3):
        with pytest.raises(SignInRefused):
            authenticate(session, user.email, "bad", "10.0.0.1", now=now)
        now += timedelta(seconds=5)
    pair = session.get(LoginThrottle, f"pair:10.0.0.1 {user.email}")
    assert pair.failures == 3
    assert pair.locked_until - pair.last_failure_at == timedelta(seconds=2)  # 1 s, then 2 s
    assert session.get(LoginThrottle, "address:10.0.0.1").failures == 1  # one account tried
    signed_in = authenticate(session, user.email, PASSWORD, "10.0.0.1", now=now)
    assert signed_in.id == user.id
    session.flush()
    assert session.get(LoginThrottle, f"pair:10.0.0.1 {user.email}") is None
    assert session.scalar(select(AuditLog.action).where(AuditLog.user_id == user.id)) == "sign-in"


def test_a_locked_pair_is_refused_without_checking_the_password(session, users):
    user, now = users["ranger"], utcnow()
    for _ in range(2):
        with pytest.raises(SignInRefused):
            authenticate(session, user.email, "bad", "10.0.0.1", now=now)
    with pytest.raises(SignInRefused) as refused:
        authenticate(session, user.email, PASSWORD, "10.0.0.1", now=now)
    assert refused.value.retry_after == 2
    assert session.get(LoginThrottle, f"pair:10.0.0.1 {user.email}").failures == 2
    # The lock is over after its delay; a streak older than a day starts again at zero.
    later = now + timedelta(days=2)
    with pytest.raises(SignInRefused) as again:
        authenticate(session, user.email, "bad", "10.0.0.1", now=later)
    assert again.value.retry_after == 0
    assert session.get(LoginThrottle, f"pair:10.0.0.1 {user.email}").failures == 1


def test_failures_against_one_account_never_lock_out_another(client, users, app):
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 3):
        attempt(client, users["admin"].email, "guess", "10.0.0.1")
    assert attempt(client, users["admin"].email, PASSWORD, "10.0.0.1").status_code == 429
    # The same account from another address, and another account from the same address.
    assert attempt(client, users["admin"].email, PASSWORD, "10.0.0.2").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert attempt(client, users["ranger"].email, PASSWORD, "10.0.0.1").status_code == 302


def test_spraying_many_accounts_from_one_address_is_slowed_down(client, users, app):
    app.config["LOGIN_ADDRESS_FREE_ACCOUNTS"] = 3
    for name in ("ann", "bob", "cat"):
        assert WRONG in attempt(client, f"{name}@park.test", PASSWORD).get_data(as_text=True)
    refused = attempt(client, users["ranger"].email, PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert attempt(client, users["ranger"].email, PASSWORD, "10.0.0.9").status_code == 302


def test_repeated_failures_at_one_account_count_once_against_the_address(session, users):
    limits = signin.Limits(pair_free=100, address_free=2, max_delay=60)
    now = utcnow()
    for _ in range(10):
        with pytest.raises(SignInRefused, match="Wrong"):
            authenticate(session, users["admin"].email, "x", "10.0.0.1", limits=limits, now=now)
    assert session.get(LoginThrottle, "address:10.0.0.1").failures == 1
    assert authenticate(
        session, users["ranger"].email, PASSWORD, "10.0.0.1", limits=limits, now=now
    )


@pytest.fixture
def proxied_app(app_config):
    app = create_app(app_config | {"PROXY_HOPS": 1})
    yield app
    app.extensions["tracker.engine"].dispose()


def test_forwarded_addresses_are_ignored_unless_configured(client, users, app):
    email = users["admin"].email
    for i in range(app.config["LOGIN_FREE_ATTEMPTS"]):
        attempt(client, email, "guess", "10.0.0.1", **{"X-Forwarded-For": f"192.0.2.{i}"})
    # A made-up X-Forwarded-For does not make a new address: the socket's peer is the client.
    spoofed = attempt(client, email, PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "192.0.2.99"})
    assert spoofed.status_code == 429


def test_behind_a_configured_proxy_the_forwarded_client_is_used(proxied_app, users):
    client, email = proxied_app.test_client(), users["admin"].email
    for _ in range(proxied_app.config["LOGIN_FREE_ATTEMPTS"]):
        attempt(client, email, "guess", "10.0.0.1", **{"X-Forwarded-For": "192.0.2.7"})
    locked = attempt(client, email, PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "192.0.2.7"})
    assert locked.status_code == 429
    # Another client behind the same proxy is not held up by the first one's guesses, and a
    # client cannot pose as another by adding its own X-Forwarded-For in front (one hop).
    other = attempt(client, email, PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "192.0.2.8"})
    assert other.status_code == 302
    with proxied_app.extensions["tracker.engine"].connect() as conn:
        keys = set(conn.scalars(select(LoginThrottle.key)))
    assert f"pair:192.0.2.7 {email}" in keys


def _parallel_guesses(app, monkeypatch, emails: list[str]) -> list[tuple[int, str]]:
    """One wrong guess per email, all sent at once from one address, each from its own thread."""
    now = utcnow()
    monkeypatch.setattr(auth, "utcnow", lambda: now)  # no lock runs out during the burst
    clients = [app.test_client() for _ in emails]
    tokens = [csrf_token(c, "/login") for c in clients]
    start, results = threading.Barrier(len(emails)), [None] * len(emails)

    def guess(i: int) -> None:
        start.wait()
        response = clients[i].post(
            "/login",
            data={"email": emails[i], "password": "a wrong guess", "csrf_token": tokens[i]},
            environ_base={"REMOTE_ADDR": "10.0.0.66"},
        )
        results[i] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(emails))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_guesses_at_one_account_are_counted_exactly(app, users, monkeypatch):
    email, free = users["admin"].email, app.config["LOGIN_FREE_ATTEMPTS"]
    results = _parallel_guesses(app, monkeypatch, [email] * 40)
    statuses = sorted(status for status, _ in results)
    checked = sum(WRONG in body for _, body in results)
    assert statuses == [200] * free + [429] * (40 - free)
    assert checked == free
    with app.extensions["tracker.engine"].connect() as conn:
        failures = conn.scalar(
            select(LoginThrottle.failures).where(LoginThrottle.key == f"pair:10.0.0.66 {email}")
        )
    assert failures == free


def test_parallel_spraying_is_counted_exactly(app, users, monkeypatch):
    app.config["LOGIN_ADDRESS_FREE_ACCOUNTS"] = 4
    emails = [f"nobody{i}@park.test" for i in range(30)]
    results = _parallel_guesses(app, monkeypatch, emails)
    assert sorted(status for status, _ in results) == [200] * 4 + [429] * 26
    with app.extensions["tracker.engine"].connect() as conn:
        by_address = conn.scalar(
            select(LoginThrottle.failures).where(LoginThrottle.key == "address:10.0.0.66")
        )
    assert by_address == 4


def test_successful_sign_ins_from_one_address_never_count_as_spraying(session, users):
    """A ranger station behind one address: everyone signing in is not an attack."""
    limits, now = signin.Limits(pair_free=5, address_free=2, max_delay=60), utcnow()
    for _ in range(2):
        for user in users.values():
            assert authenticate(session, user.email, PASSWORD, "10.0.0.5", limits=limits, now=now)
    assert session.get(LoginThrottle, "address:10.0.0.5") is None
    assert session.scalars(select(LoginThrottle)).all() == []
