"""Signing in: checking a password, and slowing down guessing without locking anyone out.

Failures are counted per (account, address) pair: after `pair_free` of them that pair waits,
twice as long after each further failure, up to `max_delay` seconds. An address that fails
against more than `address_free` different accounts (password spraying) waits the same way.
Failures against one account never hold up another account, nor the same account elsewhere.

Counting is exact under concurrency: the counters' rows are created with INSERT ... ON CONFLICT
DO NOTHING and locked (FOR UPDATE on PostgreSQL, the write lock on SQLite) before the password is
checked, so parallel guesses are checked one at a time and each is counted.
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


def authenticate(
    session: Session, email: str, password: str, address: str, *, limits: Limits, now: datetime
) -> User:
    """The active account these credentials belong to, or SignInRefused (failure counted)."""
    email = normalise_email(email)
    pair_key, address_key = f"pair:{address} {email}"[:320], f"address:{address}"[:320]
    rows = _locked_rows(session, [address_key, pair_key], now)
    pair, by_address = rows[pair_key], rows[address_key]
    waits = [_wait(row, now) for row in (pair, by_address) if _wait(row, now)]
    if waits:
        raise SignInRefused(
            f"Too many failed sign-ins. Try again in {max(waits)} seconds.", max(waits)
        )
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or not user.active:
        if pair.failures == 0:  # a new account tried from this address
            _count_failure(by_address, now, limits.address_free, limits.max_delay)
        _count_failure(pair, now, limits.pair_free, limits.max_delay)
        session.flush()
        raise SignInRefused("Wrong email or password, or the account is not active.")
    session.delete(pair)
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
