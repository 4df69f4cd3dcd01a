"""Known individuals: who has been seen, how often, and when (everyone signed in views)."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from tracker.db import get_session
from tracker.models import Individual, Sighting, Species
from tracker.web import requires

bp = Blueprint("individuals", __name__, url_prefix="/individuals")


@bp.route("/")
@requires("view")
def index():
    columns = (Individual.id, Individual.code, Individual.name, Individual.sex, Species.common_name)
    query = (
        select(
            *columns,
            func.count(Sighting.id).label("sightings"),
            func.min(Sighting.event_start).label("first_seen"),
            func.max(Sighting.event_start).label("last_seen"),
        )
        .join(Species, Species.id == Individual.species_id)
        .outerjoin(Sighting, Sighting.individual_id == Individual.id)
        .group_by(*columns)
        .order_by(Individual.code)
    )
    return render_template("individuals/index.html", rows=get_session().execute(query).all())
