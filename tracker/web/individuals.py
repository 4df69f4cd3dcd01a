"""The individual catalogue: the list, one animal's profile, and curating it.

Everyone signed in views; rangers, researchers and admins choose reference photos (tagging);
admins rename and merge (curating the catalogue).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from tracker import catalogue, individuals, profiles
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import FLANKS, SEXES, Individual, Sighting
from tracker.web import get_or_404, requires
from tracker.web.forms import form_status, show_errors

bp = Blueprint("individuals", __name__, url_prefix="/individuals")
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL


class IndividualForm(FlaskForm):
    code = StringField("Code", validators=[InputRequired(), Length(max=32)])
    name = StringField("Name", validators=[Length(max=individuals.MAX_NAME)])
    sex = SelectField("Sex", choices={s: s for s in SEXES})
    notes = TextAreaField("Notes", validators=[Length(max=individuals.MAX_NOTES)])


class ReferenceForm(FlaskForm):
    image_id = IntegerField("Image", validators=[InputRequired(), NumberRange(1, MAX_ID)])
    flank = SelectField("Flank", choices={f: f for f in FLANKS})


def _id_or_none(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= MAX_ID else None


class MergeForm(FlaskForm):
    other = SelectField("The same cat as", coerce=_id_or_none, validate_choice=False)
    keep = RadioField("Keep", choices={"this": "this one", "other": "the other"}, default="this")
    confirm = HiddenField()


@bp.route("/")
@requires("view")
def index():
    sort = request.args.get("sort", "code")
    if sort not in catalogue.SORTS:
        sort = "code"
    descending = request.args.get("dir") == "desc"
    months, minutes = current_app.config["NOT_SEEN_MONTHS"], current_app.config["EVENT_MINUTES"]
    today, session = datetime.now(UTC).date(), get_session()
    rows = current_app.extensions["tracker.figures"].get(
        session,
        ("individuals", sort, descending, months, minutes, today),
        lambda: catalogue.entries(
            session,
            minutes=minutes,
            not_seen_months=months,
            today=today,
            sort=sort,
            descending=descending,
        ),
    )
    return render_template(
        "individuals/index.html", rows=rows, sort=sort, descending=descending, months=months
    )


def _detail(individual: Individual, reference_form: ReferenceForm | None = None, status=200):
    session, minutes = get_session(), current_app.config["EVENT_MINUTES"]
    summary = current_app.extensions["tracker.figures"].get(
        session,
        ("individual", individual.id, minutes),
        lambda: profiles.summary(session, individual.id, minutes),
    )
    found = profiles.profile(session, individual, summary, before=request.args.get("before"))
    return render_template(
        "individuals/detail.html",
        p=found,
        individual=individual,
        flanks=FLANKS,
        reference_form=reference_form or ReferenceForm(formdata=None),
        map_url="/map?" + urlencode({"individual": individual.code}),
    ), status


@bp.route("/<int:individual_id>")
@requires("view")
def detail(individual_id: int):
    return _detail(get_or_404(Individual, individual_id))


@bp.route("/<int:individual_id>/reference", methods=["POST"])
@requires("tag")
def reference(individual_id: int):
    individual = get_or_404(Individual, individual_id)
    form = ReferenceForm()
    if form.validate_on_submit():
        session = get_session()
        try:
            individuals.set_reference(
                session, individual, form.image_id.data, form.flank.data, current_user
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(
                f"Reference photo for the {form.flank.data} flank of {individual.code} saved.",
                "info",
            )
            return redirect(url_for("individuals.detail", individual_id=individual.id))
    return _detail(individual, form, status=400)


@bp.route("/<int:individual_id>/edit", methods=["GET", "POST"])
@requires("manage")
def edit(individual_id: int):
    individual = get_or_404(Individual, individual_id)
    form = IndividualForm(obj=individual)
    if form.validate_on_submit():
        session = get_session()
        old_code = individual.code
        try:
            individuals.rename(
                session,
                individual,
                code=form.code.data,
                name=form.name.data or "",
                sex=form.sex.data,
                notes=form.notes.data or "",
                actor=current_user,
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            if individual.code != old_code:
                flash(
                    f"{old_code} renamed to {individual.code}; the old code still finds it.", "info"
                )
            else:
                flash(f"{individual.code} saved.", "info")
            return redirect(url_for("individuals.detail", individual_id=individual.id))
    page = render_template("individuals/form.html", form=form, individual=individual)
    return page, form_status(form)


def _merge_choices(session, individual: Individual) -> list[tuple[int, str]]:
    """The other individuals of its species, with their sighting counts."""
    counts = (
        select(Sighting.individual_id, func.count(Sighting.id).label("n"))
        .group_by(Sighting.individual_id)
        .subquery()
    )
    rows = session.execute(
        select(Individual.id, Individual.code, Individual.name, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.individual_id == Individual.id)
        .where(Individual.species_id == individual.species_id, Individual.id != individual.id)
        .order_by(func.lower(Individual.code))
    ).all()
    return [
        (id_, f"{code}{' · ' + name if name else ''} ({n} sighting{'' if n == 1 else 's'})")
        for id_, code, name, n in rows
    ]


@bp.route("/<int:individual_id>/merge", methods=["GET", "POST"])
@requires("manage")
def merge(individual_id: int):
    """Two steps: choose the other record and which to keep, then confirm what will move."""
    session = get_session()
    individual = get_or_404(Individual, individual_id)
    form = MergeForm(other=_id_or_none(request.args.get("other")))  # from possible duplicates
    form.other.choices = _merge_choices(session, individual)
    if form.validate_on_submit():
        other = session.get(Individual, form.other.data) if form.other.data else None
        if other is None:
            form.other.errors = [*form.other.errors, "Choose an individual from the list."]
        else:
            keep, absorb = (individual, other) if form.keep.data == "this" else (other, individual)
            try:
                if form.confirm.data == "yes":
                    kept_code, absorbed_code = keep.code, absorb.code
                    plan = individuals.merge(session, keep, absorb, current_user)
                    session.commit()
                    flash(
                        f"{absorbed_code} merged into {kept_code}: {plan.sightings} "
                        f"sighting{'' if plan.sightings == 1 else 's'} moved.",
                        "info",
                    )
                    return redirect(url_for("individuals.detail", individual_id=keep.id))
                plan = individuals.merge_plan(session, keep, absorb)
            except InvalidInput as exc:
                show_errors(form, exc)
            else:
                return render_template(
                    "individuals/merge.html",
                    form=form,
                    individual=individual,
                    keep=keep,
                    absorb=absorb,
                    plan=plan,
                )
    return render_template(
        "individuals/merge.html", form=form, individual=individual, plan=None
    ), form_status(form)
