"""The review queue: untagged images of a deployment, one trigger burst at a time, tagged fast.

A ranger goes through thousands of frames, so one decision (blank, a species, a leopard) tags a
whole sequence, and `review.js` sends it with fetch, swaps in the next sequence (whose previews
it has already loaded) and never reloads the page. Without JavaScript the same forms post
normally and redirect back to the queue. Sightings are edited and deleted here too; the domain
functions in `tracker.sightings` check the input and write the audit log.

Where a ranger is in the queue travels in the address: `?at=<image id>` is the sequence holding
that image (or the first one after it, once it is tagged), `?after=` and `?before=` the sequence
just after or before it. Positions are ranks in the deployment's image order, as the database
sorts it, so they stay right while other sequences are being tagged.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField

from tracker import sightings
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import FLANKS, LIFE_STAGES, SEXES, Deployment, Sighting, Species
from tracker.review import tagging
from tracker.review.choices import Choices, label, load_choices
from tracker.review.payload import Payloads
from tracker.review.queue import Queue, deployments_to_review, parse_id
from tracker.review.tagging import in_order, summary
from tracker.web import get_or_404, photoid, requires
from tracker.web.forms import show_errors

bp = Blueprint("review", __name__)

MAX_COUNT_DIGITS = 6


# --- the form ---------------------------------------------------------------------------------


def _optional(values: tuple[str, ...]) -> dict[str, str]:
    return {"": "not recorded"} | {v: v for v in values}


class SightingForm(FlaskForm):
    """What a person says about a sequence; the domain (tracker.sightings) checks it all."""

    species_id = SelectField("Species", validate_choice=False)
    individual_code = StringField("Individual code")
    new_individual = BooleanField("New individual: add this code to the catalogue")
    individual_name = StringField("Name of the new individual (optional)")
    count = StringField("Count", default="1")
    sex = SelectField("Sex", choices=_optional(SEXES), validate_choice=False)
    life_stage = SelectField("Life stage", choices=_optional(LIFE_STAGES), validate_choice=False)
    flank = SelectField("Flank visible", choices=_optional(FLANKS), validate_choice=False)
    comments = TextAreaField("Comments")
    confirm_timestamp = BooleanField("Tag anyway: I know these photos have a timestamp issue")

    def to_input(self, blank: Species | None = None) -> sightings.SightingInput:
        if blank is not None:  # the Blank button: an empty frame has nothing else to say
            return sightings.SightingInput(species_id=blank.id, comments=self.comments.data or "")
        return sightings.SightingInput(
            species_id=parse_id(self.species_id.data),
            individual_code=(self.individual_code.data or "").strip(),
            new_individual=bool(self.new_individual.data),
            individual_name=(self.individual_name.data or "").strip(),
            count=_parse_count(self.count.data),
            sex=self.sex.data or None,
            life_stage=self.life_stage.data or None,
            flank=self.flank.data or None,
            comments=self.comments.data or "",
        )


def _parse_count(text) -> int | None:
    """A whole number as typed; anything else is None, which the domain refuses by name."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_COUNT_DIGITS:
        return int(text)
    return None


def _species_select(choices: Choices) -> list[SelectChoice]:
    """The species select: blank stands apart from everything else, in a group of its own."""
    select = [SelectChoice("", "Choose a species…")]
    select += [
        SelectChoice(str(s.id), label(s), optgroup="Seen in the photos") for s in choices.species
    ]
    if choices.blank is not None:
        blank = choices.blank
        select.append(SelectChoice(str(blank.id), blank.common_name, optgroup="Nothing there"))
    return select


def _form(choices: Choices, **values) -> SightingForm:
    form = SightingForm(**values)
    form.species_id.choices = _species_select(choices)
    return form


# --- the queue --------------------------------------------------------------------------------


def _payloads(session, deployment: Deployment) -> Payloads:
    """The deployment's queue as it is now, ready to show as JSON."""
    config = current_app.config
    threshold = config["DETECTION_THRESHOLD"]
    todo = Queue.load(session, deployment, config["SEQUENCE_SECONDS"], threshold)
    return Payloads(session, todo, threshold, url_for)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _refused(errors: dict[str, str], status: int = 400):
    return jsonify({"ok": False, "errors": errors}), status


# --- pages ------------------------------------------------------------------------------------


@bp.route("/review/")
@requires("tag")
def index():
    rows = deployments_to_review(get_session())
    return render_template("review/index.html", rows=rows)


@bp.route("/review/<int:deployment_id>")
@requires("tag")
def queue(deployment_id: int):
    session = get_session()
    shown = _payloads(session, get_or_404(Deployment, deployment_id))
    index, _bad = shown.todo.position(request.args)
    return _queue_page(session, shown, index, SightingForm())


def _queue_page(session, shown: Payloads, index: int, form: SightingForm, status: int = 200):
    choices = load_choices(session)
    form.species_id.choices = _species_select(choices)
    data = shown.page(index, choices)
    page = render_template(
        "review/queue.html",
        deployment=shown.todo.deployment,
        queue=shown.todo,
        current=data["current"],
        following=data["next"],
        form=form,
        choices=choices,
        data=data,
        urls=data["urls"],
    )
    return page, status


@bp.route("/review/<int:deployment_id>/next")
@requires("tag")
def next_sequence(deployment_id: int):
    """A sequence as JSON, for review.js to preload (?after=), go back (?before=) or show (?at=)."""
    deployment = get_or_404(Deployment, deployment_id)
    shown = _payloads(get_session(), deployment)
    index, bad = shown.todo.position(request.args)
    if bad:
        return _refused({bad: f"No image {request.args[bad]!r} in deployment {deployment.id}."})
    return jsonify({"ok": True, "next": shown.at(index)})


@bp.route("/review/<int:deployment_id>/tag", methods=["POST"])
@requires("tag")
def tag(deployment_id: int):
    session = get_session()
    deployment = get_or_404(Deployment, deployment_id)
    choices = load_choices(session)
    form = _form(choices)
    form.validate_on_submit()  # the CSRF token; the domain checks the values
    blank = choices.blank if request.form.get("blank") else None
    try:
        images, sighting = _tag(session, deployment, form, blank)
    except InvalidInput as exc:
        session.rollback()
        return _tag_refused(session, deployment, form, exc)
    session.commit()
    last = images[-1].id
    if _wants_json():
        shown = _payloads(session, deployment)
        stay = request.form.get("stay") and blank is None
        following = shown.again(images) if stay else shown.at(shown.todo.index_after(last))
        return jsonify(shown.tagged(sighting, bool(form.new_individual.data), following))
    flash(f"Saved: {summary(sighting)} ({len(images)} images).", "info")
    return redirect(url_for("review.queue", deployment_id=deployment.id, after=last))


def _tag(session, deployment: Deployment, form: SightingForm, blank: Species | None):
    """The submitted burst tagged as the form says, with the photo-ID choice recorded."""
    another = bool(request.form.get("another"))
    images = tagging.images_to_tag(session, deployment, request.form.getlist("image_ids"), another)
    sighting = tagging.tag_burst(
        session,
        images,
        form.to_input(blank),
        current_user._get_current_object(),
        timestamp_confirmed=bool(form.confirm_timestamp.data),
        threshold=current_app.config["DETECTION_THRESHOLD"],
        box_id=parse_id(request.form.get("box_id")),
    )
    photoid.record_choice(session, sighting, request.form, form.new_individual.data, current_user)
    return images, sighting


def _tag_refused(session, deployment: Deployment, form: SightingForm, exc: InvalidInput):
    """Nothing was saved: the errors as JSON, or the queue page again at the same burst."""
    if _wants_json():
        return _refused(exc.errors)
    show_errors(form, exc)
    shown = _payloads(session, deployment)
    first = parse_id(request.form.get("image_ids"))
    return _queue_page(session, shown, shown.todo.index_at(first), form, 400)


# --- one sighting -----------------------------------------------------------------------------


def _sighting(sighting_id: int) -> Sighting:
    return get_or_404(
        Sighting,
        sighting_id,
        selectinload(Sighting.images),
        selectinload(Sighting.species),
        selectinload(Sighting.individual),
    )


@bp.route("/sightings/<int:sighting_id>/edit", methods=["GET", "POST"])
@requires("tag")
def edit_sighting(sighting_id: int):
    session = get_session()
    sighting = _sighting(sighting_id)
    choices = load_choices(session)
    form = _form(
        choices,
        species_id=str(sighting.species_id),
        individual_code=sighting.individual.code if sighting.individual else "",
        count=str(sighting.count),
        sex=sighting.sex or "",
        life_stage=sighting.life_stage or "",
        flank=sighting.flank or "",
        comments=sighting.comments,
    )
    images = in_order(sighting.images)
    if form.validate_on_submit():
        try:
            sightings.update_sighting(
                session, sighting, form.to_input(), actor=current_user._get_current_object()
            )
            photoid.record_choice(
                session, sighting, request.form, form.new_individual.data, current_user
            )
        except InvalidInput as exc:
            session.rollback()
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Sighting {sighting.id} saved: {summary(sighting)}.", "info")
            if images:
                return redirect(url_for("images.detail", image_id=images[0].id))
            return redirect(url_for("review.edit_sighting", sighting_id=sighting.id))
    status = 400 if form.is_submitted() else 200
    page = render_template(
        "review/edit.html", sighting=sighting, images=images, form=form, choices=choices,
        photoid_box=photoid.box_for(session, sighting),
    )  # fmt: skip
    return page, status


@bp.route("/sightings/<int:sighting_id>/delete", methods=["POST"])
@requires("tag")
def delete_sighting(sighting_id: int):
    session = get_session()
    sighting = _sighting(sighting_id)
    deployment = sighting.deployment
    images = in_order(sighting.images)
    text = summary(sighting)
    created = request.args.get("new_individual", type=int)
    actor = current_user._get_current_object()
    removed = tagging.untag(session, sighting, created, actor)
    if removed is not None:
        text += f"; new individual {removed} removed"
    session.commit()
    first = images[0].id if images else None
    if _wants_json():
        shown = _payloads(session, deployment)
        following = shown.at(shown.todo.index_at(first))
        return jsonify({"ok": True, "next": following, "removed_individual": removed})
    flash(f"Sighting {sighting_id} ({text}) deleted: its images are back in the queue.", "info")
    return redirect(url_for("review.queue", deployment_id=deployment.id, at=first))
