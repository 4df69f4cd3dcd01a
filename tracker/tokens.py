"""Personal API tokens: a script or an uploader signs in as its account with a bearer token.

Only a SHA-256 of each token is stored (a token is 256 random bits, so a plain hash is as good
as a slow one and is looked up by index); the token itself is shown once, when it is made.
Making, using for the first time and revoking a token are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import audit
from tracker.errors import InvalidInput
from tracker.models import ApiToken, User

PREFIX = "trk_"
MAX_NAME = 100
# The last-used time is kept to the minute: not a write on every request of a busy script.
USE_RESOLUTION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(session: Session, user: User, name: str, actor: User | None, now: datetime):
    """A new token for `user`: (its row, the secret to show once)."""
    name = name.strip() or "token"
    if len(name) > MAX_NAME:
        raise InvalidInput({"name": f"Use at most {MAX_NAME} characters."})
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=_digest(secret), created_at=now)
    session.add(token)
    session.flush()
    audit.record(session, actor, "token-create", "api_token", token.id, owner=user.email, name=name)
    return token, secret


def user_for(session: Session, secret: str, now: datetime) -> User | None:
    """The active account a live token belongs to, or None."""
    if not secret.startswith(PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    if token.last_used_at is None:
        audit.record(session, token.user, "token-first-use", "api_token", token.id)
    if token.last_used_at is None or now - token.last_used_at >= USE_RESOLUTION:
        token.last_used_at = now
    return token.user


def of_user(session: Session, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    return list(session.scalars(query))


def revoke(session: Session, token: ApiToken, actor: User, now: datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now
        audit.record(session, actor, "token-revoke", "api_token", token.id, name=token.name)
