"""What every export format shares: the filters a person typed, checked, and the options.

Each format is a writer `write(session, filters, out, options) -> rows` (the list of them is in
tracker.exports.formats) that streams to a binary file object `out` and returns how many data
rows it wrote. Everything a writer needs from outside comes in its Options: the media folder,
the moment of the export, the publisher; no writer reads Flask's app or the clock. Bad filters
raise InvalidInput (exit status 2 on the command line); an empty result is a valid file with its
headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tracker import clock, eventstore, individuals
from tracker.detections.boxes import DEFAULT_THRESHOLD
from tracker.errors import InvalidInput
from tracker.exports.publisher import Publisher
from tracker.models import Deployment, Sighting, Species, Station
from tracker.public import DEFAULT_GRID, PublicPolicy


@dataclass(frozen=True)
class Filters:
    """What to export: a date range (local dates, inclusive), stations, a species, an individual.

    Built from what a person typed by `Filters.parse`, which resolves names to ids.
    """

    date_from: date | None = None
    date_to: date | None = None
    station_ids: tuple[int, ...] = ()
    species_id: int | None = None
    individual_id: int | None = None
    # As typed, for the audit log and file names.
    described: dict = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        session: Session,
        *,
        date_from: str | date | None = None,
        date_to: str | date | None = None,
        stations: list[str] | tuple[str, ...] = (),
        species: str | None = None,
        individual: str | None = None,
    ) -> Filters:
        errors: dict[str, str] = {}
        start = _date(date_from, "from", errors)
        end = _date(date_to, "to", errors)
        if start and end and start > end:
            errors["to"] = f"The end date {end} is before the start date {start}."
        station_ids = _stations(session, stations, errors)
        species_id = _species(session, species, errors)
        individual_id = None
        if individual:
            found = individuals.find(session, individual)
            if found is None:
                errors["individual"] = f"No individual with code {individual}."
            else:
                individual_id = found.id
        if errors:
            raise InvalidInput(errors)
        described = {
            "from": str(start) if start else None,
            "to": str(end) if end else None,
            "stations": list(stations),
            "species": species or None,
            "individual": individual or None,
        }
        return cls(start, end, station_ids, species_id, individual_id, described)

    def utc_bounds(self, timezone: str) -> tuple[datetime | None, datetime | None]:
        """The dates as UTC instants: local midnight of `from` to local midnight after `to`."""
        start = clock.local_day_bounds(self.date_from, timezone) if self.date_from else None
        end = None
        if self.date_to:
            end = clock.local_day_bounds(self.date_to + timedelta(days=1), timezone)
        return start, end

    def conditions(self, timezone: str, *, stations: bool = True, dates: bool = True) -> list:
        """The filters as conditions on Sighting (and Deployment, for stations)."""
        found = []
        if dates:
            found += self.date_conditions(timezone)
        if stations and self.station_ids:
            found.append(Deployment.station_id.in_(self.station_ids))
        found += self.group_conditions(eventstore.LIVE, stations=False)
        return found

    def date_conditions(self, timezone: str) -> list:
        """The dates as conditions on Sighting."""
        start, end = self.utc_bounds(timezone)
        found = []
        if start is not None:
            found.append(Sighting.event_start >= start)
        if end is not None:
            found.append(Sighting.event_start < end)
        return found

    def group_conditions(self, key: eventstore.Key, *, stations: bool = True) -> list:
        """The stations, species and individual as conditions on a group's key (an
        eventstore.GroupFilter: they keep or drop whole groups of events)."""
        found = []
        if stations and self.station_ids:
            found.append(key.station_id.in_(self.station_ids))
        if self.species_id is not None:
            found.append(key.species_id == self.species_id)
        if self.individual_id is not None:
            found.append(key.individual_id == self.individual_id)
        return found


def _date(value: str | date | None, name: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = f"{value!r} is not a date in the form YYYY-MM-DD."
        return None


def _stations(session: Session, codes, errors: dict) -> tuple[int, ...]:
    wanted = [c.strip() for c in codes if c and c.strip()]
    if not wanted:
        return ()
    found = dict(
        session.execute(select(Station.code, Station.id).where(Station.code.in_(wanted))).all()
    )
    missing = [c for c in wanted if c not in found]
    if missing:
        errors["stations"] = f"No station with code {', '.join(missing)}."
    return tuple(found[c] for c in wanted if c in found)


def _species(session: Session, name: str | None, errors: dict) -> int | None:
    if not name:
        return None
    match = func.lower(name.strip())
    found = session.scalar(
        select(Species.id).where(
            (func.lower(Species.scientific_name) == match)
            | (func.lower(Species.common_name) == match)
        )
    )
    if found is None:
        errors["species"] = f"No species called {name!r} (scientific or common name)."
    return found


@dataclass(frozen=True)
class Options:
    """How to write: for the public (tracker.public's policy, at `grid`) or for the team."""

    public: bool = False
    grid: float = DEFAULT_GRID  # degrees, for public exports
    minutes: int = 30  # independent-event window
    timezone: str = "Asia/Vladivostok"
    occasion_days: int = 1  # capture histories
    base_url: str = ""  # media URLs in Camtrap DP, when images are not included
    per_station: bool = False  # GeoJSON: one feature per station instead of per sighting
    events: bool = False  # CSV: one row per independent event instead of per sighting
    include_media: bool = False  # Camtrap DP: put the image files in the package
    media_dir: Path | None = None  # where the originals are (Camtrap DP with include_media)
    detection_threshold: float = DEFAULT_THRESHOLD  # TRACKER_DETECTION_THRESHOLD
    # Camtrap DP with include_media: photos of people with their person boxes blurred (the
    # whole frame when a sighting says people but no box shows where), as every page shows
    # them to a role without see_people.
    blur_people: bool = True
    now: datetime | None = None  # the moment of the export (UTC), read at the edge
    publisher: Publisher = field(default_factory=Publisher)  # Camtrap DP's metadata
    # Capture histories: the researcher's sessions (tracker.exports.capthist.SessionSpec), the
    # name of the one session when none is given (TRACKER_PARK_CODE), and a projected CRS
    # (TRACKER_CRS; empty: the UTM zone of the stations' centroid).
    sessions: tuple = ()
    park_code: str = "survey"
    crs: str = ""

    @property
    def moment(self) -> datetime:
        """The moment of the export; the edge (CLI command or view) sets it."""
        if self.now is None:
            raise ValueError("Options.now is not set: the caller reads the clock, not a writer")
        return self.now

    @property
    def policy(self) -> PublicPolicy:
        """The public policy at this export's grid (applied when `public`)."""
        return PublicPolicy(self.grid)

    def shown(self) -> list:
        """Conditions on Sighting: in public, no people or vehicles."""
        return [self.policy.shown()] if self.public else []

    def shown_groups(self, key: eventstore.Key) -> list:
        """`shown` as conditions on a group's key (an eventstore.GroupFilter)."""
        return [key.species_id.not_in(self.policy.private_species())] if self.public else []

    @property
    def today(self) -> date:
        """The park's date at the moment of the export: nothing is counted beyond it."""
        return self.moment.astimezone(ZoneInfo(self.timezone)).date()


def options_from_config(config: Mapping, now: datetime, **changes) -> Options:
    """Options from the app's settings (time zone, event window, public grid, media folder,
    publisher) and the moment of the export, then `changes`."""
    settings = {
        "timezone": config.get("TIMEZONE", Options.timezone),
        "minutes": int(config.get("EVENT_MINUTES", Options.minutes)),
        "grid": float(config.get("PUBLIC_GRID", Options.grid)),
        "media_dir": Path(config["MEDIA_DIR"]) if config.get("MEDIA_DIR") else None,
        "detection_threshold": float(config.get("DETECTION_THRESHOLD", DEFAULT_THRESHOLD)),
        "publisher": Publisher.from_config(config),
        "park_code": config.get("PARK_CODE") or Options.park_code,
        "crs": config.get("CRS") or "",
        "base_url": (config.get("BASE_URL") or "").rstrip("/"),
        "now": now,
    }
    return Options(**(settings | changes))


def station_place(station: Station, options: Options) -> tuple[float, float]:
    """A station's latitude and longitude as exported: generalised when public."""
    if not options.public:
        return station.latitude, station.longitude
    return options.policy.place(station.latitude, station.longitude)


def counts(session: Session, query: Select) -> dict[tuple[int, int], int]:
    """A query of (key, key, count) rows as a dictionary."""
    return {(a, b): n for a, b, n in session.execute(query)}


def stations(session: Session, filters: Filters) -> list[Station]:
    """The chosen stations, or all of them, by code."""
    query = select(Station).order_by(Station.code)
    if filters.station_ids:
        query = query.where(Station.id.in_(filters.station_ids))
    return list(session.scalars(query))
