"""Camtrap DP 1.0.2 packages: the field's exchange standard, which GBIF publishes directly.

`write` streams a zip: datapackage.json, deployments.csv, media.csv, observations.csv and an
extra `individuals` table (with its own Table Schema), plus the photos under media/ when asked.

- Observations come at both levels: one media-level row per sighting and image (with mediaID,
  and the box a person tied to the sighting there), and one event-level row per independent
  event (tracker.events; eventID links the two levels, and event rows can be summed). GBIF is
  told to publish the event level. Detector boxes no person has looked at are media-level rows
  of their own, classified by the machine (tracker.exports.camtrapdp_boxes).
- Times are whole seconds with the deployment's UTC offset. Deployments run from local midnight
  of their start date to 23:59:59 of their end date, clipped to the export's dates; a deployment
  still running ends on the day of its latest photo or sighting, the last day it is known to work.
- Photos with no usable time (a reset clock) or dated outside their deployment cannot be placed
  in time: they, and sightings resting on them, are left out until the clock is fixed in the
  tracker. The deployment is flagged `timestampIssues` and the package description counts them.
- Public packages put each station at the centre of its grid cell, declare the grid as
  `coordinatePrecision` and the cell's reach as `coordinateUncertainty`, and leave out whatever
  could lead back to the exact place: EXIF positions, photo files, station names and free text.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tracker import events
from tracker.detections import people
from tracker.errors import InvalidInput
from tracker.exports.archive import CsvMember, member
from tracker.exports.camtrapdp_boxes import BoxRows
from tracker.exports.camtrapdp_media import MediaRows
from tracker.exports.camtrapdp_metadata import PackageMetadata
from tracker.exports.camtrapdp_observations import ObservationRows
from tracker.exports.camtrapdp_schema import (
    DEPLOYMENT_FIELDS,
    OBSERVATION_FIELDS,
    as_bool,
    cell_uncertainty,
    stamp,
)
from tracker.exports.core import Filters, Options
from tracker.exports.spans import Span, deployment_spans, misdated_sightings, sighting_conditions
from tracker.models import Image, Individual, Sighting, Species, Station, User


@dataclass
class _Tally:
    """What the package description reports, and its metadata needs, gathered while writing."""

    untimed_images: int = 0
    misdated_images: int = 0
    untimed_sightings: int = 0
    misdated_sightings: int = 0
    in_outage_images: int = 0  # photos dated on a day their camera was recorded as not working
    in_outage_events: int = 0
    media: int = 0
    event_rows: int = 0
    media_rows: int = 0
    machine_rows: int = 0  # detector boxes no person looked at


def write(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Write a Camtrap DP zip; returns the number of observation rows (both levels)."""
    if options.public and options.include_media:
        raise InvalidInput(
            {"include_media": "A public package never includes the photos (EXIF positions, "
             "people); export it without them."}
        )  # fmt: skip
    if not options.include_media and not options.base_url:
        raise InvalidInput(
            {"base_url": "filePath must point at the photos: give the tracker's address "
             "(--base-url, or TRACKER_BASE_URL), or put the photos in the package "
             "(--include-media)."}
        )  # fmt: skip
    if options.include_media and options.media_dir is None:
        raise InvalidInput({"include_media": "No media folder is configured to take photos from."})
    writer = _Package(session, filters, options)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer.write(archive)
    tally = writer.tally
    return tally.event_rows + tally.media_rows + tally.machine_rows


class _Package(MediaRows, ObservationRows, BoxRows, PackageMetadata):
    """The state of one export: spans, lookups, and what the metadata will say."""

    def __init__(self, session, filters: Filters, options: Options):
        self.session, self.filters, self.options = session, filters, options
        self.media_dir = options.media_dir
        # Zip members are dated in the park's time at the moment of the export.
        self.zip_time = options.moment.astimezone(ZoneInfo(options.timezone))
        self.spans = deployment_spans(session, filters)
        self.by_deployment = {s.deployment.id: s for s in self.spans}
        ids = list(self.by_deployment)
        self.where = sighting_conditions(filters, options, ids)
        self.misdated = misdated_sightings(session, self.where, self.spans)
        event_where = self.where + (
            [Sighting.id.not_in(sorted(self.misdated))] if self.misdated else []
        )
        self.events = events.sighting_events(options.minutes, event_where).subquery("se")
        self.species = {s.id: s for s in session.scalars(select(Species))}
        self.individuals: dict[int, Individual] = {}
        self.users = (
            {} if options.public else dict(session.execute(select(User.id, User.email)).all())
        )
        self.people_images: set[int] = set()  # never public: people or vehicles
        self.people_sighted: set[int] = set()  # with a sighting of people
        self.blurred: set[int] = set()  # packaged with people blurred
        self.used_species: set[int] = set()
        self.used_individuals: set[int] = set()
        self.tally = _Tally()

    def write(self, archive: zipfile.ZipFile) -> None:
        self._deployments(archive)
        files = self._media(archive)
        hidden = self._blurred_boxes([image_id for _, _, image_id in files])
        for arcname, path, image_id in files:  # JPEGs are compressed already
            stored = member(arcname, self.zip_time, zipfile.ZIP_STORED)
            if image_id in hidden:
                archive.writestr(stored, people.blurred(path, hidden[image_id]))
                continue
            with path.open("rb") as source, archive.open(stored, "w") as target:
                shutil.copyfileobj(source, target)
        with self._table(archive, "observations.csv", OBSERVATION_FIELDS) as observations:
            self._event_observations(observations)
            self._media_observations(observations)
            self._machine_observations(observations)
        self._individuals(archive)
        self._count_untimed()
        text = json.dumps(self._descriptor(), indent=2, ensure_ascii=False) + "\n"
        archive.writestr(member("datapackage.json", self.zip_time), text.encode())

    def _blurred_boxes(self, image_ids: list[int]) -> dict[int, list]:
        """{image id: boxes to blur} of the packaged photos of people: their person boxes, or
        the whole frame when a sighting says people but no box shows where."""
        ids = [i for i in image_ids if i in self.blurred]
        found = people.person_boxes(self.session, ids, self.options.detection_threshold)
        whole = {i: [(0.0, 0.0, 1.0, 1.0)] for i in ids if i in self.people_sighted}
        return whole | found

    def _table(self, archive: zipfile.ZipFile, name: str, header) -> CsvMember:
        return CsvMember(archive, name, header, self.zip_time)

    # deployments ---------------------------------------------------------------------------------

    def _position(self, station: Station) -> tuple[float, float, str]:
        if not self.options.public:
            return station.latitude, station.longitude, ""
        lat, lon = self.options.policy.place(station.latitude, station.longitude)
        return lat, lon, str(cell_uncertainty(lat, lon, self.options.grid))

    def _timestamp_issues(self) -> set[int]:
        """Deployments with photos whose time is missing or outside the deployment."""
        rows = self.session.execute(
            select(Image.deployment_id, func.count())
            .where(
                Image.deployment_id.in_(list(self.by_deployment)),
                or_(Image.taken_at_utc.is_(None), Image.timestamp_issue.is_not(None)),
            )
            .group_by(Image.deployment_id)
        )
        return {dep_id for dep_id, n in rows if n}

    def _deployments(self, archive) -> None:
        issues = self._timestamp_issues()
        with self._table(archive, "deployments.csv", DEPLOYMENT_FIELDS) as table:
            for span in self.spans:
                row = self._deployment_row(span, span.deployment.id in issues)
                for number, piece in enumerate(span.pieces, 1):
                    part = dict(row)
                    part |= {
                        "deploymentID": piece.deployment_id,
                        "deploymentStart": stamp(piece.start, span.zone),
                        "deploymentEnd": stamp(piece.end, span.zone),
                    }
                    if len(span.pieces) > 1 or piece.deployment_id != f"D{span.deployment.id}":
                        part["deploymentComments"] = (
                            f"Part {number} of {len(span.pieces)} of deployment "
                            f"{span.deployment.id}, split around the days its camera was not "
                            f"working. {row['deploymentComments']}"
                        ).strip()
                    table.write([part.get(name, "") for name in DEPLOYMENT_FIELDS])

    def _deployment_row(self, span: Span, issues: bool) -> dict:
        dep, station, camera = span.deployment, span.deployment.station, span.deployment.camera
        lat, lon, uncertainty = self._position(station)
        comments = []
        if dep.clock_offset_s:
            comments.append(f"Camera clock corrected by {dep.clock_offset_s:+d} s.")
        if span.running:
            comments.append("Still deployed: ends on the day of its latest photo or sighting.")
        for outage in dep.outages:
            until = f"to {outage.end_date}" if outage.end_date else "until it was taken down"
            why = f" ({outage.reason})" if outage.reason and not self.options.public else ""
            comments.append(f"Camera not working from {outage.start_date} {until}{why}.")
        if dep.notes and not self.options.public:
            comments.append(dep.notes)
        return {
            "deploymentID": f"D{dep.id}",
            "locationID": station.code,
            "locationName": "" if self.options.public else station.name,
            "latitude": lat,
            "longitude": lon,
            "coordinateUncertainty": uncertainty,
            "deploymentStart": stamp(span.start, span.zone),
            "deploymentEnd": stamp(span.end, span.zone),
            "cameraID": (camera and camera.serial) or "",
            "cameraModel": "-".join(p for p in (camera.make, camera.model) if p) if camera else "",
            "timestampIssues": as_bool(issues),
            "deploymentComments": " ".join(comments),
        }
