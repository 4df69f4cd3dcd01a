"""The likely-empty page: a screenful of thumbnails the detector found nothing in, confirmed
blank with one key after unticking any that are not."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from tracker.db import get_session
from tracker.detections import empty
from tracker.errors import InvalidInput
from tracker.models import Deployment
from tracker.review.queue import Queue
from tracker.web import get_or_404, requires

bp = Blueprint("likely_empty", __name__)

PAGE = 120  # thumbnails per screen: at least 50, as many as a ranger can glance over


def _ids(name: str) -> list[int]:
    return [int(v) for v in request.form.getlist(name) if v.isascii() and v.isdigit()][: PAGE * 2]


@bp.route("/review/<int:deployment_id>/empty", methods=["GET", "POST"])
@requires("tag")
def grid(deployment_id: int):
    session = get_session()
    deployment = get_or_404(Deployment, deployment_id)
    config = current_app.config
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            done = empty.confirm(session, deployment, _ids("blank"), _ids("kept"),
                                 current_user._get_current_object(), config["SEQUENCE_SECONDS"],
                                 config["DETECTION_THRESHOLD"])  # fmt: skip
        except InvalidInput as exc:
            session.rollback()
            flash("; ".join(exc.errors.values()), "error")
        else:
            session.commit()
            flash(f"{done.blank} photos confirmed blank, {done.kept} back in the queue.", "info")
        return redirect(url_for("likely_empty.grid", deployment_id=deployment.id))
    todo = Queue.load(
        session, deployment, config["SEQUENCE_SECONDS"], config["DETECTION_THRESHOLD"]
    )
    photos = [row for group in todo.empty_groups for row in group][:PAGE]
    return render_template("review/empty.html", deployment=deployment, photos=photos,
                           remaining=todo.likely_empty, form=form)  # fmt: skip
