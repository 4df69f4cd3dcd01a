"""Species (admins): confirm the ones photo tags added, or merge them into an existing one."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from tracker import species
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import Species
from tracker.web import get_or_404, requires
from tracker.web.forms import parse_id

bp = Blueprint("species", __name__, url_prefix="/species")


@bp.route("/")
@requires("manage")
def index():
    return render_template(
        "species/index.html", rows=species.with_counts(get_session()), form=FlaskForm()
    )


def _done(message: str, category: str = "info"):
    flash(message, category)
    return redirect(url_for("species.index"))


@bp.route("/", methods=["POST"])
@requires("manage")
def create():
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("species.index"))
    form = request.form
    try:
        added = species.add(get_session(), form.get("scientific_name", ""),
                            form.get("common_name", ""), form.get("kind", "animal"),
                            actor=current_user)  # fmt: skip
    except InvalidInput as exc:
        return _done("; ".join(exc.errors.values()), "error")
    get_session().commit()
    return _done(f"{added.common_name} added to the list.")


@bp.route("/<int:species_id>/edit", methods=["POST"])
@requires("manage")
def edit(species_id: int):
    found = get_or_404(Species, species_id)
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("species.index"))
    form = request.form
    try:
        species.rename(get_session(), found, form.get("scientific_name", ""),
                       form.get("common_name", ""), actor=current_user)  # fmt: skip
    except InvalidInput as exc:
        get_session().rollback()
        return _done("; ".join(exc.errors.values()), "error")
    get_session().commit()
    return _done(f"Saved: {found.common_name} ({found.scientific_name}).")


@bp.route("/<int:species_id>/retire", methods=["POST"])
@requires("manage")
def retire(species_id: int):
    found = get_or_404(Species, species_id)
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("species.index"))
    retired = request.form.get("retired") == "1"
    species.retire(get_session(), found, retired, actor=current_user)
    get_session().commit()
    state = "retired: no longer offered when tagging" if retired else "offered again when tagging"
    return _done(f"{found.common_name} {state}.")


@bp.route("/<int:species_id>/confirm", methods=["POST"])
@requires("manage")
def confirm(species_id: int):
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("species.index"))
    found = get_or_404(Species, species_id)
    species.confirm(get_session(), found, actor=current_user)
    get_session().commit()
    flash(f"{found.common_name} confirmed.", "info")
    return redirect(url_for("species.index"))


@bp.route("/<int:species_id>/merge", methods=["POST"])
@requires("manage")
def merge(species_id: int):
    source = get_or_404(Species, species_id)
    target_id = parse_id(request.form.get("target"))
    target = get_session().get(Species, target_id) if target_id is not None else None
    if not FlaskForm().validate_on_submit() or target is None:
        flash("Choose the species to merge into.", "error")
        return redirect(url_for("species.index"))
    try:
        moved = species.merge(get_session(), source, target, actor=current_user)
    except InvalidInput as exc:
        flash(str(exc), "error")
        return redirect(url_for("species.index"))
    get_session().commit()
    flash(f"{source.common_name} merged into {target.common_name}: {moved} sightings moved.",
          "info")  # fmt: skip
    return redirect(url_for("species.index"))
