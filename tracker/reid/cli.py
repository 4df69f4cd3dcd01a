"""`tracker identify`: rank the catalogue's individuals for photos, by their coat pattern."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from tracker.db import get_session
from tracker.models import Image


def _describe(answer, top: int) -> str:
    if not answer.candidates:
        return f"{answer.image}: no candidate (no reference matched)"
    lines = [
        f"{answer.image}: box {answer.box}" + ("  probably new" if answer.probably_new else "")
    ]
    for n, c in enumerate(answer.candidates[:top], 1):
        lines.append(f"  {n}. {c.individual}  score {c.score:.3f}  reference image {c.reference}")
    return "\n".join(lines)


def _queries(session, images: tuple[str, ...], unidentified: bool) -> list:
    """Image ids and JPEG paths as ("id", Image) or ("path", str); refuses what is neither."""
    from tracker.reid import batch

    out: list = []
    for raw in images:
        if raw.isdigit():
            image = session.get(Image, int(raw))
            if image is None:
                raise click.UsageError(f"no image {raw} in the tracker")
            out.append(("id", image))
        elif Path(raw).is_file():
            out.append(("path", raw))
        else:
            raise click.UsageError(f"{raw!r} is neither an image id nor a readable file")
    if unidentified:
        config = current_app.config
        ids = batch.unidentified_images(session, config["PATTERN_SPECIES"])
        out += [("id", image) for image in session.scalars(select(Image).where(Image.id.in_(ids)))]
    return out


@click.command("identify")
@click.argument("images", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image, one a line.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--unidentified", is_flag=True, help="Also every unidentified patterned sighting.")
@with_appcontext
def identify_command(images: tuple[str, ...], as_json: bool, top: int, unidentified: bool):
    """Which known individual is this? IMAGE is an image id or a JPEG path (read, not stored)."""
    from tracker.reid import batch
    from tracker.reid.features import UnreadableImage

    if not images and not unidentified:
        raise click.UsageError("name at least one IMAGE (an id or a JPEG path), or --unidentified")
    session = get_session()
    queries = _queries(session, images, unidentified)
    config = current_app.config
    index = batch.catalogue_index(session, config)
    session.commit()  # features computed for references that had none are kept
    failed = False
    for kind, item in queries:
        try:
            answer = batch.answer(session, index, kind, item, config)
        except (UnreadableImage, OSError) as exc:
            label = item if kind == "path" else item.id
            click.echo(f"error: {label}: {exc}", err=True)
            failed = True
            continue
        click.echo(json.dumps(answer.as_json(top)) if as_json else _describe(answer, top))
    if failed:
        raise SystemExit(1)


@click.command("reference")
@click.argument("box_id", type=int)
@click.option("--unusable/--usable", default=True, help="Keep the box out of the references.")
@with_appcontext
def reference_command(box_id: int, unusable: bool) -> None:
    """Mark an animal box (annotation id) unusable as a photo-ID reference, or usable again."""
    from tracker.cli import fail
    from tracker.errors import InvalidInput
    from tracker.reid import store

    session = get_session()
    try:
        store.mark_unusable(session, box_id, unusable)
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(f"box {box_id}: {'unusable' if unusable else 'usable'} as a reference")
