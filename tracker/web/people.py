"""Photos with people in them, for rangers: which station, when (anti-poaching)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template

from tracker.db import get_session
from tracker.detections import people
from tracker.web import requires

bp = Blueprint("people", __name__)


@bp.route("/people")
@requires("see_people")
def index():
    rows = people.photos_with_people(get_session(), current_app.config["DETECTION_THRESHOLD"])
    local = {row.id: row.taken_at_utc.astimezone(ZoneInfo(row.timezone)) for row in rows
             if row.taken_at_utc is not None}  # fmt: skip
    return render_template("people/index.html", rows=rows, local=local)
