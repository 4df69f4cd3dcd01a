"""Exports (researchers and admins): the export form and download, and the effort page.

A download streams as it is written (tracker.exports.stream): it starts at once, memory stays
flat however large the export, and the audit row is committed before the first byte, its row
count once the file is complete. Bad input shows the form again; a failure partway aborts the
download, which the browser reports as failed.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length

from tracker import clock
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.exports import effort, formats, stream
from tracker.exports.capthist import parse_sessions
from tracker.exports.core import Filters, Options, options_from_config
from tracker.models import Species, Station
from tracker.web import requires
from tracker.web.forms import form_status, show_errors

bp = Blueprint("exports", __name__, url_prefix="/exports")

# Filters.parse names its fields as typed on the command line; the form's differ.
FIELD_NAMES = {"from": "date_from", "to": "date_to"}


class FilterForm(FlaskForm):
    date_from = StringField("From (local date)", render_kw={"type": "date"})
    date_to = StringField("To (local date)", render_kw={"type": "date"})
    stations = SelectMultipleField("Stations (none chosen: all)")
    species = SelectField("Species", default="")
    individual = StringField("Individual code", validators=[Length(max=32)])

    def fill(self, session) -> FilterForm:
        """Choices from the database: every station and species."""
        self.stations.choices = list(session.scalars(select(Station.code).order_by(Station.code)))
        names = session.execute(
            select(Species.scientific_name, Species.common_name).order_by(Species.id)
        ).all()
        self.species.choices = [("", "All species")] + [(s, f"{c} ({s})") for s, c in names]
        return self

    def filters(self, session) -> Filters:
        try:
            return Filters.parse(
                session,
                date_from=self.date_from.data,
                date_to=self.date_to.data,
                stations=self.stations.data or (),
                species=self.species.data,
                individual=(self.individual.data or "").strip(),
            )
        except InvalidInput as exc:
            raise InvalidInput({FIELD_NAMES.get(k, k): v for k, v in exc.errors.items()}) from exc


class ExportForm(FilterForm):
    format = SelectField("Format")
    public = BooleanField("Public: coordinates generalised, no station names or comments")
    per_station = BooleanField("GeoJSON: one feature per station, with counts")
    sessions = TextAreaField(
        "secr: survey sessions, one NAME:FROM:TO per line (none: the dates above are one session)",
        validators=[Length(max=4000)],
    )


class EffortForm(FilterForm):
    class Meta:
        csrf = False  # a GET form: it only reads


@bp.route("/", methods=["GET", "POST"])
@requires("export")
def index():
    session = get_session()
    form = ExportForm().fill(session)
    form.format.choices = [(f.name, f.label) for f in formats.FORMATS]
    if form.validate_on_submit():
        try:
            return _download(session, form.format.data, form.filters(session), form)
        except InvalidInput as exc:
            show_errors(form, exc)
    grid = current_app.config.get("PUBLIC_GRID", Options.grid)
    return render_template("exports/index.html", form=form, grid=grid), form_status(form)


def _download(session, fmt: str, filters: Filters, form: ExportForm):
    public, per_station = form.public.data, form.per_station.data
    sessions = parse_sessions((form.sessions.data or "").splitlines())
    # Camtrap DP's filePath: the configured address, else the one this page was reached at.
    base_url = current_app.config.get("BASE_URL") or request.url_root.rstrip("/")
    options = options_from_config(
        current_app.config, clock.now(), public=public, per_station=per_station,
        sessions=sessions, base_url=base_url,
    )  # fmt: skip
    download = stream.start(
        session, current_app.extensions["tracker.sessionmaker"], fmt, filters, options,
        actor=current_user,
    )  # fmt: skip
    found = formats.find(fmt)
    response = Response(download.blocks(), mimetype=found.media_type)
    name = f"tracker-{fmt}-{options.today}.{found.suffix}"
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy passes the blocks on as they come
    return response


def _effort_tables(session, filters: Filters, options) -> tuple[effort.Effort, Markup]:
    """The effort and its tables, rendered: both kept until the data changes."""
    found = effort.effort(session, filters, options)
    html = render_template("exports/_effort_tables.html", effort=found)
    return found, Markup(html)  # noqa: S704 - Jinja's output, escaped as it was rendered


@bp.route("/effort")
@requires("export")
def effort_page():
    session = get_session()
    form = EffortForm(formdata=request.args).fill(session)
    found, tables, refused = None, None, not form.validate()
    if not refused:
        try:
            options = options_from_config(current_app.config, clock.now())
            filters = form.filters(session)
            found, tables = current_app.extensions["tracker.figures"].get(
                session,
                effort.cache_key(filters, options),
                lambda: _effort_tables(session, filters, options),
            )
        except InvalidInput as exc:
            show_errors(form, exc)
            refused = True
    page = render_template(
        "exports/effort.html", form=form, effort=found, tables=tables, args=request.args
    )
    return page, 400 if refused else 200
