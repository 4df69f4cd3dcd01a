"""Field set-up: stations, cameras and deployments, with the validation the forms and CLI share.

Every function takes the session, flushes, and leaves the commit to its caller. Bad input raises
InvalidInput with a message per field, before anything is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import audit, clock, upsert
from tracker.clock import MAX_CLOCK_OFFSET_S
from tracker.clockfix import recompute_times
from tracker.errors import InvalidInput
from tracker.models import Camera, Deployment, Image, Station, User

# Letters, digits and hyphens: a station code is a detector name in capture-recapture files,
# where spaces and underscores break the readers.
STATION_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
MAX_NAME = 120
MAX_NOTES = 5000
MAX_SERIAL = 64
# As ingest judges photo times: camera traps in this field are no older than this.
EARLIEST_DEPLOYMENT = date(1990, 1, 1)


def _check_station_fields(
    name: str, latitude: float | None, longitude: float | None, notes: str
) -> dict[str, str]:
    errors = {}
    if len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    if latitude is None or not math.isfinite(latitude) or not -90 <= latitude <= 90:
        errors["latitude"] = "Latitude must be a number from -90 to 90."
    if longitude is None or not math.isfinite(longitude) or not -180 <= longitude <= 180:
        errors["longitude"] = "Longitude must be a number from -180 to 180."
    if len(notes) > MAX_NOTES:
        errors["notes"] = f"Use at most {MAX_NOTES} characters."
    return errors


def _check_code(session: Session, code: str) -> dict[str, str]:
    if not STATION_CODE_RE.match(code):
        return {"code": "Use 1 to 32 letters, digits or hyphens, starting with a letter or digit."}
    existing = session.scalar(select(Station.code).where(func.lower(Station.code) == code.lower()))
    if existing == code:
        return {"code": f"Station {code} already exists."}
    if existing is not None:  # kp-01 beside KP-01: one detector to a reader, so one code
        return {
            "code": f"Station {existing} already exists (codes are compared regardless of case)."
        }
    return {}


def create_station(
    session: Session,
    *,
    code: str,
    latitude: float | None,
    longitude: float | None,
    name: str = "",
    notes: str = "",
    actor: User | None = None,
) -> Station:
    code, name, notes = code.strip(), name.strip(), notes.strip()
    errors = _check_code(session, code) | _check_station_fields(name, latitude, longitude, notes)
    if errors:
        raise InvalidInput(errors)
    station = Station(code=code, name=name, latitude=latitude, longitude=longitude, notes=notes)
    session.add(station)
    session.flush()
    audit.record(session, actor, "create", "station", station.id, code=code)
    return station


def update_station(
    session: Session,
    station: Station,
    *,
    name: str,
    latitude: float | None,
    longitude: float | None,
    notes: str = "",
    actor: User | None = None,
) -> dict:
    """Change a station's description; its code is stable and never changes."""
    name, notes = name.strip(), notes.strip()
    errors = _check_station_fields(name, latitude, longitude, notes)
    if errors:
        raise InvalidInput(errors)
    values = {"name": name, "latitude": latitude, "longitude": longitude, "notes": notes}
    diff = audit.changes(station, values)
    if diff:
        for key, value in values.items():
            setattr(station, key, value)
        audit.record(session, actor, "update", "station", station.id, changes=diff)
    return diff


def station_by_code(session: Session, code: str) -> Station:
    """The station with this code, whatever its letter case (codes are unique regardless)."""
    station = session.scalar(
        select(Station).where(func.lower(Station.code) == code.strip().lower())
    )
    if station is None:
        raise InvalidInput({"station": f"No station with code {code!r}."})
    return station


def valid_timezone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def camera_for_serial(session: Session, serial: str | None) -> Camera | None:
    """The camera with this serial number, registered on first use; None when unknown."""
    serial = (serial or "").strip()
    if not serial:
        return None
    camera = session.scalar(select(Camera).where(Camera.serial == serial))
    if camera is None:  # two admins may register the same camera at once: the index decides
        upsert.insert_one(session, Camera.__table__, {"serial": serial}, ["serial"])
        camera = session.scalar(select(Camera).where(Camera.serial == serial))
    return camera


# Editing any of these changes the deployment's images' corrected times or timestamp flags.
TIME_FIELDS = {"start_date", "end_date", "timezone", "clock_offset_s"}


@dataclass
class DeploymentInput:
    """What a person says about a deployment, before it is checked."""

    start_date: date | None
    end_date: date | None = None
    timezone: str = "Asia/Vladivostok"
    camera_serial: str = ""
    clock_offset_s: int = 0
    notes: str = ""
    # The day it is now in the deployment's zone, from the caller (the CLI or the view): dates
    # after it are refused. None only where no person typed the dates (demo data, tests).
    today: date | None = None


def _check_dates(data: DeploymentInput) -> dict[str, str]:
    """Refuse dates no camera was out on: before 1990, after today, an end before the start."""
    errors = {}
    if data.start_date is None:
        return {"start_date": "Enter the start date (YYYY-MM-DD)."}
    if data.start_date < EARLIEST_DEPLOYMENT:
        errors["start_date"] = f"A start before {EARLIEST_DEPLOYMENT.year} is not plausible."
    elif data.today is not None and data.start_date > data.today:
        errors["start_date"] = f"The start date is in the future (today is {data.today})."
    if data.end_date is not None and data.end_date < data.start_date:
        errors["end_date"] = "The deployment cannot end before it starts."
    elif data.end_date is not None and data.today is not None and data.end_date > data.today:
        errors["end_date"] = f"The end date is in the future (today is {data.today})."
    return errors


def _check_deployment(
    session: Session, data: DeploymentInput, deployment_id: int | None
) -> dict[str, str]:
    errors = _check_dates(data)
    if not valid_timezone(data.timezone):
        errors["timezone"] = f"{data.timezone!r} is not an IANA time zone (e.g. Asia/Vladivostok)."
    if len(data.camera_serial.strip()) > MAX_SERIAL:
        errors["camera_serial"] = f"Use at most {MAX_SERIAL} characters."
    if abs(data.clock_offset_s) > MAX_CLOCK_OFFSET_S:
        errors["clock_offset_s"] = "A clock correction of more than 60 years is not plausible."
    if len(data.notes) > MAX_NOTES:
        errors["notes"] = f"Use at most {MAX_NOTES} characters."
    if not errors and data.camera_serial.strip():
        clash = _camera_elsewhere(session, data, deployment_id)
        if clash is not None:
            errors["camera_serial"] = (
                f"Camera {data.camera_serial.strip()} is already deployed at station "
                f"{clash.station.code} from {clash.start_date} in that period."
            )
    return errors


def _camera_elsewhere(session, data: DeploymentInput, deployment_id) -> Deployment | None:
    """Another deployment of the same camera overlapping this period (a camera is in one place)."""
    query = (
        select(Deployment)
        .join(Camera)
        .where(Camera.serial == data.camera_serial.strip())
        .where((Deployment.end_date.is_(None)) | (Deployment.end_date >= data.start_date))
    )
    if data.end_date is not None:
        query = query.where(Deployment.start_date <= data.end_date)
    if deployment_id is not None:
        query = query.where(Deployment.id != deployment_id)
    return session.scalars(query.limit(1)).first()


def create_deployment(
    session: Session, station: Station, data: DeploymentInput, actor: User | None = None
) -> Deployment:
    errors = _check_deployment(session, data, None)
    if errors:
        raise InvalidInput(errors)
    deployment = Deployment(
        station=station,
        camera=camera_for_serial(session, data.camera_serial),
        start_date=data.start_date,
        end_date=data.end_date,
        timezone=data.timezone,
        clock_offset_s=data.clock_offset_s,
        notes=data.notes.strip(),
    )
    session.add(deployment)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "deployment",
        deployment.id,
        station=station.code,
        start=str(data.start_date),
        end=str(data.end_date) if data.end_date else None,
    )
    return deployment


def update_deployment(
    session: Session, deployment: Deployment, data: DeploymentInput, actor: User | None = None
) -> dict:
    errors = _check_deployment(session, data, deployment.id)
    if errors:
        raise InvalidInput(errors)
    camera = camera_for_serial(session, data.camera_serial)
    values = {
        "start_date": data.start_date,
        "end_date": data.end_date,
        "timezone": data.timezone,
        "clock_offset_s": data.clock_offset_s,
        "notes": data.notes.strip(),
        "camera_id": camera.id if camera else None,
    }
    diff = audit.changes(deployment, values)
    if diff:
        for key, value in values.items():
            setattr(deployment, key, value)
        audit.record(session, actor, "update", "deployment", deployment.id, changes=diff)
    if diff.keys() & TIME_FIELDS:
        # The images' corrected times and flags depend on these: recompute them now.
        recompute_times(session, deployment)
    return diff


class PhotosAfterEnd(InvalidInput):
    """Closing on this day would leave photos after the end; nothing was written."""

    def __init__(self, count: int, end_date: date):
        self.count = count
        super().__init__(
            {
                "confirm": f"{count} photo(s) were taken after {end_date}: closing on that day "
                "makes them timestamp issues, left out of every figure, map and export until the "
                "date or the camera clock is fixed. Tick “confirm” to close anyway."
            }
        )


def photos_after(session: Session, deployment: Deployment, end_date: date) -> int:
    """How many of the deployment's photos, with no timestamp issue yet, lie after ``end_date``."""
    after = clock.local_day_bounds(end_date + timedelta(days=1), deployment.timezone)
    return session.scalar(
        select(func.count(Image.id)).where(
            Image.deployment_id == deployment.id,
            Image.timestamp_issue.is_(None),
            Image.taken_at_utc >= after,
        )
    )


def close_deployment(
    session: Session,
    deployment: Deployment,
    end_date: date | None,
    actor: User | None = None,
    *,
    today: date | None = None,
    confirmed: bool = False,
) -> None:
    """End an active deployment on the day the camera was taken down.

    A day before its latest photo raises ``PhotosAfterEnd`` (with how many) unless ``confirmed``.
    """
    if deployment.end_date is not None:
        raise InvalidInput({"end_date": f"This deployment already ended on {deployment.end_date}."})
    data = DeploymentInput(
        start_date=deployment.start_date,
        end_date=end_date,
        timezone=deployment.timezone,
        camera_serial=deployment.camera.serial or "" if deployment.camera else "",
        clock_offset_s=deployment.clock_offset_s,
        notes=deployment.notes,
        today=today,
    )
    if end_date is None:
        raise InvalidInput({"end_date": "Enter the date the camera was taken down."})
    errors = _check_dates(data)
    if errors:
        raise InvalidInput(errors)
    stranded = photos_after(session, deployment, end_date)
    if stranded and not confirmed:
        raise PhotosAfterEnd(stranded, end_date)
    update_deployment(session, deployment, data, actor)


def deployment_for_upload(
    session: Session, deployment_id: int | None, station_code: str | None
) -> Deployment:
    """The deployment named by id, or the one active deployment at the station with that code."""
    if deployment_id is not None:
        deployment = session.get(Deployment, deployment_id)
        if deployment is None:
            raise InvalidInput({"deployment": f"No deployment with id {deployment_id}."})
        return deployment
    station = station_by_code(session, station_code or "")
    active = session.scalars(
        select(Deployment).where(Deployment.station_id == station.id, Deployment.end_date.is_(None))
    ).all()
    if not active:
        raise InvalidInput(
            {"station": f"Station {station.code} has no active deployment; choose a deployment."}
        )
    if len(active) > 1:
        ids = ", ".join(str(d.id) for d in active)
        raise InvalidInput(
            {
                "station": f"Station {station.code} has {len(active)} active deployments ({ids}); "
                "choose one."
            }
        )
    return active[0]
