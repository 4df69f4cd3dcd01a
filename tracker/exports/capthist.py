"""Capture histories for spatial capture-recapture: the text files R's secr::read.capthist reads.

A zip of captures.txt (`Session ID Occasion Detector Sex`), one traps file per session (`Detector
X Y` then the usage of each occasion) and a README.txt with the R call, in secr's DENSITY text
format. The conventions, beside camtrapR's, are in the README's table; in short:

- Sessions are surveys, each a closed population: the researcher names them (`--session
  NAME:FROM:TO`, repeatable, not overlapping); without any, the export's dates (or the
  deployments' span) are one session named after the park (TRACKER_PARK_CODE).
- Detectors are stations (paired cameras at a station are one detector; `_` becomes `-`, which
  secr reads specially), projected to the UTM zone of the stations' centroid, or TRACKER_CRS.
- Usage is the number of camera-days of the detector in the occasion (tracker.outages.camera_days,
  the rule effort and Camtrap DP use): with 1-day occasions, it sums to the effort export's
  trap-nights. secr reads it with `binary.usage = FALSE`.
- Occasions are `occasion_days` long from the session's first day. An occasion on which no detector
  worked is left out (secr refuses one: "Occasions when no detectors 'used'"), and README.txt
  says which days that dropped; the others keep their order.
- A detection is an identified animal of the species (leopard unless another is chosen) at a
  station on an occasion, from independent events, at most one per animal, detector and occasion
  (`proximity`). Its day is the event's local date in its deployment's time zone, the zone its
  usage is counted in. An event on a day its station had no camera-day (an outage) is left out,
  and counted in README.txt, as the effort rates leave it out.
- Never public: the analysis needs exact positions.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import statistics
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import events, outages
from tracker.errors import InvalidInput
from tracker.exports.archive import member
from tracker.exports.core import Filters, Options
from tracker.exports.spans import deployment_spans, misdated_sightings, sighting_conditions
from tracker.models import LEOPARD, Deployment, Individual, Sighting, Species, Station

SEXES = {"female": "F", "male": "M"}
MAX_OCCASION_DAYS = 366
SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,31}$")


@dataclass(frozen=True)
class SessionSpec:
    """A survey the researcher names: local dates, both included."""

    name: str
    first: date
    last: date


def parse_sessions(texts) -> tuple[SessionSpec, ...]:
    """`NAME:FROM:TO` texts as sessions; InvalidInput names each bad one, and any overlap."""
    specs, problems = [], []
    for text in (t.strip() for t in texts if t and t.strip()):
        parts = text.split(":")
        try:
            name, first, last = parts[0], date.fromisoformat(parts[1]), date.fromisoformat(parts[2])
            if len(parts) != 3:
                raise ValueError
        except (IndexError, ValueError):
            problems.append(f"{text!r}: write NAME:FROM:TO, e.g. winter24:2024-11-01:2025-02-28")
            continue
        if not SESSION_NAME_RE.match(name):
            problems.append(f"{name!r}: a session name is 1 to 32 letters, digits, '.' or '-'")
        elif last < first:
            problems.append(f"{name}: it ends ({last}) before it starts ({first})")
        else:
            specs.append(SessionSpec(name, first, last))
    specs.sort(key=lambda s: s.first)
    for before, after in itertools.pairwise(specs):
        if after.first <= before.last:
            problems.append(f"sessions {before.name} and {after.name} overlap")
    if len({s.name.lower() for s in specs}) < len(specs):
        problems.append("two sessions have the same name")
    if problems:
        raise InvalidInput({"session": "; ".join(problems) + "."})
    return tuple(specs)


@dataclass
class SurveySession:
    """One closed-population session: its occasions, detectors' usage and detections."""

    name: str
    first: date
    last: date
    occasion_days: int
    occasion_starts: list[date] = field(default_factory=list)  # first day of each kept occasion
    usage: dict[str, list[int]] = field(
        default_factory=dict
    )  # detector -> camera-days per occasion
    detections: set[tuple[str, int, str]] = field(default_factory=set)  # (ID, occasion, detector)
    dropped: list[tuple[date, date]] = field(default_factory=list)  # occasions no detector worked

    @property
    def occasions(self) -> int:
        return len(self.occasion_starts)

    def windows(self) -> list[tuple[date, date]]:
        """Every occasion of the session (first and last day), before any is dropped."""
        count = math.ceil(((self.last - self.first).days + 1) / self.occasion_days)
        found = []
        for n in range(count):
            start = self.first + timedelta(days=n * self.occasion_days)
            found.append((start, min(self.last, start + timedelta(days=self.occasion_days - 1))))
        return found

    def occasion(self, day: date) -> int:
        """The kept occasion (1-based) holding this day; 0 when there is none."""
        number = bisect.bisect_right(self.occasion_starts, day)
        if number and day < self.occasion_starts[number - 1] + timedelta(days=self.occasion_days):
            return number
        return 0


@dataclass
class CaptureHistories:
    species: Species
    sessions: list[SurveySession]
    detectors: dict[str, tuple[float, float]]  # name -> projected x, y (metres)
    crs: CRS | None
    sex: dict[str, str]  # individual code -> F, M or NA
    off_duty: int = 0  # detections on a day their station had no camera-day (left out)
    outside: int = 0  # detections outside every session


def detector_name(code: str) -> str:
    return code.replace("_", "-")


def projection(stations: list[Station], configured: str = "") -> CRS:
    """The configured CRS (TRACKER_CRS), else the UTM zone of the stations' centroid (WGS 84)."""
    if configured:
        try:
            crs = CRS.from_user_input(configured)
        except CRSError as exc:
            raise InvalidInput({"crs": f"TRACKER_CRS {configured!r} is not a CRS: {exc}"}) from exc
        if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
            raise InvalidInput({"crs": f"TRACKER_CRS {configured!r} is not projected in metres."})
        return crs
    longitude = statistics.fmean(s.longitude for s in stations)
    latitude = statistics.fmean(s.latitude for s in stations)
    zone = int((longitude + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if latitude >= 0 else 32700) + zone)


def epsg_label(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code}" if code else crs.to_string()


def _specs(filters: Filters, options: Options, spans) -> tuple[SessionSpec, ...]:
    if options.sessions:
        return options.sessions
    first = filters.date_from or min(s.first for s in spans)
    last = filters.date_to or max(s.last for s in spans)
    return (SessionSpec(options.park_code, first, last),)


def capture_histories(session: Session, filters: Filters, options: Options) -> CaptureHistories:
    """The sessions, detectors and detections of the export (see the module's docstring)."""
    if filters.species_id is None:
        leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
        filters = replace(filters, species_id=leopard)
    species = session.get(Species, filters.species_id)
    spans = deployment_spans(session, filters)
    if not spans:
        return CaptureHistories(species, [], {}, None, {})
    days: dict[str, set[date]] = defaultdict(set)  # detector -> its camera-days
    stations: dict[str, Station] = {}
    for span in spans:
        name = detector_name(span.deployment.station.code)
        for a, b in outages.camera_days(span.first, span.last, outages.spans(span.deployment)):
            days[name].update(a + timedelta(days=n) for n in range((b - a).days))
        stations[name] = span.deployment.station
    sessions = []
    for spec in _specs(filters, options, spans):
        survey = SurveySession(spec.name, spec.first, spec.last, options.occasion_days)
        _usage(survey, days)
        if survey.usage:
            sessions.append(survey)
    crs = projection(list(stations.values()), options.crs)
    history = CaptureHistories(species, sessions, _project(stations, crs), crs, {})
    _detections(session, filters, options, spans, history, days)
    return history


def _usage(survey: SurveySession, days: dict[str, set[date]]) -> None:
    """Camera-days per detector and occasion; occasions on which no detector worked are dropped."""
    windows = survey.windows()
    worked = {name: [0] * len(windows) for name in days}
    for name, found in days.items():
        for day in found:
            if survey.first <= day <= survey.last:
                worked[name][(day - survey.first).days // survey.occasion_days] += 1
    kept = [n for n in range(len(windows)) if any(w[n] for w in worked.values())]
    kept_set = set(kept)
    survey.dropped = [w for n, w in enumerate(windows) if n not in kept_set]
    survey.occasion_starts = [windows[n][0] for n in kept]
    survey.usage = {
        name: [w[n] for n in kept] for name, w in worked.items() if any(w[n] for n in kept)
    }


def _project(stations: dict[str, Station], crs: CRS) -> dict[str, tuple[float, float]]:
    project = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return {
        name: project.transform(station.longitude, station.latitude)
        for name, station in stations.items()
    }


def _detections(session, filters: Filters, options: Options, spans, history, days) -> None:
    """Identified animals' independent events, one per animal, detector and occasion."""
    where = sighting_conditions(filters, options, [s.deployment.id for s in spans])
    where.append(Sighting.individual_id.is_not(None))
    misdated = misdated_sightings(session, where, spans)
    if misdated:
        where.append(Sighting.id.not_in(sorted(misdated)))
    found = events.events(options.minutes, where).subquery("found")
    rows = session.execute(
        select(Station.code, Individual.code, Individual.sex, found.c.start, Deployment.timezone)
        .join(Station, Station.id == found.c.station_id)
        .join(Individual, Individual.id == found.c.individual_id)
        .join(Sighting, Sighting.id == found.c.event_id)
        .join(Deployment, Deployment.id == Sighting.deployment_id)
    )
    zones: dict[str, ZoneInfo] = {}
    for station, animal, sex, start, tz_name in rows:
        day = start.astimezone(zones.setdefault(tz_name, ZoneInfo(tz_name))).date()
        detector = detector_name(station)
        survey = next((s for s in history.sessions if s.first <= day <= s.last), None)
        if survey is None:
            history.outside += 1
            continue
        occasion = survey.occasion(day)
        if day not in days.get(detector, ()) or not occasion:
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
    crs = epsg_label(history.crs) if history.crs else "no projection"
    if survey is not None:
        what = (
            f"session {survey.name}, {survey.first} to {survey.last}, {survey.occasions} occasions"
        )
    lines = [
        f"# Detectors (camera-trap stations) of {what}.",
        f"# X Y: {crs}, metres. Usage: camera-days per occasion (read with binary.usage = FALSE).",
        "# Detector X Y Usage...",
    ]
    for name, usage in sorted(survey.usage.items() if survey else ()):
        x, y = history.detectors[name]
        lines.append(f"{name} {x:.1f} {y:.1f} " + " ".join(map(str, usage)))
    return "\n".join(lines) + "\n"


def _session_line(survey: SurveySession, trapfile: str) -> str:
    line = (
        f"- {survey.name}: {survey.first} to {survey.last}, {survey.occasions} occasions of "
        f"{survey.occasion_days} day(s), {len(survey.usage)} detectors, "
        f"{sum(map(sum, survey.usage.values()))} camera-days, {len(survey.detections)} "
        f"detection(s) ({trapfile})"
    )
    if survey.dropped:
        spans = ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in _runs(survey.dropped))
        line += (
            f". Left out, as no detector worked then (secr refuses such occasions): {spans}; "
            "the occasions are numbered without them"
        )
    return line + "."


def _runs(windows: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Consecutive occasions joined: a year without cameras is one line, not 365."""
    runs: list[tuple[date, date]] = []
    for start, end in windows:
        if runs and start == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


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
    sessions = "\n".join(_session_line(s, files[i]) for i, s in enumerate(history.sessions))
    crs = epsg_label(history.crs)
    notes = [
        f"Capture histories of {history.species.scientific_name} ({history.species.common_name}) "
        "for spatial capture-recapture with the R package secr.",
        f"Sessions (each a closed population):\n{sessions}",
        "Read them with:\n\n    library(secr)\n"
        f'    CH <- read.capthist("captures.txt", {trapfile},\n'
        f'        detector = "proximity", covnames = "Sex", noccasions = {noccasions},\n'
        "        binary.usage = FALSE)",
        f"Coordinates: {crs} ({history.crs.name}), metres. Detectors are stations (paired "
        "cameras at a station are one detector). Usage is the number of camera-days of the "
        "detector in the occasion: the local days, in each deployment's time zone, from its "
        "start date to its end date both included, less the days recorded as not working (the "
        "same trap-nights as the effort export). A detection is an identified animal's "
        f"independent event ({options.minutes}-minute rule), dated in its deployment's time "
        "zone; unidentified animals are not in the file. The last occasion of a session may be "
        "shorter than the others.",
    ]
    if history.off_duty:
        notes.append(
            f"{history.off_duty} detection(s) fell on a day their station had no working camera "
            "(a recorded outage) and were left out, as the effort rates leave them out; check "
            "those deployments' dates and outages."
        )
    if history.outside:
        notes.append(f"{history.outside} detection(s) fell outside every session.")
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
