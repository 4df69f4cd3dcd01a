"""Boxes on a photo, drawn, moved, resized and deleted from the review queue and image page.

JSON in and out (boxes.js sends them with fetch and the page's CSRF token in a header).
"""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request
from flask_login import current_user

from tracker.db import get_session
from tracker.detections import boxes
from tracker.errors import InvalidInput
from tracker.models import Annotation, Image
from tracker.web import get_or_404, requires

bp = Blueprint("boxes", __name__)


def _form_body() -> dict:
    """The same fields from a plain form post, the bbox written as JSON text."""
    body = dict(request.form.items())
    try:
        body["bbox"] = json.loads(body.get("bbox") or "null")
    except ValueError:
        body["bbox"] = None
    return body


def _input() -> boxes.BoxInput:
    body = request.get_json(silent=True) if request.is_json else _form_body()
    body = body if isinstance(body, dict) else {}
    sighting = body.get("sighting_id")
    return boxes.BoxInput(
        bbox=body.get("bbox"),
        category=body.get("category") or "animal",
        sighting_id=sighting
        if isinstance(sighting, int) and not isinstance(sighting, bool)
        else None,
        flank=body.get("flank") or None,
    )


def _answer(change, *args):
    session = get_session()
    try:
        result = change(session, *args, current_user._get_current_object())
    except InvalidInput as exc:
        session.rollback()
        return jsonify({"ok": False, "errors": exc.errors}), 400
    session.commit()
    return jsonify({"ok": True, "box": boxes.as_dict(result) if result else None})


@bp.route("/images/<int:image_id>/boxes", methods=["POST"])
@requires("tag")
def create(image_id: int):
    return _answer(boxes.draw, get_or_404(Image, image_id), _input())


@bp.route("/boxes/<int:box_id>", methods=["POST"])
@requires("tag")
def update(box_id: int):
    box = get_or_404(Annotation, box_id)

    def change(session, box, data, actor):
        boxes.correct(session, box, data, actor)
        return box

    return _answer(change, box, _input())


@bp.route("/boxes/<int:box_id>/delete", methods=["POST"])
@requires("tag")
def delete(box_id: int):
    return _answer(boxes.delete, get_or_404(Annotation, box_id))
