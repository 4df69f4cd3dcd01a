"""Deployments: a camera at a station for a period (admins manage; everyone signed in views)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from tracker import clock, fieldwork, outages
from tracker.db import get_session
from tracker.detections import runs
from tracker.errors import InvalidInput
from tracker.models import Camera, Deployment, DeploymentOutage, Image, Station
from tracker.web import get_or_404, requires
from tracker.web.forms import form_status, show_errors

bp = Blueprint("deployments", __name__, url_prefix="/deployments")

# Offered in the time-zone field; any IANA name is accepted.
COMMON_TIMEZONES = (
    "Asia/Vladivostok",
    "Asia/Shanghai",
    "Asia/Pyongyang",
    "Asia/Seoul",
    "Asia/Yakutsk",
    "Asia/Tokyo",
    "UTC",
)
STATUSES = ("active", "closed")


class DeploymentForm(FlaskForm):
    station = SelectField(
        "Station", validators=[InputRequired("Choose a station.")], validate_choice=False
    )
    start_date = DateField("Start date", validators=[Optional()])
    end_date = DateField("End date", validators=[Optional()])
    timezone = StringField("Time zone", validators=[Length(max=64)])
    camera_serial = StringField("Camera serial", validators=[Length(max=fieldwork.MAX_SERIAL)])
    clock_offset_s = IntegerField("Clock correction (seconds)", default=0, validators=[Optional()])
    notes = TextAreaField("Notes", validators=[Length(max=fieldwork.MAX_NOTES)])

    def to_input(self) -> fieldwork.DeploymentInput:
        timezone = (self.timezone.data or "").strip()
        return fieldwork.DeploymentInput(
            start_date=self.start_date.data,
            end_date=self.end_date.data,
            timezone=timezone,
            camera_serial=self.camera_serial.data or "",
            clock_offset_s=self.clock_offset_s.data or 0,
            notes=self.notes.data or "",
            today=clock.today_for(timezone, current_app.config["TIMEZONE"]),
        )


class DeploymentEditForm(DeploymentForm):
    station = None  # a deployment stays at its station; a wrong one is closed and re-entered


class CloseForm(FlaskForm):
    end_date = DateField("End date (camera taken down)", validators=[Optional()])
    confirm = BooleanField("Close anyway: those photos become timestamp issues")


class OutageForm(FlaskForm):
    start_date = DateField("Stopped working on", validators=[Optional()])
    end_date = DateField("Working again on", validators=[Optional()])
    reason = StringField("Why", validators=[Length(max=outages.MAX_REASON)])


def _station_codes() -> list[str]:
    return list(get_session().scalars(select(Station.code).order_by(Station.code)))


@bp.route("/")
@requires("view")
def index():
    station, status = request.args.get("station", ""), request.args.get("status", "")
    # Plain rows, not ORM objects: a season has hundreds of deployments.
    query = (
        select(
            Deployment.id,
            Deployment.station_id,
            Station.code.label("station_code"),
            Camera.serial.label("camera_serial"),
            Deployment.start_date,
            Deployment.end_date,
            Deployment.timezone,
            Deployment.clock_offset_s,
        )
        .join(Deployment.station)
        .outerjoin(Deployment.camera)
        .order_by(Deployment.start_date.desc(), Deployment.id.desc())
    )
    if station:
        query = query.where(Station.code == station)
    if status == "active":
        query = query.where(Deployment.end_date.is_(None))
    elif status == "closed":
        query = query.where(Deployment.end_date.is_not(None))
    deployments = get_session().execute(query).all()
    return render_template(
        "deployments/index.html",
        deployments=deployments,
        codes=_station_codes(),
        station=station,
        status=status,
        statuses=STATUSES,
    )


@bp.route("/<int:deployment_id>")
@requires("view")
def detail(deployment_id: int):
    deployment = get_or_404(Deployment, deployment_id)
    session = get_session()
    images = session.scalar(
        select(func.count(Image.id)).where(Image.deployment_id == deployment.id)
    )
    return render_template(
        "deployments/detail.html",
        deployment=deployment,
        images=images,
        photos_during=outages.photos_during(session, deployment),
        detections=runs.on_page(session, deployment.id, current_app.config["DETECTION_THRESHOLD"]),
    )


@bp.route("/new", methods=["GET", "POST"])
@requires("manage")
def create():
    form = DeploymentForm(
        station=request.args.get("station"), timezone=current_app.config["TIMEZONE"]
    )
    form.station.choices = [("", "Choose a station…"), *((c, c) for c in _station_codes())]
    if form.validate_on_submit():
        session = get_session()
        try:
            station = fieldwork.station_by_code(session, form.station.data)
            deployment = fieldwork.create_deployment(
                session, station, form.to_input(), actor=current_user
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Deployment {deployment.id} at station {station.code} created.", "info")
            return redirect(url_for("deployments.detail", deployment_id=deployment.id))
    return _form_page(form, None)


@bp.route("/<int:deployment_id>/edit", methods=["GET", "POST"])
@requires("manage")
def edit(deployment_id: int):
    deployment = get_or_404(Deployment, deployment_id)
    serial = deployment.camera.serial if deployment.camera else None
    form = DeploymentEditForm(obj=deployment, camera_serial=serial or "")
    if form.validate_on_submit():
        session = get_session()
        try:
            fieldwork.update_deployment(session, deployment, form.to_input(), actor=current_user)
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Deployment {deployment.id} saved.", "info")
            return redirect(url_for("deployments.detail", deployment_id=deployment.id))
    return _form_page(form, deployment)


@bp.route("/<int:deployment_id>/close", methods=["GET", "POST"])
@requires("manage")
def close(deployment_id: int):
    deployment = get_or_404(Deployment, deployment_id)
    form = CloseForm(end_date=clock.local_today(deployment.timezone))
    if form.validate_on_submit():
        session = get_session()
        try:
            fieldwork.close_deployment(
                session,
                deployment,
                form.end_date.data,
                actor=current_user,
                today=clock.local_today(deployment.timezone),
                confirmed=form.confirm.data,
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Deployment {deployment.id} closed on {deployment.end_date}.", "info")
            return redirect(url_for("deployments.detail", deployment_id=deployment.id))
    page = render_template("deployments/close.html", form=form, deployment=deployment)
    return page, form_status(form)


@bp.route("/<int:deployment_id>/outages/new", methods=["GET", "POST"])
@requires("upload")  # whoever services the cameras: rangers, and admins
def add_outage(deployment_id: int):
    """Record days the camera was not working: effort and capture histories leave them out."""
    deployment = get_or_404(Deployment, deployment_id)
    form = OutageForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            outage = outages.add_outage(
                session,
                deployment,
                form.start_date.data,
                form.end_date.data,
                form.reason.data or "",
                actor=current_user,
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            until = f"to {outage.end_date}" if outage.end_date else "until it was taken down"
            flash(f"Camera recorded as not working from {outage.start_date} {until}.", "info")
            return redirect(url_for("deployments.detail", deployment_id=deployment.id))
    page = render_template("deployments/outage.html", form=form, deployment=deployment)
    return page, form_status(form)


@bp.route("/<int:deployment_id>/outages/<int:outage_id>/delete", methods=["POST"])
@requires("upload")
def remove_outage(deployment_id: int, outage_id: int):
    outage = get_or_404(DeploymentOutage, outage_id)
    if outage.deployment_id != deployment_id:
        abort(404)
    session = get_session()
    outages.remove_outage(session, outage, actor=current_user)
    session.commit()
    flash("Outage removed: those days count as working again.", "info")
    return redirect(url_for("deployments.detail", deployment_id=deployment_id))


def _form_page(form: FlaskForm, deployment: Deployment | None):
    page = render_template(
        "deployments/form.html", form=form, deployment=deployment, timezones=COMMON_TIMEZONES
    )
    return page, form_status(form)
