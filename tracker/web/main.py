"""The dashboard."""

from __future__ import annotations

from flask import Blueprint, render_template

from tracker import stats
from tracker.db import get_session
from tracker.web import requires

bp = Blueprint("main", __name__)


@bp.route("/")
@requires("view")
def dashboard():
    session = get_session()
    return render_template(
        "main/dashboard.html",
        overview=stats.overview(session),
        latest=stats.latest_uploads(session),
    )
