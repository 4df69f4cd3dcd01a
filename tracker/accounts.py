"""Accounts: creating users, their roles and passwords, and the sessions they are signed in with.

Every session and "keep me signed in" cookie carries the account's session version (see
`User.get_id`); raising it ends them all at once, wherever they were copied to.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tracker import audit, passwords
from tracker.errors import InvalidInput
from tracker.models import ROLES, User

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_ID = 2**31 - 1  # the database's integer range


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
    problem = passwords.problem(password, email) if password is not None else None
    if problem:
        errors["password"] = problem
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
        deactivated = user.active and not active
        user.role, user.active = role, active
        audit.record(session, actor, "update", "user", user.id, changes=diff)
        if deactivated:
            end_sessions(session, user)


def set_password(session: Session, user: User, password: str, actor: User | None) -> None:
    errors = validate_user(user.email, user.role, password)
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(password)
    audit.record(session, actor, "set-password", "user", user.id)
    end_sessions(session, user)  # whoever knew the old password is signed out everywhere


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


def deactivate(session: Session, user: User, actor: User | None) -> None:
    """The account may no longer sign in, and every session it had ends now."""
    update_user(session, user, role=user.role, active=False, actor=actor)


def find_user(session: Session, email: str) -> User:
    """The account with this email (any case), or InvalidInput naming it."""
    email = normalise_email(email)
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        raise InvalidInput({"email": f"There is no account with email {email}."})
    return user


def end_sessions(session: Session, user: User) -> None:
    """End every session and remember cookie of this account, on every device."""
    # In SQL, so two requests ending sessions at once both count.
    user.session_version = User.session_version + 1
    session.flush()


def sign_out(session: Session, user: User) -> None:
    end_sessions(session, user)
    audit.record(session, user, "sign-out", "user", user.id)


def session_user(session: Session, session_id: str) -> User | None:
    """The active account a session or remember cookie names (`User.get_id`), if still valid."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()) or int(user_id) > MAX_ID:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or str(user.session_version) != version:
        return None
    return user
