"""Detector results on the deployment page: import a results file, set a run's threshold."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from tracker.db import get_session
from tracker.detections import jobs, runs
from tracker.errors import InvalidInput
from tracker.models import Deployment, DetectionRun
from tracker.web import get_or_404, requires

bp = Blueprint("detections", __name__)


def _back(deployment_id: int):
    return redirect(url_for("deployments.detail", deployment_id=deployment_id) + "#detections")


@bp.route("/deployments/<int:deployment_id>/detections", methods=["POST"])
@requires("upload")
def upload(deployment_id: int):
    deployment = get_or_404(Deployment, deployment_id)
    sent = request.files.get("file")
    if not FlaskForm().validate_on_submit() or sent is None or not sent.filename:
        flash("Choose a MegaDetector results file (.json) to import.", "error")
        return _back(deployment.id)
    session = get_session()
    job = jobs.queue_import(session, current_app.config, deployment, sent.filename, sent.read(),
                            current_user._get_current_object())  # fmt: skip
    session.commit()
    flash(f"{sent.filename}: import queued (job {job.id}); its result shows below.", "info")
    return _back(deployment.id)


@bp.route("/detections/<int:run_id>/threshold", methods=["POST"])
@requires("tag")
def threshold(run_id: int):
    run = get_or_404(DetectionRun, run_id)
    session = get_session()
    if FlaskForm().validate_on_submit():
        try:
            runs.set_threshold(session, run, request.form.get("threshold", ""),
                               current_user._get_current_object())  # fmt: skip
        except InvalidInput as exc:
            session.rollback()
            flash("; ".join(exc.errors.values()), "error")
        else:
            session.commit()
            flash(f"Threshold of {run.detector} saved.", "info")
    return _back(run.deployment_id)
