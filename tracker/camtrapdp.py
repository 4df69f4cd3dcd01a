"""Camtrap DP 1.0.2 packages: the field's exchange standard, which GBIF publishes directly.

`write` streams a zip: datapackage.json, deployments.csv, media.csv, observations.csv and an
extra `individuals` table (with its own Table Schema), plus the photos under media/ when asked.

- Observations come at both levels: one media-level row per sighting and image (with mediaID),
  and one event-level row per independent event (tracker.events; eventID links the two levels,
  and event rows can be summed). GBIF is told to publish the event level.
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

import csv
import io
import json
import math
import shutil
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from pyproj import Geod
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from tracker import clock, events, fieldwork
from tracker.errors import InvalidInput
from tracker.export import Filters, Options, generalise, register
from tracker.models import (
    Deployment,
    Image,
    Individual,
    IndividualCode,
    Sighting,
    Species,
    Station,
    User,
    sighting_image,
)

VERSION = "1.0.2"
BASE = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}"
PROFILE = f"{BASE}/camtrap-dp-profile.json"

DEPLOYMENT_FIELDS = (
    "deploymentID", "locationID", "locationName", "latitude", "longitude",
    "coordinateUncertainty", "deploymentStart", "deploymentEnd", "setupBy", "cameraID",
    "cameraModel", "cameraDelay", "cameraHeight", "cameraDepth", "cameraTilt", "cameraHeading",
    "detectionDistance", "timestampIssues", "baitUse", "featureType", "habitat",
    "deploymentGroups", "deploymentTags", "deploymentComments",
)  # fmt: skip
MEDIA_FIELDS = (
    "mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic",
    "fileName", "fileMediatype", "exifData", "favorite", "mediaComments",
)  # fmt: skip
OBSERVATION_FIELDS = (
    "observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
    "observationLevel", "observationType", "cameraSetupType", "scientificName", "count",
    "lifeStage", "sex", "behavior", "individualID", "individualPositionRadius",
    "individualPositionAngle", "individualSpeed", "bboxX", "bboxY", "bboxWidth", "bboxHeight",
    "classificationMethod", "classifiedBy", "classificationTimestamp",
    "classificationProbability", "observationTags", "observationComments",
)  # fmt: skip
INDIVIDUALS_SCHEMA = {
    "fields": [
        {"name": "individualID", "type": "string", "constraints": {"required": True},
         "description": "Code of the individual, as in observations.individualID."},
        {"name": "individualName", "type": "string"},
        {"name": "scientificName", "type": "string"},
        {"name": "sex", "type": "string", "constraints": {"enum": ["female", "male"]}},
        {"name": "formerIDs", "type": "string",
         "description": "Codes it was known by before a rename or a merge, pipe-separated."},
        {"name": "individualComments", "type": "string"},
    ],
    "primaryKey": ["individualID"],
    "missingValues": [""],
}  # fmt: skip
INDIVIDUAL_FIELDS = tuple(f["name"] for f in INDIVIDUALS_SCHEMA["fields"])

# Who publishes: the park's data, under a licence GBIF accepts. Edit here for another project.
PACKAGE_NAME = "amur-leopard-camera-traps"
TITLE = "Amur leopard camera traps, Land of the Leopard National Park"
PROJECT = {
    "title": "Camera-trap monitoring of the Amur leopard",
    "acronym": "LLNP",
    "description": (
        "Camera traps along trails and ridges of the Land of the Leopard National Park "
        "(Primorsky Krai, Russia). Individual leopards are told apart by their rosette "
        "patterns; `individualID` is the park's code for the animal."
    ),
    "samplingDesign": "targeted",
    "captureMethod": ["activityDetection"],
    "individualAnimals": True,
    "observationLevel": ["media", "event"],
}
CONTRIBUTORS = [
    {"title": "Land of the Leopard National Park", "role": "rightsHolder"},
    {"title": "Land of the Leopard National Park", "role": "publisher"},
]
LICENSES = [
    {"name": "CC-BY-NC-4.0", "path": "https://creativecommons.org/licenses/by-nc/4.0/",
     "scope": "data"},
    {"name": "CC-BY-NC-4.0", "path": "https://creativecommons.org/licenses/by-nc/4.0/",
     "scope": "media"},
]  # fmt: skip
RUSSIAN_NAMES = {
    "Panthera pardus orientalis": "дальневосточный леопард",
    "Panthera tigris altaica": "амурский тигр",
    "Cervus nippon": "пятнистый олень",
    "Capreolus pygargus": "сибирская косуля",
    "Sus scrofa": "кабан",
    "Lepus mandshuricus": "маньчжурский заяц",
    "Homo sapiens": "человек",
}
LIFE_STAGES = {"adult": "adult", "subadult": "subadult", "cub": "juvenile"}
NAMED_KINDS = ("animal", "human")  # kinds whose species name is a scientificName
GPS_UNCERTAINTY_M = 30  # a handheld GPS, as camtrapdp assumes when none is recorded
ONE_SECOND = timedelta(seconds=1)


# --- deployments: the periods a camera ran, shared with the capture histories ------------------


@dataclass(frozen=True)
class Span:
    """A deployment as exported: local dates (inclusive), clipped to the export's dates."""

    deployment: Deployment
    first: date
    last: date
    running: bool  # still deployed: `last` is the day of its latest photo or sighting

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.deployment.timezone)

    @cached_property
    def period(self) -> tuple[datetime, datetime | None]:
        """The whole deployment, unclipped, in UTC: a photo outside it has a wrong time."""
        return clock.period_utc(self.deployment)

    @cached_property
    def start(self) -> datetime:
        return clock.local_day_bounds(self.first, self.deployment.timezone)

    @cached_property
    def end(self) -> datetime:
        """The last whole second of the last day."""
        return clock.local_day_bounds(self.last + timedelta(days=1), self.deployment.timezone) - (
            ONE_SECOND
        )


def deployment_spans(session: Session, filters: Filters) -> list[Span]:
    """Deployments at the chosen stations that ran during the chosen dates, by station code."""
    query = (
        select(Deployment)
        .join(Station)
        .options(
            joinedload(Deployment.station),
            joinedload(Deployment.camera),
            selectinload(Deployment.outages),
        )
        .order_by(Station.code, Deployment.start_date, Deployment.id)
    )
    if filters.station_ids:
        query = query.where(Deployment.station_id.in_(filters.station_ids))
    if filters.date_to:
        query = query.where(Deployment.start_date <= filters.date_to)
    if filters.date_from:
        query = query.where(
            or_(Deployment.end_date.is_(None), Deployment.end_date >= filters.date_from)
        )
    deployments = session.scalars(query).all()
    known = fieldwork.known_until(session, deployments)
    spans = []
    for dep in deployments:
        last = dep.end_date or known[dep.id]
        first = max(dep.start_date, filters.date_from or dep.start_date)
        last = min(last, filters.date_to or last)
        if first <= last:
            spans.append(Span(dep, first, last, dep.end_date is None))
    return spans


def sighting_conditions(
    filters: Filters, options: Options, deployment_ids: list[int], *, dates: bool = True
) -> list:
    """Conditions on Sighting for the filters: species, individual, dates, exported deployments.

    Public exports leave people out: where and when a person passed a camera is theirs, and
    tells patrol (or poaching) patterns."""
    where = [Sighting.deployment_id.in_(deployment_ids)]
    if options.public:
        where.append(Sighting.species_id.not_in(select(Species.id).where(Species.kind == "human")))
    # Stations are already in the choice of deployments.
    return where + filters.conditions(options.timezone, stations=False, dates=dates)


def misdated_sightings(session: Session, where: list, spans: Iterable[Span]) -> set[int]:
    """Timed sightings that lie outside their deployment's period (a camera clock to fix)."""
    periods = {s.deployment.id: s.period for s in spans}
    rows = session.execute(
        select(Sighting.id, Sighting.deployment_id, Sighting.event_start, Sighting.event_end).where(
            Sighting.event_start.is_not(None), *where
        )
    )
    bad = set()
    for sid, dep_id, start, end in rows:
        first, after = periods[dep_id]
        if start < first or (after is not None and end >= after):
            bad.add(sid)
    return bad


# --- small formatting helpers --------------------------------------------------------------------


def stamp(moment: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in whole seconds with the zone's offset: 2024-03-10T22:15:00+10:00."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _text(value) -> str:
    return "" if value is None else str(value)


@cache
def cell_uncertainty(latitude: float, longitude: float, grid: float) -> int:
    """Metres from a grid cell's centre to its farthest corner, plus a GPS's error, rounded up:
    the smallest circle sure to hold a station that was moved to the centre of its cell."""
    geod = Geod(ellps="WGS84")
    half = grid / 2
    reach = max(
        geod.inv(longitude, latitude, longitude + dx, latitude + dy)[2]
        for dx in (-half, half)
        for dy in (-half, half)
    )
    return math.ceil(reach + GPS_UNCERTAINTY_M)


def member(name: str, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A zip entry dated now and readable by all (zipfile's defaults: 1980 and owner-only)."""
    info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
    info.compress_type = compress_type
    info.external_attr = 0o644 << 16
    return info


class _Table:
    """One CSV member of the zip, written row by row."""

    def __init__(self, archive: zipfile.ZipFile, name: str, header: Iterable[str]):
        self._raw = archive.open(member(name), "w")
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", newline="")
        self._writer = csv.writer(self._text, lineterminator="\n")
        self._writer.writerow(header)
        self.rows = 0

    def write(self, row: list) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> _Table:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


@dataclass
class _Tally:
    """What the package description reports, and its metadata needs, gathered while writing."""

    untimed_images: int = 0
    misdated_images: int = 0
    untimed_sightings: int = 0
    misdated_sightings: int = 0
    media: int = 0
    event_rows: int = 0
    media_rows: int = 0


# --- the writer ----------------------------------------------------------------------------------


@register("camtrap-dp", ".zip", "application/zip")
def write(
    session: Session,
    filters: Filters,
    out: BinaryIO,
    options: Options,
    media_dir: str | Path | None = None,
) -> int:
    """Write a Camtrap DP zip; returns the number of observation rows (both levels)."""
    if options.public and options.include_media:
        raise InvalidInput(
            {"include_media": "A public package never includes the photos (EXIF positions, "
             "people); export it without them."}
        )  # fmt: skip
    if options.public and not 0 < options.grid <= 1:
        raise InvalidInput({"grid": "The grid is a cell size in degrees, above 0 and at most 1."})
    if options.include_media and media_dir is None:
        from flask import current_app  # the writer's signature has no media folder

        media_dir = current_app.config["MEDIA_DIR"]
    writer = _Package(session, filters, options, media_dir)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer.write(archive)
    return writer.tally.event_rows + writer.tally.media_rows


class _Package:
    """The state of one export: spans, lookups, and what the metadata will say."""

    def __init__(self, session, filters: Filters, options: Options, media_dir):
        self.session, self.filters, self.options = session, filters, options
        self.media_dir = Path(media_dir) if media_dir else None
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
        self.people_images: set[int] = set()
        self.used_species: set[int] = set()
        self.used_individuals: set[int] = set()
        self.tally = _Tally()

    def write(self, archive: zipfile.ZipFile) -> None:
        self._deployments(archive)
        files = self._media(archive)
        for arcname, path in files:  # JPEGs are compressed already
            with (
                path.open("rb") as source,
                archive.open(member(arcname, zipfile.ZIP_STORED), "w") as target,
            ):
                shutil.copyfileobj(source, target)
        with _Table(archive, "observations.csv", OBSERVATION_FIELDS) as observations:
            self._event_observations(observations)
            self._media_observations(observations)
        self._individuals(archive)
        self._count_untimed()
        text = json.dumps(self._descriptor(), indent=2, ensure_ascii=False) + "\n"
        archive.writestr(member("datapackage.json"), text.encode())

    # deployments ---------------------------------------------------------------------------------

    def _position(self, station: Station) -> tuple[float, float, str]:
        if not self.options.public:
            return station.latitude, station.longitude, ""
        grid = self.options.grid
        lat, lon = generalise(station.latitude, grid), generalise(station.longitude, grid)
        return lat, lon, str(cell_uncertainty(lat, lon, grid))

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
        with _Table(archive, "deployments.csv", DEPLOYMENT_FIELDS) as table:
            for span in self.spans:
                row = self._deployment_row(span, span.deployment.id in issues)
                table.write([row.get(name, "") for name in DEPLOYMENT_FIELDS])

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
            "timestampIssues": _bool(issues),
            "deploymentComments": " ".join(comments),
        }

    # media ---------------------------------------------------------------------------------------

    def _placed(self, deployment_id: int, moment: datetime | None) -> str:
        """'ok', 'untimed', 'misdated' (outside its deployment) or 'out' (outside the export)."""
        if moment is None:
            return "untimed"
        span = self.by_deployment[deployment_id]
        first, after = span.period
        if moment < first or (after is not None and moment >= after):
            return "misdated"
        if not span.start <= moment.replace(microsecond=0) <= span.end:
            return "out"
        return "ok"

    def _chosen_images(self, where: list):
        """Images of the exported deployments; only the chosen animals' when a species or an
        individual is chosen (the other photos belong to no exported record)."""
        query = select(Image).where(Image.deployment_id.in_(list(self.by_deployment)))
        if self.filters.species_id is not None or self.filters.individual_id is not None:
            tagged = (
                select(sighting_image.c.image_id)
                .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
                .where(*where)
            )
            query = query.where(Image.id.in_(tagged))
        return query

    def _media_query(self):
        query = self._chosen_images(self.where)
        start, end = self.filters.utc_bounds(self.options.timezone)
        if start is not None:
            query = query.where(Image.taken_at_utc >= start)
        if end is not None:
            query = query.where(Image.taken_at_utc < end)
        return query.order_by(Image.deployment_id, Image.taken_at_utc, Image.original_filename)

    def _media(self, archive) -> list[tuple[str, Path]]:
        self.people_images = set(
            self.session.scalars(
                select(sighting_image.c.image_id)
                .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
                .join(Species, Species.id == Sighting.species_id)
                .where(
                    Species.kind == "human", Sighting.deployment_id.in_(list(self.by_deployment))
                )
            )
        )
        files = []
        with _Table(archive, "media.csv", MEDIA_FIELDS) as table:
            for image in self.session.scalars(
                self._media_query().execution_options(yield_per=1000)
            ):
                if self.options.public and image.id in self.people_images:
                    continue
                placed = self._placed(image.deployment_id, image.taken_at_utc)
                self.tally.misdated_images += placed == "misdated"
                if placed != "ok":
                    continue
                row = self._media_row(image)
                table.write([row.get(name, "") for name in MEDIA_FIELDS])
                if self.options.include_media:
                    files.append((row["filePath"], self._original(image)))
            self.tally.media = table.rows
        return files

    def _media_row(self, image: Image) -> dict:
        path, public = self._file(image)
        return {
            "mediaID": f"M{image.id}",
            "deploymentID": f"D{image.deployment_id}",
            "captureMethod": "activityDetection",
            "timestamp": stamp(image.taken_at_utc, self.by_deployment[image.deployment_id].zone),
            "filePath": path,
            "filePublic": _bool(public),
            "fileName": image.original_filename,
            "fileMediatype": "image/jpeg",
            "exifData": self._exif(image),
        }

    def _original(self, image: Image) -> Path:
        path = self.media_dir / image.stored_path
        if not path.is_file():
            raise InvalidInput(
                {"include_media": f"The original of image {image.id} "
                 f"({image.original_filename}) is missing from the media folder."}
            )  # fmt: skip
        return path

    def _file(self, image: Image) -> tuple[str, bool]:
        """Where the photo is, and whether anyone may see it there."""
        if self.options.include_media:
            # In the package; never public when it shows people.
            return f"media/{image.sha256}.jpg", image.id not in self.people_images
        if self.options.base_url:
            # The tracker's own address: only signed-in users can open it.
            return f"{self.options.base_url.rstrip('/')}/images/{image.id}/original", False
        return f"media/{image.sha256}.jpg", False  # named, not included

    def _exif(self, image: Image) -> str:
        data = {
            "Make": image.camera_make,
            "Model": image.camera_model,
            "DateTimeOriginal": image.taken_at_raw,
            "OffsetTimeOriginal": image.utc_offset,
        }
        if not self.options.public:
            data |= {
                "SerialNumber": image.camera_serial,
                "GPSLatitude": image.latitude,
                "GPSLongitude": image.longitude,
                "GPSAltitude": image.altitude,
            }
            data |= image.exif or {}
        data = {k: v for k, v in data.items() if v is not None}
        return json.dumps(data, ensure_ascii=False, sort_keys=True) if data else ""

    # observations --------------------------------------------------------------------------------

    def _individual(self, individual_id: int | None) -> Individual | None:
        if individual_id is None:
            return None
        if individual_id not in self.individuals:
            self.individuals[individual_id] = self.session.get(Individual, individual_id)
        self.used_individuals.add(individual_id)
        return self.individuals[individual_id]

    def _observation(self, species_id, individual_id, **given) -> list:
        species = self.species[species_id]
        individual = self._individual(individual_id)
        animal = species.kind in NAMED_KINDS
        if animal:
            self.used_species.add(species_id)
        sex = given.pop("sex", None)
        if individual is not None and individual.sex in ("female", "male"):
            sex = individual.sex  # the catalogue knows the animal best
        row = given | {
            "observationType": species.kind,
            "scientificName": species.scientific_name if animal else "",
            "count": "" if species.kind == "blank" else given.get("count", ""),
            "lifeStage": LIFE_STAGES.get(given.get("lifeStage") or "", ""),
            "sex": sex if sex in ("female", "male") else "",
            "individualID": individual.code if individual else "",
            "classificationMethod": "human",
        }
        if self.options.public:
            row["classifiedBy"] = row["observationComments"] = ""
        return [_text(row.get(name)) for name in OBSERVATION_FIELDS]

    def _event_observations(self, table: _Table) -> None:
        """One row per independent event; life stage and sex when its sightings agree."""
        se = self.events.c
        sex = case((Sighting.sex.in_(("female", "male")), Sighting.sex), else_=None)
        note = case((Sighting.comments == "", None), else_=Sighting.comments)
        grouped = (
            select(
                se.event_id,
                se.species_id,
                se.individual_id,
                func.min(se.event_start).label("start"),
                func.max(se.event_end).label("end"),
                func.max(se.count).label("count"),
                func.count().label("sightings"),
                func.min(Sighting.life_stage).label("stage_lo"),
                func.max(Sighting.life_stage).label("stage_hi"),
                func.min(sex).label("sex_lo"),
                func.max(sex).label("sex_hi"),
                func.aggregate_strings(note, " | ").label("comments"),
            )
            .join(Sighting, Sighting.id == se.sighting_id)
            .group_by(se.event_id, se.species_id, se.individual_id)
            .subquery("grouped")
        )
        g = grouped.c
        query = (
            select(grouped, Sighting.deployment_id, Sighting.logged_by_id, Sighting.logged_at)
            .join(Sighting, Sighting.id == g.event_id)  # the event's first sighting
            .order_by(g.start, g.event_id)
        )
        for row in self.session.execute(query.execution_options(yield_per=1000)):
            zone = self.by_deployment[row.deployment_id].zone
            table.write(
                self._observation(
                    row.species_id,
                    row.individual_id,
                    observationID=f"E{row.event_id}",
                    deploymentID=f"D{row.deployment_id}",
                    eventID=f"E{row.event_id}",
                    eventStart=stamp(row.start, zone),
                    eventEnd=stamp(row.end, zone),
                    observationLevel="event",
                    count=row.count,
                    lifeStage=row.stage_lo if row.stage_lo == row.stage_hi else None,
                    sex=row.sex_lo if row.sex_lo == row.sex_hi else None,
                    classifiedBy=self.users.get(row.logged_by_id, ""),
                    classificationTimestamp=utc_stamp(row.logged_at),
                    observationTags=f"sightings:{row.sightings}",
                    observationComments=row.comments,
                )
            )
        self.tally.event_rows = table.rows

    def _media_observations(self, table: _Table) -> None:
        """One row per sighting and photo, at the photo's time."""
        se = self.events.c
        query = (
            select(
                Sighting.id,
                Sighting.species_id,
                Sighting.individual_id,
                Sighting.count,
                Sighting.life_stage,
                Sighting.sex,
                Sighting.flank,
                Sighting.source,
                Sighting.comments,
                Sighting.logged_by_id,
                Sighting.logged_at,
                Image.id.label("image_id"),
                Image.deployment_id,
                Image.taken_at_utc,
                se.event_id,
            )
            .join(self.events, se.sighting_id == Sighting.id)
            .join(sighting_image, sighting_image.c.sighting_id == Sighting.id)
            .join(Image, Image.id == sighting_image.c.image_id)
            .where(Image.deployment_id.in_(list(self.by_deployment)))
            .order_by(Image.taken_at_utc, Image.id, Sighting.id)
        )
        before = table.rows
        for row in self.session.execute(query.execution_options(yield_per=1000)):
            if self._placed(row.deployment_id, row.taken_at_utc) != "ok":
                continue
            zone = self.by_deployment[row.deployment_id].zone
            moment = stamp(row.taken_at_utc, zone)
            tags = [f"flank:{row.flank}"] if row.flank else []
            table.write(
                self._observation(
                    row.species_id,
                    row.individual_id,
                    observationID=f"S{row.id}-M{row.image_id}",
                    deploymentID=f"D{row.deployment_id}",
                    mediaID=f"M{row.image_id}",
                    eventID=f"E{row.event_id}",
                    eventStart=moment,
                    eventEnd=moment,
                    observationLevel="media",
                    count=row.count,
                    lifeStage=row.life_stage,
                    sex=row.sex,
                    classifiedBy=self.users.get(row.logged_by_id, ""),
                    classificationTimestamp=utc_stamp(row.logged_at),
                    observationTags=" | ".join([*tags, f"source:{row.source}"]),
                    observationComments=row.comments,
                )
            )
        self.tally.media_rows = table.rows - before

    def _count_untimed(self) -> None:
        """Untimed photos and sightings of the exported deployments: no date can select them."""
        undated = sighting_conditions(
            self.filters, self.options, list(self.by_deployment), dates=False
        )
        images = self._chosen_images(undated).where(Image.taken_at_utc.is_(None))
        self.tally.untimed_images = self.session.scalar(
            select(func.count()).select_from(images.subquery())
        )
        self.tally.untimed_sightings = self.session.scalar(
            select(func.count())
            .select_from(Sighting)
            .where(Sighting.event_start.is_(None), *undated)
        )
        self.tally.misdated_sightings = len(self.misdated)

    # individuals and metadata --------------------------------------------------------------------

    def _individuals(self, archive) -> None:
        with _Table(archive, "individuals.csv", INDIVIDUAL_FIELDS) as table:
            ids = sorted(self.used_individuals)
            former: dict[int, list[str]] = {}
            for individual_id, code in self.session.execute(
                select(IndividualCode.individual_id, IndividualCode.code)
                .where(IndividualCode.individual_id.in_(ids))
                .order_by(IndividualCode.replaced_at, IndividualCode.id)
            ):
                former.setdefault(individual_id, []).append(code)
            for individual in sorted((self.individuals[i] for i in ids), key=lambda i: i.code):
                species = self.species[individual.species_id]
                table.write(
                    [
                        individual.code,
                        individual.name,
                        species.scientific_name,
                        individual.sex if individual.sex in ("female", "male") else "",
                        " | ".join(former.get(individual.id, [])),
                        "" if self.options.public else individual.notes,
                    ]
                )

    def _spatial(self) -> dict:
        points = {self._position(s.deployment.station)[:2] for s in self.spans}
        if not points:
            return {"type": "GeometryCollection", "geometries": []}
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        south, north, west, east = min(lats), max(lats), min(lons), max(lons)
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {"type": "Polygon", "coordinates": [ring]}

    def _temporal(self, today: date) -> dict:
        if self.spans:
            first = min(s.first for s in self.spans)
            last = max(s.last for s in self.spans)
        else:
            first = self.filters.date_from or self.filters.date_to or today
            last = self.filters.date_to or max(first, today)
        return {"start": first.isoformat(), "end": last.isoformat()}

    def _taxonomic(self) -> list[dict]:
        taxa = []
        for species in sorted(
            (self.species[i] for i in self.used_species), key=lambda s: s.scientific_name
        ):
            names = {"eng": species.common_name}
            if species.scientific_name in RUSSIAN_NAMES:
                names["rus"] = RUSSIAN_NAMES[species.scientific_name]
            entry = {"scientificName": species.scientific_name}
            words = len(species.scientific_name.split())
            if species.confirmed and words in (2, 3):
                entry["taxonRank"] = "species" if words == 2 else "subspecies"
            entry["vernacularNames"] = names
            taxa.append(entry)
        return taxa

    def _description(self) -> str:
        t, o = self.tally, self.options
        lines = [
            f"Camera-trap records exported by the tracker: {len(self.spans)} deployments, "
            f"{t.media} photos, {t.event_rows} independent events and {t.media_rows} "
            "photo-level observations.",
            f"Event-level observations are independent events: sightings of one species (and "
            f"one individual when identified) at one station less than {o.minutes} minutes "
            "apart. Their counts can be summed; photo-level observations repeat them per photo.",
        ]
        if self.filters.described and any(self.filters.described.values()):
            chosen = ", ".join(f"{k} {v}" for k, v in self.filters.described.items() if v)
            lines.append(f"Filtered: {chosen}.")
        left_out = [
            f"{_n(count, what)} {why.format(its='its' if count == 1 else 'their')}"
            for count, what, why in (
                (t.untimed_images, "photo", "without a usable capture time"),
                (t.misdated_images, "photo", "dated outside {its} deployment"),
                (t.untimed_sightings, "sighting", "without a time"),
                (t.misdated_sightings, "sighting", "dated outside {its} deployment"),
            )
            if count
        ]
        if left_out:
            lines.append(
                f"Left out until their camera clock is fixed: {'; '.join(left_out)}. Their "
                "deployments are marked timestampIssues."
            )
        if o.public:
            lines.append(
                f"Coordinates are generalised to the centre of a {o.grid} degree grid cell to "
                "protect a critically endangered, poached species; coordinateUncertainty is the "
                "cell's reach. Photo files, EXIF positions, station names, free-text comments "
                "and people are not included."
            )
        elif not o.include_media:
            lines.append(
                "Photo files are not included: filePath is the tracker's address of each photo "
                "(for signed-in users), or its name had the photos been included."
            )
        return "\n\n".join(lines)

    def _descriptor(self) -> dict:
        now = datetime.now(UTC)
        resources = [
            {
                "name": name,
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": f"{BASE}/{name}-table-schema.json",
            }
            for name in ("deployments", "media", "observations")
        ]
        resources.append(
            {
                "name": "individuals",
                "path": "individuals.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": "The identified animals in observations.individualID (not part "
                "of the Camtrap DP model).",
                "schema": INDIVIDUALS_SCHEMA,
            }
        )
        descriptor = {
            "resources": resources,
            "profile": PROFILE,
            "name": PACKAGE_NAME,
            "id": str(uuid.uuid4()),
            "created": utc_stamp(now),
            "title": TITLE,
            "contributors": CONTRIBUTORS,
            "description": self._description(),
            "version": "1.0",
            "keywords": ["camera traps", "Amur leopard", "Panthera pardus orientalis"],
            "sources": [{"title": "tracker", "version": _version()}],
            "licenses": LICENSES,
            "project": PROJECT,
            "spatial": self._spatial(),
            "temporal": self._temporal(now.date()),
            "taxonomic": self._taxonomic(),
            "gbifIngestion": {"observationLevel": "event"},
        }
        if self.options.public:
            descriptor["coordinatePrecision"] = self.options.grid
        return descriptor


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracker")
    except PackageNotFoundError:
        return "unknown"
