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

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

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
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField

from tracker import individuals, sightings
from tracker.db import get_session
from tracker.detections import boxes
from tracker.errors import InvalidInput
from tracker.models import (
    FLANKS,
    LEOPARD,
    LIFE_STAGES,
    SEXES,
    Deployment,
    Image,
    ImageCount,
    Individual,
    Sighting,
    Species,
    Station,
    sighting_image,
)
from tracker.review.queue import Queue
from tracker.web import get_or_404, photoid, requires
from tracker.web.forms import show_errors

bp = Blueprint("review", __name__)

QUICK_KEYS = 9  # species 1-9 on the keyboard
MAX_ID_DIGITS = 9
MAX_COUNT_DIGITS = 6
NO_TIME = datetime.min.replace(tzinfo=UTC)
KIND_ORDER = {"animal": 0, "human": 1, "vehicle": 2, "unknown": 3}


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
            species_id=_parse_id(self.species_id.data),
            individual_code=(self.individual_code.data or "").strip(),
            new_individual=bool(self.new_individual.data),
            individual_name=(self.individual_name.data or "").strip(),
            count=_parse_count(self.count.data),
            sex=self.sex.data or None,
            life_stage=self.life_stage.data or None,
            flank=self.flank.data or None,
            comments=self.comments.data or "",
        )


def _parse_id(text) -> int | None:
    text = (text or "").strip() if isinstance(text, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None


def _parse_count(text) -> int | None:
    """A whole number as typed; anything else is None, which the domain refuses by name."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_COUNT_DIGITS:
        return int(text)
    return None


@dataclass
class Choices:
    """The species a sighting may name, in the order a ranger wants them, and the codes."""

    species: list[Species]  # leopard first, other animals, people and the rest
    blank: Species | None
    codes: list[tuple[str, str]]  # (code, name) of every individual, for the datalist

    @property
    def quick(self) -> list[Species]:
        return self.species[:QUICK_KEYS]

    @property
    def leopard(self) -> Species | None:
        return next((s for s in self.species if s.scientific_name == LEOPARD), None)

    def select_choices(self) -> list[SelectChoice]:
        """The species select: blank stands apart from everything else, in a group of its own."""
        choices = [SelectChoice("", "Choose a species…")]
        choices += [
            SelectChoice(str(s.id), _label(s), optgroup="Seen in the photos") for s in self.species
        ]
        if self.blank is not None:
            blank = self.blank
            choices.append(SelectChoice(str(blank.id), blank.common_name, optgroup="Nothing there"))
        return choices


def _label(species: Species) -> str:
    return species.common_name + ("" if species.confirmed else " (unconfirmed)")


def _choices(session) -> Choices:
    everything = list(session.scalars(select(Species).where(~Species.retired)))
    blank = next((s for s in everything if s.kind == "blank"), None)

    def order(s: Species):
        return (
            s.scientific_name != LEOPARD,
            not s.confirmed,
            KIND_ORDER.get(s.kind, 9),
            s.common_name.lower(),
        )

    species = sorted((s for s in everything if s.kind != "blank"), key=order)
    codes = session.execute(select(Individual.code, Individual.name).order_by(Individual.code))
    return Choices(species=species, blank=blank, codes=[tuple(row) for row in codes])


def _form(choices: Choices, **values) -> SightingForm:
    form = SightingForm(**values)
    form.species_id.choices = choices.select_choices()
    return form


# --- the queue --------------------------------------------------------------------------------


def _load(session, deployment: Deployment) -> Queue:
    config = current_app.config
    return Queue.load(
        session, deployment, config["SEQUENCE_SECONDS"], config["DETECTION_THRESHOLD"]
    )


def _payload(session, todo: Queue, index: int) -> dict | None:
    """One sequence as review.js shows it (None past either end of the queue)."""
    if not 0 <= index < len(todo.groups):
        return None
    return _burst(session, todo, todo.groups[index], index)


def _again(session, todo: Queue, images: list[Image]) -> dict:
    """A burst just tagged, shown again for the next animal in it (a mother, then her cubs)."""
    payload = _burst(session, todo, images, todo.index_at(images[0].id))
    on_these = select(sighting_image.c.sighting_id).where(
        sighting_image.c.image_id.in_([i.id for i in images])
    )
    tagged = session.scalars(
        select(Sighting)
        .where(Sighting.id.in_(on_these))
        .options(selectinload(Sighting.species), selectinload(Sighting.individual))
        .order_by(Sighting.id)
    )
    return payload | {"again": True, "tagged": [_summary(s) for s in tagged]}


def _burst(session, todo: Queue, group: list, index: int) -> dict:
    zone = ZoneInfo(todo.deployment.timezone)
    times = [i.taken_at_utc for i in group if i.taken_at_utc is not None]
    first, last = group[0].id, group[-1].id
    found = boxes.shown(session, [i.id for i in group], current_app.config["DETECTION_THRESHOLD"])
    dep = todo.deployment.id
    return {
        "deployment_id": dep,
        "position": index + 1,
        "total": len(todo.groups),
        "untagged": todo.untagged,
        "likely_empty": todo.likely_empty,
        "images_total": len(todo.rank),
        "image_ids": [i.id for i in group],
        "first_id": first,
        "last_id": last,
        "span_seconds": int((max(times) - min(times)).total_seconds()) if times else None,
        "has_previous": index > 0,
        "has_next": index + 1 < len(todo.groups),
        "url": url_for("review.queue", deployment_id=dep, at=first),
        "previous_url": url_for("review.queue", deployment_id=dep, before=first),
        "next_url": url_for("review.queue", deployment_id=dep, after=last),
        "images": [_image(i, zone, found) for i in group],
        "timestamp_warning": sightings.timestamp_warning(group),
        "again": False,
        "tagged": [],
    }


def _image(image, zone: ZoneInfo, found: list) -> dict:
    """An image (or a row with its id, times, name and issue) as review.js shows it."""
    local = image.taken_at_utc.astimezone(zone) if image.taken_at_utc else None
    return {
        "id": image.id,
        "file_name": image.original_filename,
        "time_utc": image.taken_at_utc.isoformat() if image.taken_at_utc else None,
        "local_time": local.strftime("%Y-%m-%d %H:%M:%S") if local else None,
        "timestamp_issue": image.timestamp_issue,
        "preview_url": url_for("images.preview", image_id=image.id),
        "detail_url": url_for("images.detail", image_id=image.id),
        "boxes": [boxes.as_dict(b) for b in found if b.image_id == image.id],
        "boxes_url": url_for("boxes.create", image_id=image.id),
    }


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _refused(errors: dict[str, str], status: int = 400):
    return jsonify({"ok": False, "errors": errors}), status


def _position(todo: Queue) -> tuple[int, str | None]:
    """Which sequence the address asks for: (index, the parameter that was not understood)."""
    for name, locate in (
        ("at", todo.index_at),
        ("after", todo.index_after),
        ("before", todo.index_before),
    ):
        if name not in request.args:
            continue
        image_id = _parse_id(request.args[name])
        if image_id is None or image_id not in todo.rank:
            return 0, name
        return locate(image_id), None
    return 0, None


# --- pages ------------------------------------------------------------------------------------


@bp.route("/review/")
@requires("tag")
def index():
    # Photos and untagged photos per deployment, as the database keeps them (ImageCount).
    query = (
        select(Deployment, ImageCount.images, ImageCount.untagged)
        .join(Deployment.station)
        .join(ImageCount, ImageCount.deployment_id == Deployment.id)
        .where(ImageCount.images > 0)
        .options(contains_eager(Deployment.station))
        .order_by(Station.code, Deployment.start_date.desc(), Deployment.id.desc())
    )
    rows = [tuple(row) for row in get_session().execute(query)]
    rows.sort(key=lambda row: row[2] == 0)  # deployments with work left first, stable otherwise
    return render_template("review/index.html", rows=rows)


@bp.route("/review/<int:deployment_id>")
@requires("tag")
def queue(deployment_id: int):
    session = get_session()
    deployment = get_or_404(Deployment, deployment_id)
    todo = _load(session, deployment)
    index, _bad = _position(todo)
    return _queue_page(session, todo, index, SightingForm())


def _queue_page(session, todo: Queue, index: int, form: SightingForm, status: int = 200):
    choices = _choices(session)
    form.species_id.choices = choices.select_choices()
    current = _payload(session, todo, index)
    following = _payload(session, todo, index + 1) if current else None
    urls = {
        "queue": url_for("review.queue", deployment_id=todo.deployment.id),
        "tag": url_for("review.tag", deployment_id=todo.deployment.id),
        "next": url_for("review.next_sequence", deployment_id=todo.deployment.id),
    }
    data = {
        "urls": urls,
        "timezone": todo.deployment.timezone,
        "current": current,
        "next": following,
        "quick": [{"key": str(n), "id": s.id} for n, s in enumerate(choices.quick, 1)],
        "leopard_id": choices.leopard.id if choices.leopard else None,
        "blank_id": choices.blank.id if choices.blank else None,
    }
    page = render_template(
        "review/queue.html",
        deployment=todo.deployment,
        queue=todo,
        current=current,
        following=following,
        form=form,
        choices=choices,
        data=data,
        urls=urls,
    )
    return page, status


@bp.route("/review/<int:deployment_id>/next")
@requires("tag")
def next_sequence(deployment_id: int):
    """A sequence as JSON, for review.js to preload (?after=), go back (?before=) or show (?at=)."""
    session = get_session()
    deployment = get_or_404(Deployment, deployment_id)
    todo = _load(session, deployment)
    index, bad = _position(todo)
    if bad:
        return _refused({bad: f"No image {request.args[bad]!r} in deployment {deployment.id}."})
    return jsonify({"ok": True, "next": _payload(session, todo, index)})


def _images_to_tag(
    session, deployment: Deployment, another: bool = False
) -> tuple[list[Image], dict[str, str]]:
    """The submitted sequence: images of this deployment, none of them tagged yet (or, for
    another animal in them, none of them tagged blank)."""
    sent = request.form.getlist("image_ids")
    ids = [_parse_id(s) for s in sent]
    if not sent:
        return [], {"images": "No images were sent: reload the queue and try again."}
    if None in ids:
        return [], {"images": "Image ids must be whole numbers."}
    # Locked until the commit, so two people tagging the same burst cannot both succeed.
    images = list(
        session.scalars(
            select(Image)
            .where(Image.id.in_(ids))
            .order_by(*sightings.SEQUENCE_ORDER)
            .with_for_update(of=Image)
        )
    )
    foreign = sorted(set(ids) - {i.id for i in images if i.deployment_id == deployment.id})
    if foreign:
        return [], {"images": f"{_images(foreign)} not in deployment {deployment.id}."}
    tagged_ids = select(sighting_image.c.image_id).where(sighting_image.c.image_id.in_(ids))
    if another:  # more animals in photos already tagged: only a blank excludes them
        blank = select(Sighting.id).join(Species).where(Species.kind == "blank")
        tagged_ids = tagged_ids.where(sighting_image.c.sighting_id.in_(blank))
    tagged = sorted(session.scalars(tagged_ids.distinct()))
    if tagged and another:
        return [], {"images": f"{_images(tagged)} tagged blank: edit that sighting instead."}
    if tagged:
        return [], {
            "images": f"{_images(tagged)} already tagged (perhaps by someone else meanwhile). "
            "Edit the sighting instead, or go on with the queue."
        }
    return images, {}


def _images(ids: list[int]) -> str:
    """'Image 4 is' or 'Images 4, 5 are', to start a message."""
    listed = ", ".join(map(str, ids))
    return f"Image {listed} is" if len(ids) == 1 else f"Images {listed} are"


@bp.route("/review/<int:deployment_id>/tag", methods=["POST"])
@requires("tag")
def tag(deployment_id: int):
    session = get_session()
    deployment = get_or_404(Deployment, deployment_id)
    choices = _choices(session)
    form = _form(choices)
    form.validate_on_submit()  # the CSRF token; the domain checks the values
    blank = choices.blank if request.form.get("blank") else None
    images, errors = _images_to_tag(session, deployment, bool(request.form.get("another")))
    sighting = None
    if not errors:
        try:
            sighting = _tag(session, images, form.to_input(blank), form)
            photoid.record_choice(
                session, sighting, request.form, form.new_individual.data, current_user
            )
        except InvalidInput as exc:
            errors = exc.errors
    if errors:
        session.rollback()
        if _wants_json():
            return _refused(errors)
        show_errors(form, InvalidInput(errors))
        todo = _load(session, deployment)
        first = _parse_id(request.form.get("image_ids"))
        return _queue_page(session, todo, todo.index_at(first), form, 400)
    session.commit()
    last = images[-1].id
    if _wants_json():
        todo = _load(session, deployment)
        following = (
            _again(session, todo, images)
            if request.form.get("stay") and blank is None
            else _payload(session, todo, todo.index_after(last))
        )
        return jsonify(
            {
                "ok": True,
                "sighting_id": sighting.id,
                "summary": _summary(sighting),
                "undo_url": _undo_url(sighting, form),
                "edit_url": url_for("review.edit_sighting", sighting_id=sighting.id),
                "individual": _new_code(sighting, form),
                "next": following,
            }
        )
    flash(f"Saved: {_summary(sighting)} ({len(images)} images).", "info")
    return redirect(url_for("review.queue", deployment_id=deployment.id, after=last))


def _tag(session, images: list[Image], data: sightings.SightingInput, form) -> Sighting:
    """One sighting on the burst, with the box the ranger chose for it, if any."""
    actor = current_user._get_current_object()
    sighting = sightings.tag_images(
        session,
        images,
        data,
        actor=actor,
        timestamp_confirmed=bool(form.confirm_timestamp.data),
        box_threshold=current_app.config["DETECTION_THRESHOLD"],
    )
    box_id = _parse_id(request.form.get("box_id"))
    if box_id is not None and sighting.species.kind != "blank":
        boxes.tie(session, box_id, sighting, actor)
    return sighting


def _summary(sighting: Sighting) -> str:
    text = sighting.species.common_name
    if sighting.individual is not None:
        text += f" {sighting.individual.code}"
    if sighting.species.kind != "blank" and sighting.count != 1:
        text += f", count {sighting.count}"
    return text


def _undo_url(sighting: Sighting, form: SightingForm) -> str:
    """Deletes the sighting; and the individual created with it, unless it is in use by then."""
    created = sighting.individual_id if form.new_individual.data else None
    return url_for("review.delete_sighting", sighting_id=sighting.id, new_individual=created)


def _new_code(sighting: Sighting, form: SightingForm) -> dict | None:
    """A new individual created in place, for review.js to add to the code list."""
    if sighting.individual is None or not form.new_individual.data:
        return None
    return {"code": sighting.individual.code, "name": sighting.individual.name}


# --- one sighting -----------------------------------------------------------------------------


def _sighting(sighting_id: int) -> Sighting:
    return get_or_404(
        Sighting,
        sighting_id,
        selectinload(Sighting.images),
        selectinload(Sighting.species),
        selectinload(Sighting.individual),
    )


def _in_order(images: list[Image]) -> list[Image]:
    """A sighting's images in time order (those without a time last), for showing them."""
    return sorted(images, key=lambda i: (i.taken_at_utc is None, i.taken_at_utc or NO_TIME, i.id))


@bp.route("/sightings/<int:sighting_id>/edit", methods=["GET", "POST"])
@requires("tag")
def edit_sighting(sighting_id: int):
    session = get_session()
    sighting = _sighting(sighting_id)
    choices = _choices(session)
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
    images = _in_order(sighting.images)
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
            flash(f"Sighting {sighting.id} saved: {_summary(sighting)}.", "info")
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
    images = _in_order(sighting.images)
    summary = _summary(sighting)
    actor = current_user._get_current_object()
    individual = sighting.individual
    sightings.delete_sighting(session, sighting, actor=actor)
    created = request.args.get("new_individual", type=int)
    removed = None
    if (
        individual is not None
        and created == individual.id
        and individuals.discard_unused(session, individual, actor)
    ):
        removed = individual.code
        summary += f"; new individual {removed} removed"
    session.commit()
    first = images[0].id if images else None
    if _wants_json():
        todo = _load(session, deployment)
        return jsonify(
            {
                "ok": True,
                "next": _payload(session, todo, todo.index_at(first)),
                "removed_individual": removed,
            }
        )
    flash(f"Sighting {sighting_id} ({summary}) deleted: its images are back in the queue.", "info")
    return redirect(url_for("review.queue", deployment_id=deployment.id, at=first))
