"""Who is calling an API endpoint: a bearer token (scripts, no CSRF) or the signed-in session.

A request with `Authorization: Bearer <token>` is that token's account and nobody else, whatever
cookie it also carries; without the header the session's user is checked for CSRF as any form
post is (the upload page sends the token in an X-CSRFToken header).
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask_login import current_user

from tracker import tokens
from tracker.db import get_session
from tracker.models import utcnow
from tracker.web import csrf


def bearer() -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def protect(bp: Blueprint) -> None:
    """Every view of `bp` takes a bearer token or a session checked for CSRF."""
    csrf.exempt(bp)

    @bp.before_request
    def authenticate():
        secret = bearer()
        if secret is None:
            if current_user.is_authenticated:  # a signed-in browser: checked as a form is
                csrf.protect()
            return None
        session = get_session()
        user = tokens.user_for(session, secret, utcnow())
        if user is None:
            response = jsonify(error="invalid or revoked token")
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response, 401
        session.commit()  # the first-use audit entry, the last-used time
        # Flask-Login's current user for this request only: no session cookie is set.
        g._login_user = user
        return None
