"""Accounts: creating users, checking passwords, and slowing down password guessing."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from tracker import audit
from tracker.errors import InvalidInput, SignInRefused
from tracker.models import ROLES, LoginThrottle, User, utcnow

MIN_PASSWORD = 10
MAX_PASSWORD = 200
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so a wrong email takes as long as a wrong
    password. Made on first use: scrypt is slow, and most CLI commands never sign anyone in."""
    return generate_password_hash("not-a-real-password")


# What each role may do. Every signed-in role may view; the rest is granted here.
PERMISSIONS = {
    "view": set(ROLES),
    "upload": {"ranger", "admin"},
    "tag": {"ranger", "researcher", "admin"},
    "export": {"researcher", "admin"},
    "manage": {"admin"},
    # Photos of people (anti-poaching evidence, and people's privacy): without this right,
    # person boxes are blurred in every preview and thumbnail, and originals are refused.
    "see_people": {"ranger", "admin"},
}


def can(user: User | None, permission: str) -> bool:
    return user is not None and user.active and user.role in PERMISSIONS[permission]


def hash_password(password: str) -> str:
    # Werkzeug's default is scrypt: memory-hard, and no extra dependency.
    return generate_password_hash(password)


def validate_user(email: str, role: str, password: str | None) -> dict[str, str]:
    errors = {}
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = "Enter a valid email address."
    if role not in ROLES:
        errors["role"] = f"Role must be one of: {', '.join(ROLES)}."
    if password is not None and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        errors["password"] = f"Use {MIN_PASSWORD} to {MAX_PASSWORD} characters."
    return errors


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session, email: str, password: str, role: str, actor: User | None = None
) -> User:
    email = normalise_email(email)
    errors = validate_user(email, role, password)
    if not errors and session.scalar(select(User.id).where(User.email == email)):
        errors["email"] = f"A user with email {email} already exists."
    if errors:
        raise InvalidInput(errors)
    user = User(email=email, password_hash=hash_password(password), role=role, active=True)
    session.add(user)
    session.flush()
    audit.record(session, actor, "create", "user", user.id, email=email, role=role)
    return user


def _check_update(
    user: User, role: str, active: bool, actor: User | None, password: str | None = None
) -> dict[str, str]:
    errors = validate_user(user.email, role, password)
    if actor is not None and actor.id == user.id and (role != "admin" or not active):
        errors["role"] = "You cannot remove your own admin rights or deactivate yourself."
    return errors


def update_user(
    session: Session, user: User, *, role: str, active: bool, actor: User | None
) -> None:
    errors = _check_update(user, role, active, actor)
    if errors:
        raise InvalidInput(errors)
    diff = audit.changes(user, {"role": role, "active": active})
    if diff:
        user.role, user.active = role, active
        audit.record(session, actor, "update", "user", user.id, changes=diff)


def set_password(session: Session, user: User, password: str, actor: User | None) -> None:
    errors = validate_user(user.email, user.role, password)
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(password)
    audit.record(session, actor, "set-password", "user", user.id)


def edit_user(
    session: Session,
    user: User,
    *,
    role: str,
    active: bool,
    password: str | None = None,
    actor: User | None,
) -> None:
    """Change role and active flag, and the password when one is given; all checked first."""
    errors = _check_update(user, role, active, actor, password or None)
    if errors:
        raise InvalidInput(errors)
    update_user(session, user, role=role, active=active, actor=actor)
    if password:
        set_password(session, user, password, actor)


def authenticate(
    session: Session,
    email: str,
    password: str,
    client: str,
    *,
    free_attempts: int,
    max_delay: int,
    now: datetime | None = None,
) -> User:
    """The user these credentials belong to, or SignInRefused.

    After `free_attempts` failures for an account or a client address, each further attempt
    must wait, twice as long each time up to `max_delay` seconds.
    """
    now = now or utcnow()
    email = normalise_email(email)
    keys = [f"email:{email}"[:320], f"client:{client}"[:320]]
    throttles = [session.get(LoginThrottle, key) for key in keys]
    waits = [int((t.locked_until - now).total_seconds()) + 1 for t in throttles if _locked(t, now)]
    if waits:
        raise SignInRefused(
            f"Too many failed sign-ins. Try again in {max(waits)} seconds.", max(waits)
        )
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or not user.active:
        for key, throttle in zip(keys, throttles, strict=True):
            _count_failure(session, key, throttle, now, free_attempts, max_delay)
        raise SignInRefused("Wrong email or password, or the account is not active.")
    for throttle in throttles:
        if throttle is not None:
            session.delete(throttle)
    user.last_login_at = now
    audit.record(session, user, "sign-in", "user", user.id)
    return user


def _locked(throttle: LoginThrottle | None, now: datetime) -> bool:
    return (
        throttle is not None and throttle.locked_until is not None and throttle.locked_until > now
    )


def _count_failure(session, key, throttle, now, free_attempts, max_delay) -> None:
    if throttle is None:
        throttle = LoginThrottle(key=key, failures=0, last_failure_at=now)
        session.add(throttle)
    elif now - throttle.last_failure_at > timedelta(days=1):
        throttle.failures = 0  # an old streak of typos does not count against today
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= free_attempts:
        delay = min(max_delay, 2 ** (throttle.failures - free_attempts))
        throttle.locked_until = now + timedelta(seconds=delay)
