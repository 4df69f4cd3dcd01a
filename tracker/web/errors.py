"""Error pages in the site layout; a failed request's changes are rolled back."""

from __future__ import annotations

import contextlib
import logging

from flask import Blueprint, current_app, g, render_template
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError

from tracker import db_errors
from tracker.db import close_session

bp = Blueprint("errors", __name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your role does not allow this. Ask an admin if you need it."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "The upload is larger than this tracker accepts."),
    429: ("Too many requests", "Slow down and try again in a moment."),
    500: ("Something went wrong", "The error was logged and nothing was half-saved."),
    503: (
        "Database unavailable",
        "The tracker cannot reach its database just now. Try again in a few minutes; "
        "an upload that was cut off keeps what it had saved, and sending it again adds the rest.",
    ),
}


def render_error(code: int, detail: str | None = None, *, plain: bool = False):
    """The error page; `plain` leaves out everything that needs the database (the navigation)."""
    title, message = MESSAGES[code]
    page = render_template(
        "errors/error.html", code=code, title=title, message=message, detail=detail, plain=plain
    )
    return page, code


def render_failure():
    """The 500 page, which must never fail itself: the request's session is gone (its objects,
    the signed-in user included, cannot load anything more), and the database may be down."""
    try:
        close_session()
    except Exception:  # a connection that broke mid-request; the page is still owed
        logging.getLogger(__name__).exception("rolling back the failed request failed")
    try:
        return render_error(500, plain=True)
    except Exception:  # the last resort: a page without the layout, never a bare server error
        logging.getLogger(__name__).exception("the 500 page failed")
        title, message = (escape(text) for text in MESSAGES[500])
        return f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>", 500


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return render_error(
        400, "The form expired or was not sent from this site. Reload the page and send it again."
    )


def _handler(code: int):
    def handle(_error):
        return render_failure() if code == 500 else render_error(code)

    return handle


for _code in MESSAGES:
    bp.app_errorhandler(_code)(_handler(_code))


@bp.app_errorhandler(DBAPIError)
def database_error(error: DBAPIError):
    """A database that cannot be reached is a 503 page; any other database error a 500."""
    if not db_errors.unavailable(error):
        raise error
    url = current_app.config["DATABASE_URL"]
    current_app.logger.error(db_errors.unavailable_message(url, error))
    with contextlib.suppress(DBAPIError):  # the connection is gone: nothing to roll back
        close_session()
    # The page is drawn as for a visitor: who is signed in is in the database too.
    g._login_user = current_app.login_manager.anonymous_user()
    page, code = render_error(503, plain=True)
    return page, code, {"Retry-After": "60"}
