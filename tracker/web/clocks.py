"""Camera clocks: correct a deployment's clock (admins), and its timestamp report (everyone)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, RadioField, StringField
from wtforms.validators import Length, NumberRange, Optional

from tracker import clock, clockfix, clockoffsets, timestamps
from tracker.accounts import MAX_ID
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import Deployment, Image
from tracker.web import get_or_404, requires
from tracker.web.forms import show_errors

bp = Blueprint("clocks", __name__, url_prefix="/deployments")

METHODS = (("fixed", "A fixed correction"), ("photo", "From a time-check photo"))
# Photos offered as time-check photos: the first and last of the card, in file-name order,
# where the set-up and take-down shots are.
CANDIDATES = 6


class ClockForm(FlaskForm):
    method = RadioField("How", default="fixed")
    offset = StringField("Correction", validators=[Length(max=32)])
    image = IntegerField(
        "Time-check photo (image number)",
        validators=[Optional(), NumberRange(1, MAX_ID, "There is no image with that number.")],
    )
    true_time = StringField("True local time shown on the photo", validators=[Length(max=40)])
    reason = StringField("Reason (for the record)", validators=[Length(max=clockfix.MAX_REASON)])
    confirm = BooleanField("Confirm: apply this large correction")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set here, not in the field: WTForms 3.3 deprecates tuples passed to the constructor.
        self.method.choices = list(METHODS)


def _derive(session, deployment: Deployment, form: ClockForm) -> clockoffsets.Derived:
    if form.method.data == "photo":
        return clockoffsets.from_time_check(
            session, deployment, form.image.data, form.true_time.data
        )
    return clockoffsets.fixed_offset(form.offset.data)


def _candidates(session, deployment: Deployment) -> list:
    rows = session.execute(
        select(Image.id, Image.original_filename, Image.taken_at_raw).where(
            Image.deployment_id == deployment.id
        )
    ).all()
    rows.sort(key=lambda r: (timestamps.natural_key(r.original_filename), r.id))
    if len(rows) > 2 * CANDIDATES:
        rows = rows[:CANDIDATES] + rows[-CANDIDATES:]
    return rows


def _page(form: ClockForm, deployment: Deployment, preview, status: int):
    page = render_template(
        "clocks/form.html",
        form=form,
        deployment=deployment,
        preview=preview,
        candidates=_candidates(get_session(), deployment),
        current=clockoffsets.format_offset(deployment.clock_offset_s),
        local=lambda utc: timestamps.local_time(deployment, utc),
        describe=clockoffsets.describe_duration,
        format_offset=clockoffsets.format_offset,
        period=timestamps.period_text(deployment),
    )
    return page, status


@bp.route("/<int:deployment_id>/clock", methods=["GET", "POST"])
@requires("manage")
def correct(deployment_id: int):
    deployment = get_or_404(Deployment, deployment_id)
    session = get_session()
    if request.method == "GET":
        # Links from the timestamp report arrive with the form filled in: show its effect.
        form = ClockForm(formdata=request.args or None)
        preview = None
        if request.args.get("offset") or request.args.get("true_time"):
            try:
                derived = _derive(session, deployment, form)
                preview = clockfix.preview(session, deployment, derived.offset_s)
            except InvalidInput as exc:
                show_errors(form, exc)
        return _page(form, deployment, preview, 200)

    form = ClockForm()
    preview = None
    if form.validate_on_submit():
        try:
            derived = _derive(session, deployment, form)
            if request.form.get("action") == "preview":
                preview = clockfix.preview(session, deployment, derived.offset_s)
                return _page(form, deployment, preview, 200)
            change = clockfix.set_clock_offset(
                session,
                deployment,
                derived.offset_s,
                current_user,
                via=derived.via,
                reason=form.reason.data or "",
                confirmed=form.confirm.data,
            )
        except clockfix.NeedsConfirmation as exc:
            preview = exc.preview
            show_errors(form, exc)
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(
                f"Clock correction of deployment {deployment.id} set to "
                f"{clockoffsets.format_offset(change.offset_after)} (was "
                f"{clockoffsets.format_offset(change.offset_before)}): {change.images_changed} "
                f"image(s) and {change.sightings_changed} sighting(s) changed.",
                "info",
            )
            return redirect(url_for("clocks.report", deployment_id=deployment.id))
    return _page(form, deployment, preview, 400)


@bp.route("/<int:deployment_id>/timestamps")
@requires("view")
def report(deployment_id: int):
    deployment, session = get_or_404(Deployment, deployment_id), get_session()
    # Over every photo of the deployment: kept while the data does not change (tracker.figures).
    today = clock.local_today(deployment.timezone)
    result = current_app.extensions["tracker.figures"].get(
        session,
        ("timestamps", deployment.id, today),
        lambda: timestamps.timestamp_report(session, deployment, today),
    )
    return render_template(
        "clocks/report.html",
        deployment=deployment,
        report=result,
        current=clockoffsets.format_offset(deployment.clock_offset_s),
        period=timestamps.period_text(deployment),
    )
