"""Signing in: checking a password, and slowing down guessing without locking anyone out.

Failures are counted per (account, address) pair: after `pair_free` of them that pair waits,
twice as long after each further failure, up to `max_delay` seconds. An address that fails
against more than `address_free` different accounts (password spraying) waits the same way.
Failures against one account never hold up another account, nor the same account elsewhere.

Counting is exact under concurrency: every attempt is counted as a failure before its password
is checked (`begin`, in a short transaction of its own: the counters' rows are created with
INSERT ... ON CONFLICT DO NOTHING and locked, FOR UPDATE on PostgreSQL, the write lock on SQLite),
and a success takes its failure back (`finish`). So parallel guesses see each other's counts,
and no more passwords are checked than the limits allow.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from tracker import audit
from tracker.accounts import normalise_email
from tracker.errors import SignInRefused
from tracker.models import LoginThrottle, User

STREAK = timedelta(days=1)  # an older streak of typos does not count against today


@dataclass(frozen=True)
class Limits:
    pair_free: int = 5
    address_free: int = 20
    max_delay: int = 15 * 60


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so a wrong email takes as long as a wrong
    password. Made on first use: scrypt is slow, and most CLI commands never sign anyone in."""
    return generate_password_hash("not-a-real-password")


@dataclass(frozen=True)
class Attempt:
    """A sign-in counted as a failure before its password is checked (see `begin`)."""

    email: str
    pair_key: str
    address_key: str
    new_account: bool  # the first failure against this account from this address: counted there


def begin(session: Session, email: str, address: str, *, limits: Limits, now: datetime) -> Attempt:
    """Count a sign-in from `address` as a failure, or refuse it while its pair or its address
    must wait (SignInRefused, nothing counted).

    Commit before checking the password (`finish`): the counters' rows stay locked only for this
    short transaction, never for the slow password hash, so a burst of guesses neither holds up
    other writers (SQLite has one write lock) nor gets more checks than it is allowed.
    """
    email = normalise_email(email)
    pair_key, address_key = f"pair:{address} {email}"[:320], f"address:{address}"[:320]
    rows = _locked_rows(session, [address_key, pair_key], now)
    pair, by_address = rows[pair_key], rows[address_key]
    waits = [_wait(row, now) for row in (pair, by_address) if _wait(row, now)]
    if waits:
        raise SignInRefused(
            f"Too many failed sign-ins. Try again in {max(waits)} seconds.", max(waits)
        )
    new_account = pair.failures == 0
    if new_account:
        _count_failure(by_address, now, limits.address_free, limits.max_delay)
    _count_failure(pair, now, limits.pair_free, limits.max_delay)
    session.flush()
    return Attempt(email, pair_key, address_key, new_account)


def finish(
    session: Session, attempt: Attempt, password: str, *, limits: Limits, now: datetime
) -> User:
    """The active account of a begun attempt, with its failure taken back; or SignInRefused
    (the failure stays counted)."""
    user = session.scalar(select(User).where(func.lower(User.email) == attempt.email))
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or not user.active:
        raise SignInRefused("Wrong email or password, or the account is not active.")
    rows = _locked_rows(session, [attempt.address_key, attempt.pair_key], now)
    session.delete(rows[attempt.pair_key])  # a success ends the pair's streak
    by_address = rows[attempt.address_key]
    if attempt.new_account:
        by_address.failures = max(0, by_address.failures - 1)
        if by_address.failures < limits.address_free:
            by_address.locked_until = None
    if by_address.failures == 0:
        session.delete(by_address)
    user.last_login_at = now
    audit.record(session, user, "sign-in", "user", user.id)
    session.flush()
    return user


def _locked_rows(session: Session, keys: list[str], now: datetime) -> dict[str, LoginThrottle]:
    """The counters for these keys, created if missing and locked until the transaction ends.

    Keys are created and locked in sorted order, so two sign-ins never wait on each other.
    """
    keys = sorted(keys)
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    for key in keys:
        session.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    query = (
        select(LoginThrottle)
        .where(LoginThrottle.key.in_(keys))
        .order_by(LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rows = {row.key: row for row in session.scalars(query)}
    for row in rows.values():
        if now - row.last_failure_at > STREAK:
            row.failures, row.locked_until = 0, None
    return rows


def _wait(row: LoginThrottle, now: datetime) -> int:
    """Seconds this counter still has to wait (0: none)."""
    if row.locked_until is None or row.locked_until <= now:
        return 0
    return int((row.locked_until - now).total_seconds()) + 1


def _count_failure(row: LoginThrottle, now: datetime, free: int, max_delay: int) -> None:
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= free:
        delay = min(max_delay, 2 ** min(row.failures - free, 30))
        row.locked_until = now + timedelta(seconds=delay)
