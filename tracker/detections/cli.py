"""`tracker detections`: import detector results from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker import fieldwork
from tracker.db import get_session
from tracker.errors import InvalidInput


@click.group("detections")
def detections_group() -> None:
    """Boxes found by a detector (MegaDetector batch output)."""


def _refuse(exc: InvalidInput) -> None:
    for where, message in exc.errors.items():
        click.echo(f"error: {where}: {message}", err=True)
    sys.exit(2)


@detections_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--deployment", "deployment_id", type=int, help="Deployment id.")
@click.option("--station", "station_code", help="Station code: its active deployment is used.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry, then a summary.")
@with_appcontext
def import_command(file: Path, deployment_id, station_code, as_json):
    """Import MegaDetector batch output (format 1.0 to 1.6) for a deployment's photos.

    Entries are matched to photos by their path on the card. Exit status: 0 when every entry
    matched a photo, 1 when some were unmatched or ambiguous, 2 on a usage error or a bad file.
    """
    from tracker.detections import importer, megadetector

    if (deployment_id is None) == (station_code is None):
        click.echo("error: give exactly one of --deployment ID or --station CODE", err=True)
        sys.exit(2)
    session = get_session()
    try:
        deployment = fieldwork.deployment_for_upload(session, deployment_id, station_code)
        with file.open("rb") as fh:
            output = megadetector.load(fh)
    except InvalidInput as exc:
        _refuse(exc)
    threshold = current_app.config["DETECTION_THRESHOLD"]
    report = importer.import_results(session, deployment, output, threshold, file.name)
    session.commit()
    _print(report, as_json)
    sys.exit(1 if report.not_matched else 0)


def _print(report, as_json: bool) -> None:
    if as_json:
        lines = [json.dumps(o.as_dict()) for o in report.outcomes]
        lines.append(json.dumps({"summary": report.summary}))
        click.echo("\n".join(lines))
        return
    for outcome in report.outcomes:
        if outcome.status != "matched":
            click.echo(f"{outcome.status}: {outcome.file}", err=True)
    s = report.summary
    click.echo(
        f"{report.detector}: {s['matched']} matched, {s['unmatched']} unmatched, "
        f"{s['ambiguous']} ambiguous, {s['failure']} failures; {s['boxes']} boxes, "
        f"{s['likely_empty']} photos likely empty at threshold {report.threshold:g}"
    )
