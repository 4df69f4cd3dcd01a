"""Photo-ID pages: unidentified leopard sightings ranked against the catalogue in one batch."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from tracker.db import get_session
from tracker.web import requires

bp = Blueprint("photoid", __name__, url_prefix="/photo-id")


@bp.route("/unidentified")
@requires("view")
def unidentified():
    from tracker.reid import batch  # OpenCV loads with the first photo-ID page, not at start

    rows = batch.rank_unidentified(get_session(), current_app.config)
    return render_template("photoid/unidentified.html", rows=rows)
