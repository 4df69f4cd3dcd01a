"""Photo-ID pages: unidentified leopard sightings ranked against the catalogue in one batch,
candidates for one box (the review queue's panel, `photoid.js`), and possible duplicates.

Who: everyone signed in reads the batch and the duplicates pages, like the catalogue itself.
Candidates are for whoever tags (rangers, researchers, admins): the review queue is where a
leopard first gets its code, and a ranger there types a better one with the suggestions beside
the photo; a person still confirms every one. A duplicates check is many queries, so only roles
that tag may start one; merging stays an admin's (the merge page that already exists).
"""

from __future__ import annotations

import math

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, url_for
from flask_wtf import FlaskForm

from tracker.db import get_session
from tracker.models import Annotation
from tracker.web import get_or_404, requires

bp = Blueprint("photoid", __name__, url_prefix="/photo-id")


def _indexes():
    """This worker's reference index cache (tracker.reid.cache), made with the first page."""
    from tracker.reid.cache import IndexCache

    return current_app.extensions.setdefault("tracker.reid.indexes", IndexCache())


@bp.route("/unidentified")
@requires("view")
def unidentified():
    # OpenCV loads with the first photo-ID page, not at start.
    from tracker.reid import batch, suggest

    session = get_session()
    rows = batch.rank_unidentified(session, current_app.config, indexes=_indexes())
    taken = suggest.decisions_summary(session)
    edit = suggest.unidentified_sightings(session, [row.image.id for row in rows])
    return render_template("photoid/unidentified.html", rows=rows, taken=taken, edit=edit)


@bp.route("/boxes/<int:box_id>/candidates")
@requires("tag")
def candidates(box_id: int):
    """The top candidates for an animal box, as JSON for the review queue's panel."""
    from tracker.reid import suggest
    from tracker.reid.features import UnreadableImage

    box = get_or_404(Annotation, box_id)
    if box.category != "animal":
        return jsonify({"ok": False, "error": f"Box {box.id} is not an animal box."}), 400
    try:
        found = suggest.for_box(get_session(), box, current_app.config, indexes=_indexes())
    except (UnreadableImage, OSError) as exc:
        return jsonify({"ok": False, "error": f"Photo {box.image_id}: {exc}"}), 422
    return jsonify({"ok": True, **found.as_json()})


@bp.route("/duplicates")
@requires("view")
def duplicates():
    """Pairs of individuals whose references match strongly, from the latest finished check."""
    from tracker.reid import duplicates as dup

    session = get_session()
    done, waiting = dup.latest(session)
    pairs = dup.pairs_of(session, done)
    return render_template(
        "photoid/duplicates.html", form=FlaskForm(), done=done, waiting=waiting, pairs=pairs
    )


@bp.route("/duplicates/check", methods=["POST"])
@requires("tag")
def check_duplicates():
    """Queue a duplicates check of the whole catalogue (a background job)."""
    from tracker import jobs
    from tracker.reid import duplicates as dup

    if FlaskForm().validate_on_submit():
        session = get_session()
        jobs.submit(session, current_app.config, dup.JOB)
        session.commit()
        flash("Duplicates check queued: the pairs appear here once a worker has run it.", "info")
    return redirect(url_for("photoid.duplicates"))


def record_choice(session, sighting, form, new_individual: bool, actor) -> None:
    """After the review queue tagged a sighting: keep which suggestion the person took (the
    hidden photo-ID fields `photoid.js` fills in); nothing when no suggestions were shown."""
    if not form.get("photoid_box"):
        return
    from tracker.reid import suggest  # OpenCV loads only where suggestions were shown

    suggest.record(session, sighting, _choice(form), new_individual, actor)


def _number(text: str, kind):
    try:
        value = kind(text)
    except ValueError:
        return None
    if kind is int:
        return value if 0 < value < 2**31 else None  # an id or a rank the database can hold
    return value if math.isfinite(value) else None


def _choice(form):
    from tracker.reid.suggest import Choice

    return Choice(
        box_id=_number(form.get("photoid_box", ""), int),
        rank=_number(form.get("photoid_rank", ""), int),
        score=_number(form.get("photoid_score", ""), float),
        individual=form.get("photoid_individual", "").strip(),
        probably_new=form.get("photoid_probably_new") == "1",
    )


def box_for(session, sighting) -> int | None:
    """The box the sighting page's photo-ID panel makes suggestions for."""
    from tracker.reid import suggest

    return suggest.box_of(session, sighting)
