"""Resumable card uploads (tus 1.0) and their status, for the upload page and for scripts.

POST /uploads/ creates an upload once its destination (metadata `deployment` or `station`) is
checked, before any byte; PATCH /uploads/<id> sends a chunk (and HEAD asks how far it got), and
the last chunk queues the card's import; GET /uploads/<id>/status answers JSON, and
GET /uploads/<id> is the result page. A bearer token works in place of the session.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user

from tracker import accounts
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import Upload, utcnow
from tracker.uploads import cards, destination, tus
from tracker.web import api

bp = Blueprint("uploads", __name__, url_prefix="/uploads")
api.protect(bp)


def _problem(status: int, message: str) -> Response:
    # Plain text: what tus clients (Uppy, tuspy) show of a refused request.
    return Response(message, status, {"Tus-Resumable": "1.0.0", "Content-Type": "text/plain"})


def uploader(view):
    """Signed in (session or token) with the right to upload, or a 401/403 answer."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return _problem(401, "Sign in, or send Authorization: Bearer <token>.")
        if not accounts.can(current_user, "upload"):
            return _problem(403, "Your role may not upload.")
        return view(*args, **kwargs)

    return wrapped


def _own_upload(upload_id: str) -> Upload:
    upload = get_session().get(Upload, upload_id)
    if upload is None:
        abort(404)
    if upload.user_id != current_user.id and not accounts.can(current_user, "manage"):
        abort(404)  # someone else's upload is not there for you
    return upload


def _tus(path: str) -> tuple[int, dict, bytes]:
    return tus.handle(
        current_app.config, request.method, path, dict(request.headers), request.get_data()
    )


@bp.route("/", methods=["POST"])
@uploader
def create():
    meta = tus.metadata(request.headers.get("Upload-Metadata", ""))
    if meta is None or not (meta.get("filename") or "").strip():
        return _problem(400, "Upload-Metadata must name the file: filename <base64>.")
    session = get_session()
    try:
        deployment, station = destination.check(
            session, meta.get("deployment"), meta.get("station")
        )
    except InvalidInput as exc:
        return _problem(422, "; ".join(exc.errors.values()))
    status, headers, body = _tus(tus.BASE_PATH + "/")
    if status == 201:
        cards.start(
            session, headers["Location"].rsplit("/", 1)[1], meta["filename"],
            int(request.headers["Upload-Length"]), deployment, station, current_user, utcnow(),
        )  # fmt: skip
        session.commit()
    return Response(body, status, headers)


@bp.route("/<upload_id>", methods=["HEAD", "PATCH", "DELETE"])
@uploader
def transfer(upload_id: str):
    upload = _own_upload(upload_id)
    status, headers, body = _tus(f"{tus.BASE_PATH}/{upload_id}")
    if request.method == "PATCH" and status == 204:
        progress = tus.progress(current_app.config, upload_id)
        if progress and progress["completed"]:
            session = get_session()
            cards.receive(
                session, current_app.config, upload, tus.file_path(current_app.config, upload_id),
                utcnow(),
            )  # fmt: skip
            session.commit()
    return Response(body, status, headers)


@bp.route("/<upload_id>/status")
@uploader
def status(upload_id: str):
    upload = _own_upload(upload_id)
    return jsonify(cards.status(get_session(), upload))


@bp.route("/<upload_id>")
@uploader
def result(upload_id: str):
    upload = _own_upload(upload_id)
    session = get_session()
    return render_template(
        "uploads/result.html",
        upload=upload,
        status=cards.status(session, upload),
        upload_files=cards.files_by_status(session, upload.id),
    )
