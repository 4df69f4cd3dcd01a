"""Capture histories for spatial capture-recapture: the text files R's secr::read.capthist reads.

A zip of captures.txt (`Session ID Occasion Detector Sex`), the traps file(s) (`Detector X Y
Usage`) and a README.txt with the R call, in secr's DENSITY text format:

- Detectors are stations (paired cameras at a station are one detector), in UTM zone 52N metres
  (EPSG:32652, the park's zone). Their names are the station codes, with any `_` made `-` (secr
  reads `_` specially).
- A detection is an identified animal of the species (leopard unless another is chosen) at a
  station on an occasion, from independent events; `proximity` detectors hold at most one per
  animal, detector and occasion. Unidentified animals and sightings dated outside their
  deployment (a camera clock to fix) are left out.
- The survey runs over the export's dates, or over the deployments' when none are given; a
  survey across new year is split into one session per calendar year (LLNP2024, LLNP2025...),
  each with a traps file of its own, because a session is a closed population and its usage
  string has one character per occasion. Occasions are `occasion_days` long from the session's
  first day; the last may be shorter.
- Usage is 1 when a camera at the station worked on any day of the occasion: a deployment's
  days, less the days it was recorded as not working (tracker.outages).
- Never public: the analysis needs exact positions.
"""

from __future__ import annotations

import math
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

from pyproj import Transformer
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import events, outages
from tracker.errors import InvalidInput
from tracker.exports.archive import member
from tracker.exports.core import Filters, Options
from tracker.exports.spans import deployment_spans, misdated_sightings, sighting_conditions
from tracker.models import LEOPARD, Individual, Sighting, Species, Station

SESSION_PREFIX = "LLNP"  # Land of the Leopard National Park
UTM = "EPSG:32652"  # WGS 84 / UTM zone 52N
SEXES = {"female": "F", "male": "M"}
MAX_OCCASION_DAYS = 366


@dataclass
class SurveySession:
    """One closed-population session: its days, occasions, detectors and detections."""

    name: str
    first: date
    last: date
    occasion_days: int
    usage: dict[str, str] = field(default_factory=dict)  # detector -> "0110..."
    detections: set[tuple[str, int, str]] = field(default_factory=set)  # (ID, occasion, detector)

    @property
    def occasions(self) -> int:
        return math.ceil(((self.last - self.first).days + 1) / self.occasion_days)

    def occasion(self, day: date) -> int:
        return (day - self.first).days // self.occasion_days + 1

    def days(self, occasion: int) -> tuple[date, date]:
        start = self.first + timedelta(days=(occasion - 1) * self.occasion_days)
        return start, min(self.last, start + timedelta(days=self.occasion_days - 1))


@dataclass
class CaptureHistories:
    species: Species
    sessions: list[SurveySession]
    detectors: dict[str, tuple[float, float]]  # name -> UTM x, y
    sex: dict[str, str]  # individual code -> F, M or NA
    off_duty: int = 0  # detections on an occasion its station had no camera (left out)


def detector_name(code: str) -> str:
    return code.replace("_", "-")


def survey_sessions(first: date, last: date, occasion_days: int) -> list[SurveySession]:
    """One session per calendar year of the survey period."""
    return [
        SurveySession(
            f"{SESSION_PREFIX}{year}",
            max(first, date(year, 1, 1)),
            min(last, date(year, 12, 31)),
            occasion_days,
        )
        for year in range(first.year, last.year + 1)
    ]


def capture_histories(session: Session, filters: Filters, options: Options) -> CaptureHistories:
    """The sessions, detectors and detections of the export (see the module's docstring)."""
    if filters.species_id is None:
        leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
        filters = replace(filters, species_id=leopard)
    species = session.get(Species, filters.species_id)
    spans = deployment_spans(session, filters)
    if not spans:
        return CaptureHistories(species, [], {}, {})
    first = filters.date_from or min(s.first for s in spans)
    last = filters.date_to or max(s.last for s in spans)
    sessions = survey_sessions(first, last, options.occasion_days)
    running: dict[str, list[outages.Period]] = defaultdict(list)  # days a camera worked
    stations: dict[str, Station] = {}
    for span in spans:
        name = detector_name(span.deployment.station.code)
        after = span.last + timedelta(days=1)
        running[name] += outages.working_periods(span.first, after, outages.spans(span.deployment))
        stations[name] = span.deployment.station
    for survey in sessions:
        for name in sorted(running):
            usage = "".join(
                "1" if any(a <= to and b > since for a, b in running[name]) else "0"
                for since, to in map(survey.days, range(1, survey.occasions + 1))
            )
            if "1" in usage:
                survey.usage[name] = usage
    sessions = [s for s in sessions if s.usage]
    history = CaptureHistories(species, sessions, _utm(stations), {})
    _detections(session, filters, options, spans, history)
    return history


def _utm(stations: dict[str, Station]) -> dict[str, tuple[float, float]]:
    project = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    return {
        name: project.transform(station.longitude, station.latitude)
        for name, station in stations.items()
    }


def _detections(session, filters: Filters, options: Options, spans, history) -> None:
    """Identified animals' independent events, one per animal, detector and occasion."""
    where = sighting_conditions(filters, options, [s.deployment.id for s in spans])
    where.append(Sighting.individual_id.is_not(None))
    misdated = misdated_sightings(session, where, spans)
    if misdated:
        where.append(Sighting.id.not_in(sorted(misdated)))
    found = events.events(options.minutes, where).subquery("found")
    rows = session.execute(
        select(Station.code, Individual.code, Individual.sex, found.c.start)
        .join(Station, Station.id == found.c.station_id)
        .join(Individual, Individual.id == found.c.individual_id)
    )
    zone = ZoneInfo(options.timezone)
    by_year = {s.first.year: s for s in history.sessions}
    for station, animal, sex, start in rows:
        day = start.astimezone(zone).date()
        survey, detector = by_year.get(day.year), detector_name(station)
        occasion = survey.occasion(day) if survey else 0
        usage = survey.usage.get(detector, "") if survey else ""
        if not 1 <= occasion <= len(usage) or usage[occasion - 1] != "1":
            history.off_duty += 1
            continue
        survey.detections.add((animal, occasion, detector))
        history.sex[animal] = SEXES.get(sex, "NA")


# --- the files -----------------------------------------------------------------------------------


def traps_file(history: CaptureHistories, survey: SurveySession) -> str:
    return "traps.txt" if len(history.sessions) == 1 else f"traps-{survey.name}.txt"


def captures_text(history: CaptureHistories, options: Options) -> str:
    lines = [
        f"# Capture histories of {history.species.scientific_name} for secr::read.capthist",
        f"# (proximity detectors): independent events ({options.minutes} min) of identified "
        "animals,",
        f"# at most one per animal, detector and occasion. Occasions of {options.occasion_days} "
        "day(s).",
        "# Session ID Occasion Detector Sex",
    ]
    for survey in history.sessions:
        if not survey.detections:  # secr's way of saying a session caught nothing
            lines.append(f"{survey.name} NONE {survey.occasions} {min(survey.usage)} NA")
        for animal, occasion, detector in sorted(survey.detections):
            lines.append(f"{survey.name} {animal} {occasion} {detector} {history.sex[animal]}")
    return "\n".join(lines) + "\n"


def traps_text(history: CaptureHistories, survey: SurveySession | None) -> str:
    what = "no survey: no deployment ran during the chosen dates at the chosen stations"
    if survey is not None:
        what = (
            f"session {survey.name}, {survey.first} to {survey.last}, {survey.occasions} occasions"
        )
    lines = [
        f"# Detectors (camera-trap stations) of {what}.",
        "# X Y: UTM zone 52N (EPSG:32652), metres. Usage: one digit per occasion, 1 when a "
        "camera worked there.",
        "# Detector X Y Usage",
    ]
    for name, usage in sorted(survey.usage.items() if survey else ()):
        x, y = history.detectors[name]
        lines.append(f"{name} {x:.1f} {y:.1f} {usage}")
    return "\n".join(lines) + "\n"


def readme_text(history: CaptureHistories, options: Options) -> str:
    if not history.sessions:
        return "No deployment ran during the chosen dates at the chosen stations: no survey.\n"
    files = [traps_file(history, s) for s in history.sessions]
    occasions = [str(s.occasions) for s in history.sessions]
    if len(files) == 1:
        trapfile, noccasions = f'"{files[0]}"', occasions[0]
    else:
        trapfile = "c(" + ", ".join(f'"{f}"' for f in files) + ")"
        noccasions = "c(" + ", ".join(occasions) + ")"
    sessions = "\n".join(
        f"- {s.name}: {s.first} to {s.last}, {s.occasions} occasions of {s.occasion_days} "
        f"day(s), {len(s.usage)} detectors, {len(s.detections)} detection(s) ({files[i]})"
        for i, s in enumerate(history.sessions)
    )
    notes = [
        f"Capture histories of {history.species.scientific_name} ({history.species.common_name}) "
        "for spatial capture-recapture with the R package secr.",
        f"Sessions (one per calendar year of the survey):\n{sessions}",
        "Read them with:\n\n    library(secr)\n"
        f'    CH <- read.capthist("captures.txt", {trapfile},\n'
        f'        detector = "proximity", covnames = "Sex", noccasions = {noccasions})',
        "Detectors are stations (paired cameras at a station are one detector), in UTM zone 52N "
        "metres (EPSG:32652). Usage is 1 on an occasion when a camera at the station worked on "
        "any day of it (days recorded as not working do not count). A detection is an "
        "identified animal's independent event "
        f"({options.minutes}-minute rule); unidentified animals are not in the file. The last "
        "occasion of a session may be shorter than the others.",
    ]
    if history.off_duty:
        notes.append(
            f"{history.off_duty} detection(s) fell on an occasion with no camera at their "
            "station and were left out; check those deployments' dates and outages."
        )
    return "\n\n".join(notes) + "\n"


def write(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Write the capture histories as a zip; returns the number of detections."""
    if options.public:
        raise InvalidInput(
            {"public": "Capture histories need exact coordinates; they are never public."}
        )
    if not 1 <= options.occasion_days <= MAX_OCCASION_DAYS:
        raise InvalidInput(
            {"occasion_days": f"An occasion lasts from 1 to {MAX_OCCASION_DAYS} days."}
        )
    history = capture_histories(session, filters, options)
    moment = options.moment.astimezone(ZoneInfo(options.timezone))  # the members' date
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member("captures.txt", moment), captures_text(history, options))
        for survey in history.sessions:
            name = traps_file(history, survey)
            archive.writestr(member(name, moment), traps_text(history, survey))
        if not history.sessions:
            archive.writestr(member("traps.txt", moment), traps_text(history, None))
        archive.writestr(member("README.txt", moment), readme_text(history, options))
    return sum(len(s.detections) for s in history.sessions)
