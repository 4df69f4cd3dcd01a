"""Camera stations: list, detail, create, edit (admins manage; everyone signed in views)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import FloatField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from tracker import fieldwork, stationcsv
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import Deployment, ImageCount, Station
from tracker.web import get_or_404, requires
from tracker.web.forms import form_status, show_errors

bp = Blueprint("stations", __name__, url_prefix="/stations")


class StationForm(FlaskForm):
    code = StringField("Code", validators=[InputRequired(), Length(max=32)])
    name = StringField("Name", validators=[Length(max=fieldwork.MAX_NAME)])
    latitude = FloatField("Latitude", validators=[InputRequired()])
    longitude = FloatField("Longitude", validators=[InputRequired()])
    notes = TextAreaField("Notes", validators=[Length(max=fieldwork.MAX_NOTES)])


class StationEditForm(StationForm):
    code = None  # a station's code is stable: it names the station in every export


def _details(form: StationForm) -> dict:
    """What the create and edit forms share, as the domain functions take it."""
    return {
        "name": form.name.data or "",
        "latitude": form.latitude.data,
        "longitude": form.longitude.data,
        "notes": form.notes.data or "",
    }


class StationImportForm(FlaskForm):
    file = FileField("CSV file (code, name, latitude, longitude)", validators=[FileRequired()])


@bp.route("/")
@requires("view")
def index():
    session = get_session()
    # Photos per station from the counts the database keeps per deployment.
    image_counts = (
        select(Deployment.station_id, func.sum(ImageCount.images).label("images"))
        .join(ImageCount, ImageCount.deployment_id == Deployment.id)
        .group_by(Deployment.station_id)
        .subquery()
    )
    active = (
        select(Deployment.station_id, func.count().label("active"))
        .where(Deployment.end_date.is_(None))
        .group_by(Deployment.station_id)
        .subquery()
    )
    rows = session.execute(
        select(Station, func.coalesce(image_counts.c.images, 0), func.coalesce(active.c.active, 0))
        .outerjoin(image_counts, image_counts.c.station_id == Station.id)
        .outerjoin(active, active.c.station_id == Station.id)
        .order_by(Station.code)
    ).all()
    return render_template("stations/index.html", rows=rows, import_form=StationImportForm())


@bp.route("/<int:station_id>")
@requires("view")
def detail(station_id: int):
    station = get_or_404(Station, station_id)
    return render_template("stations/detail.html", station=station)


@bp.route("/new", methods=["GET", "POST"])
@requires("manage")
def create():
    form = StationForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            station = fieldwork.create_station(
                session, code=form.code.data, **_details(form), actor=current_user
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Station {station.code} created.", "info")
            return redirect(url_for("stations.detail", station_id=station.id))
    return render_template("stations/form.html", form=form, station=None), form_status(form)


@bp.route("/<int:station_id>/edit", methods=["GET", "POST"])
@requires("manage")
def edit(station_id: int):
    station = get_or_404(Station, station_id)
    form = StationEditForm(obj=station)
    if form.validate_on_submit():
        session = get_session()
        try:
            fieldwork.update_station(session, station, **_details(form), actor=current_user)
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Station {station.code} saved.", "info")
            return redirect(url_for("stations.detail", station_id=station.id))
    return render_template("stations/form.html", form=form, station=station), form_status(form)


@bp.route("/import", methods=["POST"])
@requires("manage")
def import_csv():
    form = StationImportForm()
    if not form.validate_on_submit():
        flash("Choose a CSV file to import.", "error")
        return redirect(url_for("stations.index"))
    session = get_session()
    try:
        text = form.file.data.read().decode("utf-8-sig")
        result = stationcsv.import_stations(session, text, actor=current_user)
    except UnicodeDecodeError:
        flash("The file is not UTF-8 text. Save it as CSV (UTF-8) and try again.", "error")
    except InvalidInput as exc:
        flash(f"Nothing was imported. {exc}", "error")
    else:
        session.commit()
        flash(
            f"Imported: {len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged.",
            "info",
        )
    return redirect(url_for("stations.index"))
