"""Maps drawn with folium (Leaflet), from what `tracker.mapdata` found.

- one marker per camera station, sized by its independent events in the filter and coloured by
  whether a leopard was detected there (stations whose camera ran but saw nothing are data too;
  stations with no camera in the period are drawn hollow);
- a layer per identified individual: the stations where it was detected, its path between them
  in time order and, from 3 stations on, its minimum convex polygon (MCP) with its area;
- a heat map of the events, one weighted point per station;
- reference layers (a park boundary...) read from GeoJSON files.

The public map (`public_map`) only ever receives events counted per grid cell: exact station
positions and codes never reach it.

The page stays light: folium builds the map, its layers and the layer control, while the stations
and the tracks travel as one compact JSON array each (a track names stations by id), drawn by a
few lines of JavaScript (those elements are `tracker.mapelements`). Every text a user typed
(station and individual names) is HTML-escaped here, before it reaches a popup, a tooltip or the
layer control, and every JSON embedded in the page has `<` escaped so no value can close the
script.
Leaflet and leaflet.heat are served by the app: folium's CDN defaults are replaced on every
element that has them, so the page loads nothing from elsewhere but map tiles.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import folium
from folium.plugins import HeatMap
from markupsafe import Markup

from tracker.homerange import AREA_CRS_NAME
from tracker.mapdata import Cell, MapData, StationMark, Track
from tracker.mapelements import Assets, FieldMap, Helper, StationMarkers, TrackLayer, html_text

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_ATTRIBUTION = "© OpenStreetMap contributors"
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


# --- drawing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapOptions:
    assets: Assets
    tile_url: str = DEFAULT_TILE_URL  # empty: no tiles (the vector layers still draw)
    attribution: str = DEFAULT_ATTRIBUTION  # plain text
    layers: tuple[ReferenceLayer, ...] = ()
    # Links in the station popups; the web layer passes url_for-made ones.
    station_url: Callable[[StationMark], str] = lambda s: f"/stations/{s.id}"
    images_url: Callable[[StationMark], str] = lambda s: f"/images/?station={s.code}"


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
    Helper().add_to(m)

    most = data.max_events
    group = folium.FeatureGroup(name="Camera stations", show=True).add_to(m)
    markers = StationMarkers(
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
        # A drawn dot, not a style attribute: the Content-Security-Policy allows no inline style.
        dot = (
            '<svg class="track-dot" viewBox="0 0 10 10">'
            f'<circle cx="5" cy="5" r="5" fill="{colour}"/></svg>'
        )
        name = f"{dot} {html_text(track.label)}"
        layer = folium.FeatureGroup(name=name, show=single).add_to(m)
        TrackLayer(markers, _track_data(track, colour)).add_to(layer)

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
