"""Images: upload (with a progress bar), a filterable grid, one photo's metadata, and its files.

Rangers and admins upload; every signed-in role browses. Uploaded file names are only ever shown:
the files are stored under their SHA-256 by `tracker.ingest`, and a download is named after the
base name of the original, cleaned of anything a header cannot carry.
"""

from __future__ import annotations

import io
import logging
import os
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from markupsafe import escape
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import contains_eager, joinedload
from werkzeug.security import safe_join
from wtforms import SelectField, StringField
from wtforms.validators import Length

from tracker import accounts, clock, fieldwork, imagelist, ingest, objectstore, previews, sources
from tracker.db import get_session
from tracker.detections import boxes as detection_boxes
from tracker.detections import jobs as detection_jobs
from tracker.detections import people
from tracker.errors import InvalidInput
from tracker.models import Deployment, Image, Sighting, Station, sighting_image
from tracker.sightings import TagRules
from tracker.web import get_or_404, library, options, requires
from tracker.web.forms import show_errors

bp = Blueprint("images", __name__)
log = logging.getLogger(__name__)

# Previews and originals never change for an id, but they are not public.
CACHE_CONTROL = "private, max-age=86400"


class UploadForm(FlaskForm):
    deployment = SelectField("Deployment", validate_choice=False)
    station = StringField("…or a station code (its active deployment)", validators=[Length(max=32)])
    files = MultipleFileField("Photos (JPEG) or a zip of a whole memory card")


# --- upload -----------------------------------------------------------------------------------


def deployment_label(deployment: Deployment) -> str:
    """Station code · start to end (or "active") · camera serial, as the upload form lists it."""
    end = deployment.end_date.isoformat() if deployment.end_date else "active"
    serial = deployment.camera.serial if deployment.camera and deployment.camera.serial else None
    return (
        f"{deployment.station.code} · {deployment.start_date.isoformat()}\N{EN DASH}{end} · "
        f"{serial or 'no camera serial'}"
    )


def _deployments(session) -> list[Deployment]:
    """Every deployment, active ones first, then by station and newest start."""
    query = (
        select(Deployment)
        .join(Deployment.station)
        .outerjoin(Deployment.camera)
        .options(contains_eager(Deployment.station), contains_eager(Deployment.camera))
        .order_by(
            Deployment.end_date.is_not(None),
            Station.code,
            Deployment.start_date.desc(),
            Deployment.id.desc(),
        )
    )
    return list(session.scalars(query))


def _upload_target(session, form: UploadForm) -> Deployment:
    """The chosen deployment, or the station's active one; InvalidInput says what is wrong."""
    chosen = (form.deployment.data or "").strip()
    code = (form.station.data or "").strip()
    if chosen:
        deployment_id = imagelist.parse_id(chosen)
        if deployment_id is None:
            raise InvalidInput({"deployment": "Choose a deployment from the list."})
        deployment = fieldwork.deployment_for_upload(session, deployment_id, None)
        if code and code != deployment.station.code:
            raise InvalidInput(
                {
                    "station": f"Deployment {deployment.id} is at station "
                    f"{deployment.station.code}, not {code}. Choose one or the other."
                }
            )
        return deployment
    if code:
        return fieldwork.deployment_for_upload(session, None, code)
    raise InvalidInput({"deployment": "Choose a deployment, or enter a station code."})


@bp.route("/upload", methods=["GET", "POST"])
@requires("upload")
def upload():
    session = get_session()
    form = UploadForm()
    if request.method == "GET":
        form.deployment.data = request.args.get("deployment", "")
        form.station.data = request.args.get("station", "")
    form.deployment.choices = [
        ("", "Choose a deployment…"),
        *((str(d.id), deployment_label(d)) for d in _deployments(session)),
    ]
    if form.validate_on_submit():
        files = form.files.data or []
        errors = {}
        if not files:
            errors["files"] = "Choose at least one photo (JPEG) or a zip file of a memory card."
        try:
            deployment = _upload_target(session, form)
        except InvalidInput as exc:
            errors.update(exc.errors)
        if not errors:
            results: list[tuple[str, bytes]] = []
            report = _ingest_uploads(session, files, deployment, results)
            queued = _queue_detections(session, deployment, results)
            return render_template("images/result.html", report=report, deployment=deployment,
                                   detections=queued)  # fmt: skip
        show_errors(form, InvalidInput(errors))
    status = 400 if form.is_submitted() else 200
    return render_template("images/upload.html", form=form), status


def _queue_detections(session, deployment: Deployment, results) -> list[tuple[str, int]]:
    """Detector results that came with the photos, imported by a job once they are stored."""
    actor = current_user._get_current_object()
    queued = []
    for name, data in results:
        job = detection_jobs.queue_import(
            session, current_app.config, deployment, name, data, actor
        )
        queued.append((name, job.id))
    session.commit()
    return queued


def _ingest_uploads(session, files, deployment: Deployment, results: list) -> ingest.IngestReport:
    limits = ingest.Limits(max_stored_bytes=current_app.config["MAX_STORED_MB"] * 1024 * 1024)
    zip_limits = sources.ZipLimits(max_file_bytes=limits.max_file_bytes)
    # The client's file name is a label for the report and the record, never a path.
    items = (
        item
        for sent in files
        for item in sources.file_item(sent.stream, sent.filename or "unnamed file", zip_limits)
    )
    return ingest.ingest(
        session,
        detection_jobs.divert(items, results),
        deployment,
        current_app.config["MEDIA_DIR"],
        user=current_user._get_current_object(),
        limits=limits,
        tag_rules=TagRules.from_config(current_app.config),
    )


# --- list -------------------------------------------------------------------------------------


def _choices(session) -> dict:
    """The station and deployment filters' options, rendered (kept by the library page)."""
    codes = session.scalars(select(Station.code).order_by(Station.code))
    deployments = _deployments(session)
    return {
        "station_options": options.render((code, code) for code in codes),
        "deployment_options": options.render(
            (d.id, f"{d.id} · {deployment_label(d)}") for d in deployments
        ),
    }


@bp.route("/images/")
@requires("view")
def index():
    """The library: its queries live in tracker.imagelist, its page in tracker.web.library."""
    session = get_session()
    return library.page(session, request.args, lambda: _choices(session))


# --- one image --------------------------------------------------------------------------------


def _neighbours(session, image: Image) -> tuple[int | None, int | None]:
    """The images just before and after this one in its deployment, by capture time (then id).

    Images without a capture time come after all the others, in id order.
    """
    same = Image.deployment_id == image.deployment_id
    taken, no_time = Image.taken_at_utc, Image.taken_at_utc.is_(None)

    def first(where, *order) -> int | None:
        return session.scalar(select(Image.id).where(same, where).order_by(*order).limit(1))

    if image.taken_at_utc is not None:
        t = image.taken_at_utc
        earlier = or_(taken < t, and_(taken == t, Image.id < image.id))
        later = or_(taken > t, and_(taken == t, Image.id > image.id))
        previous = first(earlier, taken.desc(), Image.id.desc())
        following = first(later, taken, Image.id) or first(no_time, Image.id)
    else:
        previous = first(and_(no_time, Image.id < image.id), Image.id.desc()) or first(
            taken.is_not(None), taken.desc(), Image.id.desc()
        )
        following = first(and_(no_time, Image.id > image.id), Image.id)
    return previous, following


def _maker_notes(notes) -> list[tuple[str, str]]:
    """The Reconyx maker-note facts worth showing, as (label, text)."""
    if not isinstance(notes, dict):
        return []
    facts = []
    number, count = notes.get("sequence_number"), notes.get("sequence_total")
    if number is not None and count is not None:
        facts.append(("Sequence", f"{number} of {count}"))
    if notes.get("trigger_mode"):
        facts.append(("Trigger mode", str(notes["trigger_mode"])))
    if notes.get("temperature_c") is not None:
        facts.append(("Temperature", f"{notes['temperature_c']} °C"))
    labels = (
        ("moon_phase", "Moon phase"),
        ("event_number", "Event number"),
        ("user_label", "Label set on the camera"),
        ("serial", "Serial (maker note)"),
        ("firmware", "Firmware"),
        ("layout", "Maker-note layout"),
    )
    facts += [(label, str(notes[key])) for key, label in labels if notes.get(key) is not None]
    return facts


def _time_zone_used(image: Image, deployment: Deployment) -> str:
    if clock.parse_offset(image.utc_offset):
        return f"the camera's own UTC offset {image.utc_offset}"
    return f"the deployment's time zone {deployment.timezone}"


@bp.route("/images/<int:image_id>")
@requires("view")
def detail(image_id: int):
    session = get_session()
    image = get_or_404(
        Image,
        image_id,
        joinedload(Image.deployment).joinedload(Deployment.station),
        joinedload(Image.deployment).joinedload(Deployment.camera),
        joinedload(Image.uploaded_by),
    )
    deployment = image.deployment
    sightings = session.scalars(
        select(Sighting)
        .join(sighting_image, sighting_image.c.sighting_id == Sighting.id)
        .where(sighting_image.c.image_id == image.id)
        .options(joinedload(Sighting.species), joinedload(Sighting.individual))
        .order_by(Sighting.event_start, Sighting.id)
    ).all()
    extras = image.exif if isinstance(image.exif, dict) else {}
    local = (
        image.taken_at_utc.astimezone(ZoneInfo(deployment.timezone)) if image.taken_at_utc else None
    )
    previous, following = _neighbours(session, image)
    return render_template(
        "images/detail.html",
        image=image,
        deployment=deployment,
        station=deployment.station,
        extras=extras,
        maker_notes=_maker_notes(extras.get("makernotes")),
        local_time=local,
        time_zone_used=_time_zone_used(image, deployment),
        sightings=sightings,
        previous=previous,
        following=following,
        boxes=[
            detection_boxes.as_dict(b)
            for b in detection_boxes.shown(session, [image.id], _threshold())
        ],
        original_allowed=_may_have_original(image.id),
        box_sightings=[_sighting_label(s) for s in sightings if s.species.kind != "blank"],
    )


def _sighting_label(sighting: Sighting) -> dict:
    """A sighting as a box may name it (several animals in one photo, a box each)."""
    code = f" {sighting.individual.code}" if sighting.individual else ""
    return {"id": sighting.id, "label": f"{sighting.id}: {sighting.species.common_name}{code}"}


def _threshold() -> float:
    return current_app.config["DETECTION_THRESHOLD"]


def _hidden_people(image_id: int) -> list:
    """The person boxes to blur for the signed-in user: none when their role may see people."""
    if accounts.can(current_user, "see_people"):
        return []
    return people.person_boxes(get_session(), [image_id], _threshold()).get(image_id, [])


def _may_have_original(image_id: int) -> bool:
    return not _hidden_people(image_id)


# --- files ------------------------------------------------------------------------------------


PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
    '<rect width="320" height="240" fill="#ddd"/><text x="160" y="125" font-family="sans-serif" '
    'font-size="13" text-anchor="middle" fill="#444">{label}</text></svg>\n'
)


def _send_preview(image_id: int, size: str):
    image = get_or_404(Image, image_id)
    media = current_app.config["MEDIA_DIR"]
    try:
        if objectstore.is_remote(media):
            path = io.BytesIO(previews.preview_bytes(media, image.sha256, size))
        else:
            path = previews.preview_path(media, image.sha256, size)
    except previews.FAILURES as exc:
        log.warning("no %s for image %s: %s", size, image.id, exc)
        why = "is missing" if isinstance(exc, FileNotFoundError) else "cannot be decoded"
        # An image, so that a grid or a page shows a grey tile that says so, not a broken one.
        return Response(
            PLACEHOLDER.format(label=escape(f"No {size}: the stored photo {why}")),
            404,
            mimetype="image/svg+xml",
            headers={"Cache-Control": "no-store"},
        )
    hidden = _hidden_people(image.id)
    if hidden:  # made per request: boxes and thresholds may change, and it must never be cached
        response = Response(people.blurred(path, hidden), mimetype="image/jpeg")
        response.headers["Cache-Control"] = "private, no-store"
        return response
    if isinstance(path, io.BytesIO):  # from the object store
        return Response(
            path.getvalue(), mimetype="image/jpeg", headers={"Cache-Control": CACHE_CONTROL}
        )
    response = send_file(path, mimetype="image/jpeg", conditional=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


@bp.route("/images/<int:image_id>/thumb")
@requires("view")
def thumb(image_id: int):
    return _send_preview(image_id, "thumb")


@bp.route("/images/<int:image_id>/preview")
@requires("view")
def preview(image_id: int):
    return _send_preview(image_id, "preview")


def download_name(image: Image) -> str:
    """The original's base name, with nothing a header or a file system would choke on."""
    base = image.original_filename.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c if c.isprintable() else "_" for c in base).strip()
    if base in ("", ".", ".."):
        return f"image-{image.id}.jpg"
    return base


@bp.route("/images/<int:image_id>/original")
@requires("view")
def original(image_id: int):
    image = get_or_404(Image, image_id)
    if not _may_have_original(image.id):
        abort(403)
    media = current_app.config["MEDIA_DIR"]
    if objectstore.is_remote(media):  # only to the signed in, and only for a minute
        return redirect(objectstore.presigned(media, image.stored_path, download_name(image)))
    path = safe_join(media, image.stored_path)
    if path is None or not os.path.isfile(path):
        log.error("image %s: original %s is missing", image.id, image.stored_path)
        return Response(
            f"The original file of image {image.id} is missing from the media folder.\n",
            404,
            mimetype="text/plain",
        )
    response = send_file(
        path,
        mimetype="image/jpeg",
        as_attachment=True,
        download_name=download_name(image),
        conditional=True,
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
