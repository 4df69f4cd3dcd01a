"""Maps: where the cats were, from aggregating queries, drawn with folium (Leaflet).

What a map shows comes from two or three grouped queries over the independent events
(`tracker.events`), never from loading sightings one by one:
- one marker per camera station, sized by its independent events in the filter and coloured by
  whether a leopard was detected there (stations whose camera ran but saw nothing are data too;
  stations with no camera in the period are drawn hollow);
- a layer per identified individual: the stations where it was detected, its path between them
  in time order (its latest PATH_LIMIT events) and, from 3 stations on, a minimum convex polygon
  (MCP) as a sketch of its home range, its area computed in UTM zone 52N (EPSG:32652, the park's
  zone) with pyproj;
- a heat map of the events, one weighted point per station;
- reference layers (a park boundary...) read from GeoJSON files.

The public map (`public_map`) only ever receives events counted per grid cell: exact station
positions and codes never reach it.

The page stays light: folium builds the map, its layers and the layer control, while the stations
and the tracks travel as one compact JSON array each (a track names stations by id), drawn by a
few lines of JavaScript (`HELPER_JS`). Every text a user typed (station and individual names) is
HTML-escaped here, before it reaches a popup, a tooltip or the layer control, and every JSON
embedded in the page has `<`, `>`, `&` and `'` escaped so no value can close the script.
Leaflet and leaflet.heat are served by the app: folium's CDN defaults are replaced on every
element that has them, so the page loads nothing from elsewhere but map tiles.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import folium
import jinja2
from branca.element import Element, MacroElement
from folium.plugins import HeatMap
from folium.template import Template
from markupsafe import Markup, escape
from pyproj import Transformer
from sqlalchemy import func as sql
from sqlalchemy import literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from tracker import clock, events, individuals
from tracker.errors import InvalidInput
from tracker.models import (
    LEOPARD,
    LIFE_STAGES,
    SEXES,
    Camera,
    Deployment,
    Individual,
    Sighting,
    Species,
    Station,
)

# The projected system areas are computed in: UTM zone 52N (WGS 84) covers 126-132 E, the park.
AREA_CRS = "EPSG:32652"
AREA_CRS_NAME = "UTM zone 52N (EPSG:32652)"
# A path shows an individual's latest events: enough for years of one cat, bounded for the page.
PATH_LIMIT = 500
ALL_SPECIES = "all"
PARAMS = ("from", "to", "species", "individual", "sex", "life_stage")
PUBLIC_PARAMS = ("from", "to", "species")
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_ATTRIBUTION = "© OpenStreetMap contributors"
DEFAULT_GRID = 0.1
MIN_GRID = 0.01  # about a kilometre: anything finer would show where the cameras are
# Where the map opens when there is nothing to show: the park, west of Amur Bay.
PARK_CENTRE = (43.1, 131.4)
MIN_RADIUS, MAX_RADIUS, EMPTY_RADIUS = 4.0, 18.0, 3.5
# Distinguishable on the map and on a phone in daylight; cycled when there are more cats.
TRACK_COLOURS = (
    "#d62728",
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
)
STATES = {
    "leopard": "leopard detected",
    "other": "camera ran, no leopard detected",
    "none": "no camera in the period",
}


# --- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a map shows, parsed from query parameters (bookmarkable, shareable)."""

    date_from: date | None = None  # local dates in the park's time zone, both included
    date_to: date | None = None
    species_id: int | None = None  # None: every animal species
    species_label: str = "all animals"
    individual_id: int | None = None
    individual_code: str | None = None  # its current code
    individual_note: str | None = None  # e.g. "AL-12 is now known as AL-15"
    sex: str | None = None
    life_stage: str | None = None
    values: dict[str, str] = field(default_factory=dict)  # the parameters as given, for the form

    @property
    def query(self) -> dict[str, str]:
        """The non-empty parameters, to build links with."""
        return {k: v for k, v in self.values.items() if v}


def parse_filters(
    session: Session, args: Mapping[str, str], allowed: Sequence[str] = PARAMS
) -> Filters:
    """Filters from query parameters; InvalidInput names each bad one in plain words.

    `species`: a species id, its scientific or common name, or "all" (every animal species);
    absent, the individual's species if one is chosen, else the Amur leopard.
    `from`/`to`: YYYY-MM-DD, local dates of the park. `individual`: a code, current or former.
    """
    values = {name: (args.get(name) or "").strip() for name in allowed}
    errors: dict[str, str] = {}
    dates = {}
    for name in ("from", "to"):
        raw = values.get(name, "")
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"“{raw}” is not a date: write it as YYYY-MM-DD, e.g. 2025-06-30."
    if "from" in dates and "to" in dates and dates["from"] > dates["to"]:
        errors["to"] = f"The period ends ({dates['to']}) before it starts ({dates['from']})."

    found = None
    note = None
    code = values.get("individual", "")
    if code:
        found = individuals.find(session, code) if len(code) <= 64 else None
        if found is None:
            errors["individual"] = f"No individual has the code “{code}”, now or formerly."
        elif found.code.lower() != code.lower():
            note = f"{code} is now known as {found.code}."

    species_id, species_label = None, "all animals"
    raw = values.get("species", "")
    if raw.lower() == ALL_SPECIES:
        pass
    elif raw:
        species = _find_species(session, raw)
        if species is None:
            errors["species"] = f"No species “{raw}”: choose one from the list."
        else:
            species_id, species_label = species.id, species.common_name
    elif found is not None:
        species_id, species_label = found.species_id, found.species.common_name
    else:
        leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
        if leopard is not None:
            species_id, species_label = leopard.id, leopard.common_name

    for name, choices in (("sex", SEXES), ("life_stage", LIFE_STAGES)):
        raw = values.get(name, "")
        if raw and raw not in choices:
            label = name.replace("_", " ").capitalize()
            errors[name] = f"{label} “{raw}” is not one of: {', '.join(choices)}."
    if errors:
        raise InvalidInput(errors)
    return Filters(
        date_from=dates.get("from"),
        date_to=dates.get("to"),
        species_id=species_id,
        species_label=species_label,
        individual_id=found.id if found else None,
        individual_code=found.code if found else None,
        individual_note=note,
        sex=values.get("sex") or None,
        life_stage=values.get("life_stage") or None,
        values=values,
    )


def _find_species(session: Session, raw: str) -> Species | None:
    if raw.isdigit():
        return session.get(Species, int(raw)) if len(raw) < 10 else None
    lowered = raw.lower()
    return session.scalar(
        select(Species)
        .where(
            or_(
                sql.lower(Species.scientific_name) == lowered,
                sql.lower(Species.common_name) == lowered,
            )
        )
        .order_by(Species.id)
        .limit(1)
    )


def _utc_bounds(filters: Filters, timezone: str) -> tuple[datetime | None, datetime | None]:
    """The period as UTC instants: from local midnight of `from` to local midnight after `to`."""
    start = clock.local_day_bounds(filters.date_from, timezone) if filters.date_from else None
    end = None
    if filters.date_to:
        end = clock.local_day_bounds(filters.date_to + timedelta(days=1), timezone)
    return start, end


def _conditions(filters: Filters, timezone: str, *, species: bool = True) -> list:
    """Conditions on Sighting for the filter (the species one left out when asked)."""
    where = []
    if species:
        if filters.species_id is not None:
            where.append(Sighting.species_id == filters.species_id)
        else:
            animals = select(Species.id).where(Species.kind == "animal")
            where.append(Sighting.species_id.in_(animals))
    if filters.individual_id is not None:
        where.append(Sighting.individual_id == filters.individual_id)
    if filters.sex:
        where.append(Sighting.sex == filters.sex)
    if filters.life_stage:
        where.append(Sighting.life_stage == filters.life_stage)
    start, end = _utc_bounds(filters, timezone)
    if start is not None:
        where.append(Sighting.event_start >= start)
    if end is not None:
        where.append(Sighting.event_start < end)
    return where


# --- what the signed-in map shows -----------------------------------------------------------------


@dataclass(frozen=True)
class ActiveDeployment:
    id: int
    start_date: date
    camera_serial: str | None


@dataclass(frozen=True)
class IndividualCount:
    code: str
    name: str
    events: int


@dataclass(frozen=True)
class StationMark:
    id: int
    code: str
    name: str
    latitude: float
    longitude: float
    events: int  # independent events in the filter
    effort: bool  # a deployment ran there during the period (any deployment, without dates)
    leopard: bool  # a leopard was detected there in the period (whatever the species filter)
    last_detection: date | None  # local date of its latest event in the filter
    by_individual: tuple[IndividualCount, ...]  # identified animals, most events first
    unidentified: int  # events of animals no one identified
    deployment: ActiveDeployment | None  # the camera there now

    @property
    def state(self) -> str:
        """ "leopard", "other" (the camera ran, no leopard) or "none" (no camera then)."""
        if self.leopard:
            return "leopard"
        return "other" if self.effort else "none"


@dataclass(frozen=True)
class Track:
    """One identified individual in the filter: where it was, in what order, its range sketch."""

    individual_id: int
    code: str
    name: str
    sex: str
    events: int
    stations: tuple[tuple[int, int], ...]  # (station id, events there), most events first
    path: tuple[int, ...]  # station ids in time order, a repeat at one station drawn once
    path_events: int  # how many of its latest events the path follows (at most PATH_LIMIT)
    hull: tuple[int, ...]  # station ids around its MCP, counter-clockwise; () under 3 stations
    area_km2: float | None  # the MCP's area, in AREA_CRS; None under 3 stations

    @property
    def label(self) -> str:
        return f"{self.code} · {self.name}" if self.name else self.code


@dataclass(frozen=True)
class MapData:
    filters: Filters
    stations: tuple[StationMark, ...]  # every station, by code
    tracks: tuple[Track, ...]  # by code
    events: int  # independent events in the filter, all stations

    @property
    def max_events(self) -> int:
        return max((s.events for s in self.stations), default=0)


def map_data(
    session: Session,
    filters: Filters,
    *,
    minutes: int = events.DEFAULT_MINUTES,
    timezone: str = "UTC",
    path_limit: int = PATH_LIMIT,
) -> MapData:
    """Stations, their events and the individuals' tracks for the filter.

    One statement runs the event rule once and returns both the events per station and
    individual (a few hundred rows) and each individual's latest `path_limit` events in time
    order; the rest are small lookups of stations and deployments.
    """
    zone = ZoneInfo(timezone)
    where = _conditions(filters, timezone)
    starts = events.event_starts(minutes, where=where).cte("starts")
    c = starts.c
    grouped = select(
        literal(0).label("part"),
        c.station_id,
        c.individual_id,
        sql.count().label("n"),
        sql.max(c.start).label("at"),
    ).group_by(c.station_id, c.individual_id)
    rank = sql.row_number().over(
        partition_by=c.individual_id, order_by=(c.start.desc(), c.sighting_id.desc())
    )
    latest = (
        select(c.station_id, c.individual_id, rank.label("n"))
        .where(c.individual_id.is_not(None))
        .subquery("latest")
    )
    path_rows = select(
        literal(1), latest.c.station_id, latest.c.individual_id, latest.c.n, null()
    ).where(latest.c.n <= path_limit)

    station_events: dict[int, int] = defaultdict(int)
    last_seen: dict[int, datetime] = {}
    per_individual: dict[int, dict[int, int]] = defaultdict(dict)  # individual -> station -> n
    unidentified: dict[int, int] = defaultdict(int)
    recent: dict[int, list[tuple[int, int]]] = defaultdict(list)  # individual -> (rank, station)
    for part, station_id, individual_id, n, at in session.execute(union_all(grouped, path_rows)):
        if part == 1:
            recent[individual_id].append((n, station_id))
            continue
        station_events[station_id] += n
        if at is not None and (station_id not in last_seen or at > last_seen[station_id]):
            last_seen[station_id] = at
        if individual_id is None:
            unidentified[station_id] += n
        else:
            per_individual[individual_id][station_id] = n

    with_effort = set(session.scalars(_effort(filters)))
    active = {
        station_id: ActiveDeployment(deployment_id, start, serial)
        for station_id, deployment_id, start, serial in session.execute(
            select(Deployment.station_id, Deployment.id, Deployment.start_date, Camera.serial)
            .outerjoin(Camera, Camera.id == Deployment.camera_id)
            .where(Deployment.end_date.is_(None))
            .order_by(Deployment.start_date, Deployment.id)
        )
    }
    leopards = _leopard_stations(session, filters, timezone, station_events)
    known = {
        row.id: row
        for row in session.execute(
            select(Individual.id, Individual.code, Individual.name, Individual.sex).where(
                Individual.id.in_(list(per_individual))
            )
        )
    }
    counts_at: dict[int, list[IndividualCount]] = defaultdict(list)
    for individual_id, at_stations in per_individual.items():
        who = known[individual_id]
        for station_id, n in at_stations.items():
            counts_at[station_id].append(IndividualCount(who.code, who.name, n))

    stations = []
    positions: dict[int, tuple[float, float]] = {}
    for row in session.execute(
        select(
            Station.id, Station.code, Station.name, Station.latitude, Station.longitude
        ).order_by(Station.code)
    ):
        positions[row.id] = (row.latitude, row.longitude)
        at = last_seen.get(row.id)
        stations.append(
            StationMark(
                id=row.id,
                code=row.code,
                name=row.name,
                latitude=row.latitude,
                longitude=row.longitude,
                events=station_events.get(row.id, 0),
                effort=row.id in with_effort,
                leopard=row.id in leopards,
                last_detection=at.astimezone(zone).date() if at else None,
                by_individual=tuple(
                    sorted(counts_at.get(row.id, ()), key=lambda i: (-i.events, i.code.lower()))
                ),
                unidentified=unidentified.get(row.id, 0),
                deployment=active.get(row.id),
            )
        )

    tracks = []
    for individual_id, at_stations in per_individual.items():
        who = known[individual_id]
        ranked = sorted(recent.get(individual_id, ()), reverse=True)  # oldest first
        path: list[int] = []
        for _rank, station_id in ranked:
            if not path or path[-1] != station_id:
                path.append(station_id)
        hull, area = home_range([(s, *positions[s]) for s in at_stations])
        tracks.append(
            Track(
                individual_id=individual_id,
                code=who.code,
                name=who.name,
                sex=who.sex,
                events=sum(at_stations.values()),
                stations=tuple(sorted(at_stations.items(), key=lambda s: (-s[1], s[0]))),
                path=tuple(path),
                path_events=len(ranked),
                hull=hull,
                area_km2=area,
            )
        )
    tracks.sort(key=lambda t: t.code.lower())
    return MapData(filters, tuple(stations), tuple(tracks), sum(station_events.values()))


def _effort(filters: Filters):
    """Stations where a camera ran during the period (deployment dates are local dates)."""
    query = select(Deployment.station_id).distinct()
    if filters.date_to is not None:
        query = query.where(Deployment.start_date <= filters.date_to)
    if filters.date_from is not None:
        query = query.where(
            or_(Deployment.end_date.is_(None), Deployment.end_date >= filters.date_from)
        )
    return query


def _leopard_stations(
    session: Session, filters: Filters, timezone: str, station_events: dict[int, int]
) -> set[int]:
    """Stations with a leopard detection in the filter, whichever species it shows.

    Every timed sighting is in an event, so a leopard sighting is enough: no event rule needed.
    """
    leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
    if leopard is None:
        return set()
    if filters.species_id == leopard:
        return {station for station, n in station_events.items() if n}
    return set(
        session.scalars(
            select(Deployment.station_id)
            .distinct()
            .join(Sighting, Sighting.deployment_id == Deployment.id)
            .where(
                Sighting.species_id == leopard,
                Sighting.event_start.is_not(None),
                *_conditions(filters, timezone, species=False),
            )
        )
    )


# --- home ranges: minimum convex polygons in a projected system ----------------------------------


@functools.cache
def _to_utm() -> Transformer:
    return Transformer.from_crs("EPSG:4326", AREA_CRS, always_xy=True)


def project(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latitude, longitude) pairs to (easting, northing) metres in AREA_CRS."""
    points = list(points)
    if not points:
        return []
    xs, ys = _to_utm().transform([p[1] for p in points], [p[0] for p in points])
    return list(zip(xs, ys, strict=True))


def convex_hull(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indexes of the points on the convex hull, counter-clockwise (Andrew's monotone chain).

    Points on an edge are left out; fewer than 3 corners means the points are in a line.
    """
    order = sorted(range(len(points)), key=lambda i: points[i])

    def cross(o: int, a: int, b: int) -> float:
        (ox, oy), (ax, ay), (bx, by) = points[o], points[a], points[b]
        return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)

    def chain(indexes):
        kept: list[int] = []
        for i in indexes:
            while len(kept) >= 2 and cross(kept[-2], kept[-1], i) <= 0:
                kept.pop()
            kept.append(i)
        return kept

    if len(order) < 3:
        return order
    lower, upper = chain(order), chain(reversed(order))
    return lower[:-1] + upper[:-1]


def polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """Area of a simple polygon by the shoelace formula, in the square of the points' unit."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def home_range(
    stations: Sequence[tuple[int, float, float]],
) -> tuple[tuple[int, ...], float | None]:
    """The minimum convex polygon of (station id, latitude, longitude): the station ids around
    it and its area in km² computed in AREA_CRS. Under 3 stations: no polygon, no area; 3 or
    more in a line: no polygon, area 0."""
    if len(stations) < 3:
        return (), None
    xy = project((lat, lon) for _id, lat, lon in stations)
    corners = convex_hull(xy)
    if len(corners) < 3:
        return (), 0.0
    area = polygon_area([xy[i] for i in corners]) / 1e6
    return tuple(stations[i][0] for i in corners), area


# --- public mode: events per grid cell ------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    south: float
    west: float
    north: float
    east: float
    events: int


def public_cells(
    session: Session,
    filters: Filters,
    *,
    grid: float = DEFAULT_GRID,
    minutes: int = events.DEFAULT_MINUTES,
    timezone: str = "UTC",
) -> list[Cell]:
    """Independent events counted per grid cell of `grid` degrees; only cells with events.

    The events are grouped per station in SQL, then each station's count goes to its cell here:
    what leaves this function has no station, no code and no exact position in it.
    """
    if grid < MIN_GRID:
        raise ValueError(f"a public grid finer than {MIN_GRID} degrees would show the cameras")
    starts = events.event_starts(minutes, where=_conditions(filters, timezone)).subquery("starts")
    per_station = (
        select(starts.c.station_id, sql.count().label("n"))
        .group_by(starts.c.station_id)
        .subquery("per_station")
    )
    cells: dict[tuple[int, int], int] = defaultdict(int)
    for lat, lon, n in session.execute(
        select(Station.latitude, Station.longitude, per_station.c.n).join(
            per_station, per_station.c.station_id == Station.id
        )
    ):
        cells[(_cell_index(lat, grid), _cell_index(lon, grid))] += n
    return [
        Cell(
            south=round(row * grid, 6),
            west=round(col * grid, 6),
            north=round((row + 1) * grid, 6),
            east=round((col + 1) * grid, 6),
            events=n,
        )
        for (row, col), n in sorted(cells.items())
    ]


def _cell_index(degrees: float, grid: float) -> int:
    # Rounded first: 43.2 / 0.1 is 431.99999999999994 in floating point, and belongs to cell 432.
    return math.floor(round(degrees / grid, 9))


# --- reference layers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceLayer:
    name: str
    data: dict  # GeoJSON, styled and with escaped labels, ready for the page


def load_layers(paths: Iterable[str], base: Path | None = None):
    """The GeoJSON files named in configuration: (layers, problems), a problem per file that
    could not be read, so that a missing file says so on the page rather than breaking it."""
    layers, problems = [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            stat = path.stat()
            layers.append(_read_layer(str(path), stat.st_mtime_ns, stat.st_size))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"Reference layer {path.name} could not be read: {exc}")
    return layers, problems


@functools.lru_cache(maxsize=32)
def _read_layer(path: str, _mtime_ns: int, _size: int) -> ReferenceLayer:
    """Read and prepare a layer once per version of the file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("type") == "FeatureCollection":
        features = data["features"]
    elif data.get("type") == "Feature":
        features = [data]
    else:
        features = [{"type": "Feature", "geometry": data, "properties": {}}]
    name = data.get("name") or Path(path).stem.replace("-", " ").replace("_", " ")
    prepared = []
    for feature in features:
        properties = feature.get("properties") or {}
        label = properties.get("name") or properties.get("title") or ""
        note = properties.get("note") or ""
        text = html_text(label) + (f"<br>{html_text(note)}" if note else "")
        prepared.append(
            {
                "type": "Feature",
                "geometry": feature["geometry"],
                "properties": {"label": text, "style": REFERENCE_STYLE},
            }
        )
    return ReferenceLayer(str(name), {"type": "FeatureCollection", "features": prepared})


REFERENCE_STYLE = {"color": "#2f6b3a", "weight": 2, "dashArray": "8 6", "fill": False}


# --- drawing: folium with local assets and compact data layers ----------------------------------


@dataclass(frozen=True)
class Assets:
    """Where the page loads Leaflet from: the app's own static files, never a CDN."""

    leaflet_js: str
    leaflet_css: str
    heat_js: str


@dataclass(frozen=True)
class MapOptions:
    assets: Assets
    tile_url: str = DEFAULT_TILE_URL  # empty: no tiles (the vector layers still draw)
    attribution: str = DEFAULT_ATTRIBUTION  # plain text
    layers: tuple[ReferenceLayer, ...] = ()
    # Links in the station popups; the web layer passes url_for-made ones.
    station_url: Callable[[StationMark], str] = lambda s: f"/stations/{s.id}"
    images_url: Callable[[StationMark], str] = lambda s: f"/images/?station={s.code}"


def _json(value) -> str:
    """Compact JSON that is safe inside a <script>: with every "<" written \\u003c, nothing in
    it can end the element (`</script>`) or open a comment (`<!--`); the popups' HTML is
    mostly tags, so ">", "&" and quotes are left as they are (they mean nothing in a script)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def html_text(value) -> str:
    """A user's text for HTML shown by Leaflet (popups, tooltips, the layer control).

    HTML-escaped, and its braces written as character references: branca compiles what each
    folium element renders as a Jinja template once more, so a name holding `{{ ... }}` would
    otherwise be evaluated on the server. In HTML, &#123; is just "{".
    """
    return str(escape(value)).replace("{", "&#123;").replace("}", "&#125;")


class FieldMap(folium.Map):
    """folium's Map with Leaflet from the app, and without the page-wide styles folium gives a
    stand-alone map page (it lives inside the site's layout)."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
            <div class="folium-map tracker-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    center: {{ this.location|tojson }},
                    crs: L.CRS.{{ this.crs }},
                    ...{{ this.options|tojavascript }}
                }
            );
            {%- if this.control_scale %}
            L.control.scale({metric: true, imperial: false}).addTo({{ this.get_name() }});
            {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, assets: Assets, **kwargs):
        super().__init__(**kwargs)
        self.default_js = [("leaflet", assets.leaflet_js)]
        self.default_css = [("leaflet_css", assets.leaflet_css)]


HELPER_JS = """
var trackerMap = {
  styles: {
    leopard: {color: "#7c2d12", weight: 1, fillColor: "#ea580c", fillOpacity: 0.85},
    other: {color: "#1e3a8a", weight: 1, fillColor: "#60a5fa", fillOpacity: 0.7},
    none: {color: "#6b7280", weight: 1, dashArray: "2 3", fillColor: "#ffffff", fillOpacity: 0.5}
  },
  // rows: [id, latitude, longitude, radius, state, tooltip HTML, popup HTML], escaped upstream.
  stations: function (layer, rows) {
    var at = {};
    rows.forEach(function (r) {
      var style = Object.assign(
        {radius: r[3], className: "station-marker station-" + r[4]}, trackerMap.styles[r[4]]);
      at[r[0]] = {ll: [r[1], r[2]], label: r[5]};
      L.circleMarker([r[1], r[2]], style).bindTooltip(r[5]).bindPopup(r[6]).addTo(layer);
    });
    return at;
  },
  // t: {label, colour, stations: [[id, events]], path: [ids], hull: [ids], hullLabel, pathLabel}
  track: function (layer, at, t) {
    var ll = function (id) { return at[id].ll; };
    if (t.hull.length > 2) {
      L.polygon(t.hull.map(ll), {color: t.colour, weight: 2, dashArray: "6 4", fillOpacity: 0.08})
        .bindTooltip(t.hullLabel).addTo(layer);
    }
    if (t.path.length > 1) {
      L.polyline(t.path.map(ll), {color: t.colour, weight: 2, opacity: 0.75})
        .bindTooltip(t.pathLabel).addTo(layer);
    }
    t.stations.forEach(function (s) {
      L.circleMarker(ll(s[0]), {radius: 5, color: "#000", weight: 1, fillColor: t.colour,
        fillOpacity: 0.95, className: "track-marker"})
        .bindTooltip(t.label + " at " + at[s[0]].label + ": " + s[1] +
          (s[1] === 1 ? " event" : " events"))
        .addTo(layer);
    });
  }
};
"""


class _Verbatim(Element):
    """Text that goes into the page as it is, never compiled as a template."""

    _template = jinja2.Template("{{ this.text }}")

    def __init__(self, text: str):
        super().__init__()
        self.text = text


class _Script(MacroElement):
    """A script of ours: added to the page verbatim, where folium's elements would have branca
    compile their output as a template again (slow on a large JSON, and unsafe)."""

    def script(self) -> str:
        """The JavaScript to add: each subclass says what (this base class adds none)."""
        raise NotImplementedError("a _Script subclass must say what its script is")

    def render(self, **kwargs):
        self.get_root().script.add_child(_Verbatim(self.script()), name=self.get_name())


class _Helper(_Script):
    """The few lines of JavaScript that draw the compact layers, once per map."""

    def __init__(self):
        super().__init__()
        self._name = "TrackerHelper"

    def script(self) -> str:
        return HELPER_JS


class _StationMarkers(_Script):
    """Every station of the map as one JSON array, drawn into its parent feature group."""

    def __init__(self, rows: list):
        super().__init__()
        self._name = "StationMarkers"
        self.rows = _json(rows)

    def script(self) -> str:
        group = self._parent.get_name()
        return f"var {self.get_name()} = trackerMap.stations({group}, {self.rows});\n"


class _TrackLayer(_Script):
    """One individual's stations, path and MCP, drawn into its feature group."""

    def __init__(self, stations: _StationMarkers, data: dict):
        super().__init__()
        self._name = "TrackLayer"
        self.stations = stations
        self.data = _json(data)

    def script(self) -> str:
        group, stations = self._parent.get_name(), self.stations.get_name()
        return f"trackerMap.track({group}, {stations}, {self.data});\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def station_tooltip(s: StationMark) -> str:
    name = f" · {html_text(s.name)}" if s.name else ""
    return f"<strong>{html_text(s.code)}</strong>{name}"


def station_popup(s: StationMark, options: MapOptions, species_label: str) -> str:
    """What a station's popup says, as HTML; every user-typed text in it is escaped."""
    name = f" · {html_text(s.name)}" if s.name else ""
    parts = [
        f'<div class="station-popup"><strong>{html_text(s.code)}</strong>{name}',
        f"<br>{_plural(s.events, 'independent event')} ({html_text(species_label)})",
        f"<br>{STATES[s.state].capitalize()}",
    ]
    if s.last_detection:
        parts.append(f"<br>Last detection: {s.last_detection.isoformat()}")
    if s.deployment:
        d = s.deployment
        camera = f", camera {html_text(d.camera_serial)}" if d.camera_serial else ""
        parts.append(f"<br>Active deployment: #{d.id} since {d.start_date.isoformat()}{camera}")
    else:
        parts.append("<br>No active deployment")
    if s.by_individual or s.unidentified:
        parts.append("<br>Events per individual:<ul>")
        for who in s.by_individual:
            label = html_text(f"{who.code} · {who.name}" if who.name else who.code)
            parts.append(f"<li>{label}: {who.events}</li>")
        if s.unidentified:
            parts.append(f"<li>not identified: {s.unidentified}</li>")
        parts.append("</ul>")
    else:
        parts.append("<br>")
    images, station = html_text(options.images_url(s)), html_text(options.station_url(s))
    parts.append(f'<a href="{images}">Images</a> · <a href="{station}">Station page</a></div>')
    return "".join(parts)


def radius(events_here: int, most: int) -> float:
    """Marker radius in pixels: its area grows with the events (square root), up to MAX_RADIUS."""
    if events_here <= 0 or most <= 0:
        return EMPTY_RADIUS
    return round(MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * math.sqrt(events_here / most), 1)


def _base_map(options: MapOptions, bounds) -> FieldMap:
    (south, west), (north, east) = bounds
    centre = [round((south + north) / 2, 4), round((west + east) / 2, 4)]
    m = FieldMap(
        options.assets,
        location=centre,
        zoom_start=11,
        tiles=None,
        control_scale=True,
    )
    if options.tile_url:
        folium.TileLayer(
            tiles=options.tile_url,
            attr=html_text(options.attribution or " "),
            name="Map tiles",
            max_zoom=18,
            control=False,
        ).add_to(m)
    for layer in options.layers:
        folium.GeoJson(
            layer.data,
            name=html_text(layer.name),
            on_each_feature=folium.JsCode(
                "function (f, layer) { if (f.properties.label) "
                "{ layer.bindTooltip(f.properties.label, {sticky: true}); } }"
            ),
        ).add_to(m)
    m.fit_bounds(bounds, padding=(20, 20))
    return m


def _bounds(points: Iterable[tuple[float, float]], options: MapOptions):
    points = list(points)
    if not points:
        for layer in options.layers:
            points.extend(_geojson_points(layer.data))
    if not points:
        lat, lon = PARK_CENTRE
        return [[lat - 0.15, lon - 0.15], [lat + 0.15, lon + 0.15]]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    pad = 0.005
    return [[min(lats) - pad, min(lons) - pad], [max(lats) + pad, max(lons) + pad]]


def _geojson_points(data) -> Iterable[tuple[float, float]]:
    """Every (latitude, longitude) of a GeoJSON value."""
    if isinstance(data, dict):
        if "coordinates" in data:
            yield from _geojson_points(data["coordinates"])
        else:
            for key in ("features", "geometry", "geometries"):
                if key in data:
                    yield from _geojson_points(data[key])
    elif isinstance(data, list):
        if len(data) >= 2 and all(isinstance(v, int | float) for v in data[:2]):
            yield (data[1], data[0])
        else:
            for item in data:
                yield from _geojson_points(item)


def build_map(data: MapData, options: MapOptions) -> FieldMap:
    """The signed-in map: stations, a layer per individual, the heat map, reference layers."""
    focus = data.stations
    if data.filters.individual_id is not None and data.tracks:
        seen = {station_id for t in data.tracks for station_id, _n in t.stations}
        focus = [s for s in data.stations if s.id in seen]
    m = _base_map(options, _bounds(((s.latitude, s.longitude) for s in focus), options))
    _Helper().add_to(m)

    most = data.max_events
    group = folium.FeatureGroup(name="Camera stations", show=True).add_to(m)
    markers = _StationMarkers(
        [
            [
                s.id,
                s.latitude,
                s.longitude,
                radius(s.events, most),
                s.state,
                station_tooltip(s),
                station_popup(s, options, data.filters.species_label),
            ]
            for s in data.stations
        ]
    ).add_to(group)

    weighted = [
        [s.latitude, s.longitude, round(s.events / most, 3)] for s in data.stations if s.events
    ]
    if weighted:
        heat = HeatMap(
            weighted,
            name="Heat map of independent events",
            show=False,
            min_opacity=0.3,
            radius=30,
            blur=20,
            max_zoom=13,
        )
        heat.default_js = [("leaflet-heat.js", options.assets.heat_js)]
        heat.add_to(m)

    single = data.filters.individual_id is not None
    for i, track in enumerate(data.tracks):
        colour = TRACK_COLOURS[i % len(TRACK_COLOURS)]
        name = f'<span style="color:{colour}">&#9679;</span> {html_text(track.label)}'
        layer = folium.FeatureGroup(name=name, show=single).add_to(m)
        _TrackLayer(markers, _track_data(track, colour)).add_to(layer)

    folium.LayerControl(collapsed=len(data.tracks) > 8).add_to(m)
    return m


def _track_data(track: Track, colour: str) -> dict:
    label = html_text(track.label)
    hull_label = ""
    if track.area_km2 is not None:
        hull_label = (
            f"{label}: minimum convex polygon of {len(track.stations)} stations, "
            f"{track.area_km2:.2f} km² (area in {AREA_CRS_NAME})"
        )
    latest = "" if track.path_events >= track.events else f"the latest {track.path_events} of "
    path_label = f"{label}: path through {latest}{_plural(track.events, 'event')} in time order"
    return {
        "label": f"<strong>{label}</strong>",
        "colour": colour,
        "stations": [list(s) for s in track.stations],
        "path": list(track.path),
        "hull": list(track.hull),
        "hullLabel": hull_label,
        "pathLabel": path_label,
    }


def public_map(cells: Sequence[Cell], options: MapOptions, grid: float) -> FieldMap:
    """The public map: events per grid cell, the reference layers, nothing exact."""
    corners = [(c.south, c.west) for c in cells] + [(c.north, c.east) for c in cells]
    if corners:
        lats, lons = [p[0] for p in corners], [p[1] for p in corners]
        bounds = [[min(lats), min(lons)], [max(lats), max(lons)]]
    else:
        bounds = _bounds((), options)
    m = _base_map(options, bounds)
    most = max((c.events for c in cells), default=0)
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [c.west, c.south],
                        [c.east, c.south],
                        [c.east, c.north],
                        [c.west, c.north],
                        [c.west, c.south],
                    ]
                ],
            },
            "properties": {
                "label": f"{_plural(c.events, 'independent event')} in this {grid:g}° cell",
                "style": {
                    "color": "#7c2d12",
                    "weight": 1,
                    "fillColor": "#ea580c",
                    "fillOpacity": round(0.15 + 0.6 * c.events / most, 2),
                },
            },
        }
        for c in cells
    ]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=f"Events per {grid:g}° cell",
        on_each_feature=folium.JsCode(
            "function (f, layer) { layer.bindTooltip(f.properties.label, {sticky: true}); }"
        ),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


@dataclass(frozen=True)
class RenderedMap:
    """A map's parts for a page of the site: tags for <head>, its <div>, and its script."""

    header: Markup
    html: Markup
    script: Markup

    @property
    def size(self) -> int:
        return len(self.header) + len(self.html) + len(self.script)


def render(m: folium.Map) -> RenderedMap:
    """Render the map once into its three parts."""
    m.render()
    figure = m.get_root()
    # What folium rendered is markup by design: every value in it was escaped on the way in.
    return RenderedMap(
        header=Markup(figure.header.render()),  # noqa: S704
        html=Markup(figure.html.render()),  # noqa: S704
        script=Markup(figure.script.render()),  # noqa: S704
    )
