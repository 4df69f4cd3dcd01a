"""The library: the image list's grid, filtered by anything (tracker.imagelist), where those who
may tag pick photos (click, shift-click, keys: tracker/static/library.js) and tag them all at
once with a species or as blank (tracker.library).

Without JavaScript the grid is a form of checkboxes, posted as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from tracker import imagecontent, imagelist, library
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import Species
from tracker.sightings import SightingInput
from tracker.web import options, requires

bp = Blueprint("library", __name__)


def _species(session) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Species.id, Species.common_name)
        .where(~Species.retired, Species.kind != "blank")
        .order_by(Species.common_name)
    )
    return [tuple(row) for row in rows]


def page(session, args, places: Callable[[], dict]):
    """The library page for these query arguments (images.index answers with it); `places`
    gives the station codes and deployment labels to choose from."""
    threshold = current_app.config["DETECTION_THRESHOLD"]
    filters = imagelist.read_filters(args, threshold)
    # Hundreds of stations, deployments and species: their labels change only with the data.
    cached = current_app.extensions["tracker.figures"].get(
        session,
        ("library-choices",),
        lambda: places() | {"species_options": options.render(_species(session))},
    )
    chosen = filters.values
    choices = {
        "station_options": options.choose(cached["station_options"], chosen.get("station")),
        "deployment_options": options.choose(
            cached["deployment_options"], chosen.get("deployment")
        ),
        "filter_species_options": options.choose(cached["species_options"], chosen.get("species")),
        "species_options": cached["species_options"],
        "statuses": imagelist.STATUSES,
        "categories": imagecontent.CATEGORIES,
    }
    if filters.errors:
        return render_template("images/index.html", filters=filters, **choices), 400
    kept = {k: v for k, v in filters.values.items() if v}
    found = imagelist.page(session, filters)
    return render_template(
        "images/index.html",
        filters=filters,
        counts=imagelist.counts(session, filters),
        page=found,
        labels=library.labels(session, [i.id for i in found.images], threshold),
        form=FlaskForm(),
        here=request.full_path,
        list_url=lambda **cursor: url_for("images.index", **kept, **cursor),
        status_url=lambda s: url_for("images.index", **(kept | {"status": s})),
        **choices,
    )


def _back() -> str:
    """Where the form came from: a page of the image list, never another site."""
    back = request.form.get("back", "")
    parts = urlsplit(back)
    if parts.scheme or parts.netloc or not parts.path.startswith("/images/"):
        return url_for("images.index")
    return back


def _input(session) -> SightingInput:
    if request.form.get("blank"):
        return SightingInput(species_id=library.blank_species(session).id)
    species = imagelist.parse_id(request.form.get("species_id"))
    return SightingInput(
        species_id=species, individual_code=request.form.get("individual_code", "").strip()
    )


@bp.route("/images/tag", methods=["POST"])
@requires("tag")
def tag():
    session = get_session()
    form = FlaskForm()
    if not form.validate_on_submit():
        flash("The form had expired: nothing was tagged. Try again.", "error")
        return redirect(_back())
    ids = [imagelist.parse_id(v) for v in request.form.getlist("image_ids")]
    config = current_app.config
    try:
        done = library.tag_selected(
            session, [i for i in ids if i is not None], _input(session),
            current_user._get_current_object(), config["SEQUENCE_SECONDS"],
            config["DETECTION_THRESHOLD"], timestamp_confirmed=bool(request.form.get("confirm")),
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        flash("Nothing was tagged: " + " ".join(exc.errors.values()), "error")
        return redirect(_back())
    session.commit()
    flash(_said(done), "info")
    return redirect(_back())


def _said(done: library.Tagged) -> str:
    text = f"{done.photos} photos tagged in {done.sightings} sightings (one per burst)."
    if done.skipped:
        listed = ", ".join(map(str, done.skipped[:20]))
        text += f" {len(done.skipped)} already had a sighting and were left as they were: {listed}."
    return text
