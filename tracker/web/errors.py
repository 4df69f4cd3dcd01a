"""Error pages in the site layout; a failed request's changes are rolled back."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_wtf.csrf import CSRFError

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
}


def render_error(code: int, detail: str | None = None):
    title, message = MESSAGES[code]
    return render_template(
        "errors/error.html", code=code, title=title, message=message, detail=detail
    ), code


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return render_error(
        400, "The form expired or was not sent from this site. Reload the page and send it again."
    )


def _handler(code: int):
    def handle(_error):
        if code == 500:
            close_session()
        return render_error(code)

    return handle


for _code in MESSAGES:
    bp.app_errorhandler(_code)(_handler(_code))
