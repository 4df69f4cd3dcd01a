"""The map: stations, individuals' layers and ranges, heat map, filters, public mode, safety."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime

import pytest
from conftest import csrf_token
from pyproj import Geod, Transformer
from sqlalchemy import select

from tracker import config, fieldwork, homerange, individuals, mapdata, mapfilters, maps
from tracker.models import LEOPARD, Individual, Sighting, Species

PARK = "Asia/Vladivostok"  # UTC+10 all year
SCRIPT = '<script>alert("station")</script>'
IMG = "<img src=x onerror=alert(1)>"
# Positions with no round digits, so that no other number on a page can look like one of them.
POSITIONS = {
    "KP-01": (43.123457, 131.312347),
    "KP-02": (43.156781, 131.409873),
    "KP-03": (43.054329, 131.367891),
    "KP-04": (43.201113, 131.277779),
    "KP-05": (43.088883, 131.444447),
}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def park(session):
    """Five stations: KP-01..03 with leopards, KP-04 with a camera and only deer, KP-05 without a
    camera. AL-01 (a female) moves KP-01 -> KP-02 -> KP-01 -> KP-03 -> KP-01 (twice there at the
    end); AL-02 once at KP-02; an unidentified cub at KP-01; a deer at KP-04. Committed."""
    deployments = {}
    for code, (lat, lon) in POSITIONS.items():
        name = {"KP-01": "Kedrovaya gorge", "KP-02": "Ridge"}.get(code, "")
        station = fieldwork.create_station(
            session, code=code, name=name, latitude=lat, longitude=lon
        )
        if code != "KP-05":
            deployments[code] = fieldwork.create_deployment(
                session,
                station,
                fieldwork.DeploymentInput(start_date=date(2024, 1, 1), camera_serial=f"H-{code}"),
            )
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    deer = session.scalar(select(Species).where(Species.common_name == "Sika deer"))
    cats = {
        "AL-01": Individual(code="AL-01", name="Alyona", sex="female", species=leopard),
        "AL-02": Individual(code="AL-02", name="", sex="male", species=leopard),
    }
    session.add_all(cats.values())
    session.flush()

    def sight(station, when, *, cat=None, species=leopard, sex=None, stage="adult"):
        sighting = Sighting(
            deployment=deployments[station],
            species=species,
            individual=cats[cat] if cat else None,
            sex=sex or (cats[cat].sex if cat else None),
            life_stage=stage,
            event_start=when,
            event_end=when,
        )
        session.add(sighting)
        return sighting

    # AL-01: two sightings 10 minutes apart are one event.
    sight("KP-01", utc(2024, 3, 1, 12, 0), cat="AL-01")
    sight("KP-01", utc(2024, 3, 1, 12, 10), cat="AL-01")
    sight("KP-02", utc(2024, 4, 1, 12, 0), cat="AL-01")
    sight("KP-01", utc(2024, 5, 1, 12, 0), cat="AL-01")
    sight("KP-03", utc(2024, 6, 1, 12, 0), cat="AL-01")
    sight("KP-01", utc(2024, 7, 1, 12, 0), cat="AL-01")
    sight("KP-01", utc(2024, 7, 1, 15, 0), cat="AL-01")  # three hours later: another event
    sight("KP-02", utc(2024, 8, 1, 12, 0), cat="AL-02")
    sight("KP-01", utc(2024, 9, 1, 12, 0), stage="cub")
    sight("KP-04", utc(2024, 6, 15, 12, 0), species=deer, sex="male")
    session.commit()
    return {"leopard": leopard, "deer": deer, "cats": cats, "deployments": deployments}


def data_for(session, args=None, **kwargs) -> mapdata.MapData:
    filters = mapfilters.parse_filters(session, args or {})
    return mapdata.map_data(session, filters, minutes=30, timezone=PARK, **kwargs)


def by_code(data: mapdata.MapData) -> dict[str, mapdata.StationMark]:
    return {s.code: s for s in data.stations}


def station_rows(html: str) -> list:
    """The station markers' data as the page carries it."""
    match = re.search(r"trackerMap\.stations\(\w+, (\[.*?\])\);\n", html)
    assert match, "no station layer on the page"
    return json.loads(match.group(1))


def track_data(html: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"trackerMap\.track\(\w+, \w+, (\{.*?\})\);\n", html)]


def overlays(html: str) -> dict[str, str]:
    """The layer control's overlays: the name it shows (HTML) -> the layer's variable."""
    block = re.search(r"overlays :\s*\{(.*?)\},\n", html, re.S).group(1)
    pairs = re.findall(r'^\s*("(?:[^"\\]|\\.)*") : (\w+),$', block, re.M)
    return {json.loads(key): variable for key, variable in pairs}


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


# --- stations -------------------------------------------------------------------------------------


def test_one_marker_per_station_with_and_without_detections(session, park):
    data = data_for(session)
    assert [s.code for s in data.stations] == list(POSITIONS)
    marks = by_code(data)
    assert {code: s.events for code, s in marks.items()} == {
        "KP-01": 5,  # AL-01 four events, the unidentified cub one
        "KP-02": 2,
        "KP-03": 1,
        "KP-04": 0,  # a camera ran, no leopard: absence is data
        "KP-05": 0,  # no camera at all
    }
    assert data.events == 8
    assert {code: s.state for code, s in marks.items()} == {
        "KP-01": "leopard",
        "KP-02": "leopard",
        "KP-03": "leopard",
        "KP-04": "other",
        "KP-05": "none",
    }


def test_the_page_draws_every_station_sized_by_events_coloured_by_leopards(as_role, park):
    html = page(as_role("researcher"), "/map")
    rows = {row[0]: row for row in station_rows(html)}
    assert len(rows) == 5
    by_station = {re.search(r"KP-0\d", row[5]).group(0): row for row in rows.values()}
    radius = {code: row[3] for code, row in by_station.items()}
    assert radius["KP-01"] > radius["KP-02"] > radius["KP-03"] > radius["KP-04"]
    assert radius["KP-04"] == radius["KP-05"] == maps.EMPTY_RADIUS
    assert radius["KP-01"] == maps.MAX_RADIUS
    assert {code: row[4] for code, row in by_station.items()} == {
        "KP-01": "leopard",
        "KP-02": "leopard",
        "KP-03": "leopard",
        "KP-04": "other",
        "KP-05": "none",
    }
    lat, lon = POSITIONS["KP-03"]
    assert [by_station["KP-03"][1], by_station["KP-03"][2]] == [lat, lon]


def test_marker_radius_grows_with_events_and_stays_bounded():
    sizes = [maps.radius(n, 100) for n in (0, 1, 4, 25, 100)]
    assert sizes == sorted(sizes)
    assert sizes[0] == maps.EMPTY_RADIUS
    assert sizes[-1] == maps.MAX_RADIUS


def test_popup_says_station_deployment_individuals_last_detection_and_links(as_role, park):
    html = page(as_role("ranger"), "/map")
    rows = station_rows(html)
    popup = next(row[6] for row in rows if "KP-01" in row[5])
    assert "<strong>KP-01</strong> · Kedrovaya gorge" in popup
    assert "5 independent events (Amur leopard)" in popup
    deployment = park["deployments"]["KP-01"]
    assert f"Active deployment: #{deployment.id} since 2024-01-01, camera H-KP-01" in popup
    assert "<li>AL-01 · Alyona: 4</li>" in popup
    assert "<li>not identified: 1</li>" in popup
    # The cub at 12:00 UTC on 1 September is on 1 September in the park (22:00).
    assert "Last detection: 2024-09-01" in popup
    assert '<a href="/images/?station=KP-01">Images</a>' in popup
    station_id = next(row[0] for row in rows if "KP-01" in row[5])
    assert f'<a href="/stations/{station_id}">Station page</a>' in popup
    empty = next(row[6] for row in rows if "KP-05" in row[5])
    assert "No camera in the period" in empty
    assert "No active deployment" in empty


def test_last_detection_is_the_park_date(session, park):
    when = utc(2024, 10, 31, 20, 0)  # 06:00 on 1 November in the park
    session.add(
        Sighting(
            deployment_id=park["deployments"]["KP-03"].id,
            species_id=park["leopard"].id,
            event_start=when,
            event_end=when,
        )
    )
    session.commit()
    assert by_code(data_for(session))["KP-03"].last_detection == date(2024, 11, 1)


# --- individuals: layers, paths and home ranges ---------------------------------------------------


def test_a_track_per_individual_with_its_path_in_time_order(session, park):
    data = data_for(session)
    tracks = {t.code: t for t in data.tracks}
    assert set(tracks) == {"AL-01", "AL-02"}
    ids = {s.code: s.id for s in data.stations}
    one = tracks["AL-01"]
    assert one.events == 6
    assert one.stations == ((ids["KP-01"], 4), (ids["KP-02"], 1), (ids["KP-03"], 1))
    # KP-01 twice at the end (two events) is drawn once.
    assert one.path == tuple(ids[c] for c in ("KP-01", "KP-02", "KP-01", "KP-03", "KP-01"))
    assert one.path_events == 6
    two = tracks["AL-02"]
    assert (two.events, two.path, two.hull, two.area_km2) == (1, (ids["KP-02"],), (), None)


def test_the_path_follows_the_latest_events_when_there_are_many(session, park):
    data = data_for(session, path_limit=3)
    one = next(t for t in data.tracks if t.code == "AL-01")
    ids = {s.code: s.id for s in data.stations}
    assert one.path == (ids["KP-03"], ids["KP-01"])
    assert (one.path_events, one.events) == (3, 6)


def hand_area_km2(corners: list[tuple[float, float]]) -> float:
    """A triangle's area from its sides (Heron), in UTM zone 52N coordinates from pyproj."""
    utm = Transformer.from_crs("EPSG:4326", "EPSG:32652", always_xy=True)
    (ax, ay), (bx, by), (cx, cy) = (utm.transform(lon, lat) for lat, lon in corners)
    a, b, c = (
        math.dist((bx, by), (cx, cy)),
        math.dist((ax, ay), (cx, cy)),
        math.dist((ax, ay), (bx, by)),
    )
    s = (a + b + c) / 2
    return math.sqrt(s * (s - a) * (s - b) * (s - c)) / 1e6


def test_home_range_is_the_convex_polygon_with_its_area_in_utm_52n(session, park):
    data = data_for(session)
    one = next(t for t in data.tracks if t.code == "AL-01")
    ids = {s.code: s.id for s in data.stations}
    assert set(one.hull) == {ids["KP-01"], ids["KP-02"], ids["KP-03"]}
    triangle = [POSITIONS[c] for c in ("KP-01", "KP-02", "KP-03")]
    by_hand = hand_area_km2(triangle)
    assert one.area_km2 == pytest.approx(by_hand, rel=0.01)
    # And the ellipsoid agrees: UTM distorts areas by well under 1% this close to zone 52's middle.
    lats, lons = [p[0] for p in triangle], [p[1] for p in triangle]
    geodesic, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    assert one.area_km2 == pytest.approx(abs(geodesic) / 1e6, rel=0.01)
    assert 10 < one.area_km2 < 40  # a sanity check on the units: a few km on each side


def test_home_range_ignores_inner_stations_and_lines():
    square = [(1, 43.0, 131.3), (2, 43.0, 131.4), (3, 43.1, 131.4), (4, 43.1, 131.3)]
    hull, area = homerange.home_range([*square, (5, 43.05, 131.35)])
    assert set(hull) == {1, 2, 3, 4}
    expected = hand_area_km2([(43.0, 131.3), (43.0, 131.4), (43.1, 131.4)]) + hand_area_km2(
        [(43.0, 131.3), (43.1, 131.4), (43.1, 131.3)]
    )
    assert area == pytest.approx(expected, rel=1e-6)
    # Two cameras at one place and a third: a line, not an area.
    assert homerange.home_range([(1, 43.0, 131.3), (2, 43.1, 131.3), (3, 43.1, 131.3)]) == ((), 0.0)
    assert homerange.home_range([(1, 43.0, 131.3), (2, 43.1, 131.3)]) == ((), None)


def test_the_page_has_a_layer_per_individual_in_the_layer_control(as_role, park):
    html = page(as_role("ranger"), "/map")
    tracks = {re.search(r"AL-0\d", t["label"]).group(0): t for t in track_data(html)}
    assert set(tracks) == {"AL-01", "AL-02"}
    assert "km² (area in UTM zone 52N (EPSG:32652))" in tracks["AL-01"]["hullLabel"]
    assert len(tracks["AL-01"]["hull"]) == 3
    assert len(tracks["AL-01"]["path"]) == 5
    assert tracks["AL-02"]["hull"] == [] and tracks["AL-02"]["hullLabel"] == ""
    assert "L.control.layers(" in html
    names = " | ".join(overlays(html))
    assert "AL-01 · Alyona" in names and "AL-02" in names
    assert "Camera stations" in names and "Heat map of independent events" in names
    assert "Demo park boundary (approximate)" in names
    assert 'id="tracks"' in html and '<tr data-code="AL-01">' in html


# --- heat map -------------------------------------------------------------------------------------


def test_heat_layer_has_one_weighted_point_per_station_with_events(as_role, park):
    html = page(as_role("ranger"), "/map")
    assert html.count("L.heatLayer(") == 1
    points = json.loads(re.search(r"L\.heatLayer\(\s*(\[.*?\]\]),", html, re.S).group(1))
    # Eight events at three stations: three points, weighted, never one point per event.
    assert len(points) == 3
    weights = sorted(p[2] for p in points)
    assert weights == [pytest.approx(1 / 5), pytest.approx(2 / 5), 1.0]


# --- filters --------------------------------------------------------------------------------------


def test_filter_by_dates_in_the_park_time_zone(session, park):
    data = data_for(session, {"from": "2024-04-01", "to": "2024-06-30"})
    assert {s.code: s.events for s in data.stations if s.events} == {
        "KP-01": 1,
        "KP-02": 1,
        "KP-03": 1,
    }
    # 20:00 UTC on 31 March is 1 April in the park: inside the period.
    when = utc(2024, 3, 31, 20, 0)
    session.add(
        Sighting(
            deployment_id=park["deployments"]["KP-03"].id,
            species_id=park["leopard"].id,
            event_start=when,
            event_end=when,
        )
    )
    session.commit()
    assert by_code(data_for(session, {"from": "2024-04-01"}))["KP-03"].events == 2


def test_effort_follows_the_period(session, park):
    before = data_for(session, {"to": "2023-12-31"})
    assert {s.state for s in before.stations} == {"none"}
    assert before.events == 0


def test_filter_by_species_keeps_leopard_colours(session, park):
    deer = data_for(session, {"species": str(park["deer"].id)})
    marks = by_code(deer)
    assert {code: s.events for code, s in marks.items() if s.events} == {"KP-04": 1}
    assert marks["KP-01"].state == "leopard"  # a leopard was seen there, whatever is mapped
    assert marks["KP-04"].state == "other"
    assert deer.tracks == ()
    assert data_for(session, {"species": "sika deer"}).events == 1
    assert data_for(session, {"species": "all"}).events == 9


def test_filter_by_individual_code_current_or_former(session, park):
    data = data_for(session, {"individual": "al-02"})
    assert {s.code: s.events for s in data.stations if s.events} == {"KP-02": 1}
    assert [t.code for t in data.tracks] == ["AL-02"]
    individuals.rename(session, park["cats"]["AL-02"], code="AL-22", name="", sex="male")
    session.commit()
    filters = mapfilters.parse_filters(session, {"individual": "AL-02"})
    assert filters.individual_code == "AL-22"
    assert filters.individual_note == "AL-02 is now known as AL-22."


def test_filter_by_sex_and_life_stage(session, park):
    female = data_for(session, {"sex": "female"})
    assert female.events == 6 and [t.code for t in female.tracks] == ["AL-01"]
    cubs = data_for(session, {"life_stage": "cub"})
    assert {s.code: s.events for s in cubs.stations if s.events} == {"KP-01": 1}
    assert cubs.tracks == ()


def test_filters_are_query_parameters_echoed_in_the_form(as_role, park):
    html = page(as_role("ranger"), "/map?from=2024-04-01&to=2024-06-30&sex=female&life_stage=adult")
    assert 'name="from" value="2024-04-01"' in html
    assert 'name="to" value="2024-06-30"' in html
    assert '<option value="female" selected>' in html
    assert '<option value="adult" selected>' in html
    assert '<strong id="total">3</strong>' in html


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ("from=2024-13-01", "from", "“2024-13-01” is not a date"),
        ("to=yesterday", "to", "“yesterday” is not a date"),
        ("from=2024-06-01&to=2024-05-01", "to", "ends (2024-05-01) before it starts"),
        ("species=unicorn", "species", "No species “unicorn”"),
        ("species=999999", "species", "No species “999999”"),
        ("individual=AL-99", "individual", "No individual has the code “AL-99”"),
        ("sex=both", "sex", "Sex “both” is not one of: female, male, unknown."),
        ("life_stage=kitten", "life_stage", "Life stage “kitten” is not one of"),
    ],
)
def test_bad_filters_get_a_clear_message_and_400(as_role, park, query, param, message):
    html = page(as_role("ranger"), f"/map?{query}", status=400)
    assert f'data-param="{param}"' in html
    assert message in html
    assert "trackerMap" not in html  # no map drawn from a filter that makes no sense


def test_the_individual_page_embeds_its_map(as_role, park):
    client = as_role("ranger")
    cat = park["cats"]["AL-01"]
    detail = page(client, f"/individuals/{cat.id}")
    assert '<iframe class="individual-map" src="/map?individual=AL-01&amp;embed=1"' in detail
    html = page(client, "/map?individual=AL-01&embed=1")
    assert "<nav>" not in html and 'name="from"' not in html  # the bare map
    tracks = track_data(html)
    assert len(tracks) == 1 and "AL-01" in tracks[0]["label"]
    layer = next(v for name, v in overlays(html).items() if "AL-01" in name)
    assert f"{layer}.addTo(map_" in html  # its layer is shown at once


# --- no CDN ---------------------------------------------------------------------------------------

EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I
)


def test_pages_load_nothing_from_elsewhere(app, as_role, park):
    app.config["PUBLIC_MAP"] = True
    client = as_role("admin")
    for url in ("/map", "/map?individual=AL-01&embed=1", "/map/public"):
        html = page(client, url)
        assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)
        sources = re.findall(r"<script[^>]+src=\"([^\"]+)\"", html)
        assert sources[0] == "/static/vendor/leaflet/leaflet.js"
        assert set(sources[1:]) <= {"/static/vendor/leaflet.heat/leaflet-heat.js"}
        assert '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css"/>' in html
        for name in ("jquery", "bootstrap", "awesome", "font-awesome", "cdn."):
            assert name not in html.lower()
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in html  # tiles: configurable


def test_tiles_are_configurable_and_optional(app, as_role, park):
    app.config["TILE_URL"] = "/tiles/{z}/{x}/{y}.png"
    app.config["TILE_ATTRIBUTION"] = "Park GIS <office>"
    client = as_role("ranger")
    html = page(client, "/map")
    assert '"/tiles/{z}/{x}/{y}.png"' in html
    assert "Park GIS \\u0026lt;office\\u0026gt;" in html
    app.config["TILE_URL"] = ""
    html = page(client, "/map")
    assert "L.tileLayer(" not in html
    assert len(station_rows(html)) == 5  # the stations and layers draw all the same


def test_reference_layers_from_configuration(app, as_role, park, tmp_path):
    layer = tmp_path / "ranger-posts.geojson"
    layer.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": f"Post {SCRIPT}"},
                        "geometry": {"type": "Point", "coordinates": [131.3, 43.1]},
                    }
                ],
            }
        )
    )
    app.config["MAP_LAYERS"] = [str(layer), str(tmp_path / "missing.geojson")]
    html = page(as_role("ranger"), "/map")
    assert "ranger posts" in overlays(html)
    assert "Post \\u0026lt;script\\u0026gt;" in html and SCRIPT not in html
    assert "Reference layer missing.geojson could not be read" in html
    assert "Demo park boundary" not in html


def test_the_demo_boundary_surrounds_the_demo_area():
    data = json.loads(config.DEMO_BOUNDARY.read_text())
    feature = data["features"][0]
    assert "approximate" in feature["properties"]["name"]
    ring = feature["geometry"]["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert min(lats) < 43.00 and max(lats) > 43.25
    assert min(lons) < 131.25 and max(lons) > 131.46


# --- public mode ----------------------------------------------------------------------------------


def test_public_map_is_off_by_default(client, as_role, park):
    assert client.get("/map/public").status_code == 404
    assert as_role("admin").get("/map/public").status_code == 404


def coordinate_forms(value: float) -> set[str]:
    forms = {repr(value), str(value)}
    for digits in (4, 5, 6):
        forms.add(f"{value:.{digits}f}")
        forms.add(f"{math.trunc(value * 10**digits) / 10**digits:.{digits}f}")
    return forms


def test_public_map_shows_grid_cells_and_nothing_exact(app, client, park):
    app.config["PUBLIC_MAP"] = True
    html = page(client, "/map/public")  # no one signed in
    for code, (lat, lon) in POSITIONS.items():
        assert code not in html
        for form in coordinate_forms(lat) | coordinate_forms(lon):
            assert form not in html, f"{code}: {form}"
    for name in ("Kedrovaya gorge", "AL-01", "Alyona", "H-KP-01"):
        assert name not in html
    assert "trackerMap" not in html and "L.heatLayer(" not in html
    cells = re.findall(r"(\d+) independent events? in this 0\.1(?:°|\\u00b0) cell", html)
    assert sorted(int(n) for n in cells) == [1, 2, 5]  # one cell for each of KP-01, 02, 03
    assert '<strong id="total">8</strong>' in html


def test_public_cells_add_up_per_cell(session, park):
    filters = mapfilters.parse_filters(session, {}, allowed=mapfilters.PUBLIC_PARAMS)
    cells = mapdata.public_cells(session, filters, grid=0.1, minutes=30, timezone=PARK)
    assert [(c.south, c.west, c.north, c.east, c.events) for c in cells] == [
        (43.0, 131.3, 43.1, 131.4, 1),  # KP-03
        (43.1, 131.3, 43.2, 131.4, 5),  # KP-01
        (43.1, 131.4, 43.2, 131.5, 2),  # KP-02
    ]
    coarse = mapdata.public_cells(session, filters, grid=0.5, minutes=30, timezone=PARK)
    assert [(c.south, c.west, c.events) for c in coarse] == [(43.0, 131.0, 8)]
    with pytest.raises(ValueError, match="finer"):
        mapdata.public_cells(session, filters, grid=0.001)


def test_public_map_filters_and_refuses_people(app, client, session, park):
    app.config["PUBLIC_MAP"] = True
    html = page(client, "/map/public?from=2024-06-01")
    assert '<strong id="total">5</strong>' in html
    human = session.scalar(select(Species.id).where(Species.kind == "human"))
    html = page(client, f"/map/public?species={human}", status=400)
    assert "Choose an animal species" in html
    html = page(client, "/map/public?from=someday", status=400)
    assert "is not a date" in html


# --- escaping -------------------------------------------------------------------------------------


@pytest.fixture
def hostile(session, park):
    """A station and an individual named by someone up to no good."""
    station = fieldwork.create_station(
        session, code="KP-06", name=SCRIPT, latitude=43.11, longitude=131.33
    )
    deployment = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    cat = Individual(code="AL-66", name=f"{IMG} {{{{ 7*7 }}}}{{% if %}}", species=park["leopard"])
    session.add(cat)
    session.flush()
    for day in range(3):
        when = utc(2024, 2, 1 + day, 12, 0)
        other = park["deployments"][("KP-01", "KP-02", "KP-03")[day]] if day else deployment
        session.add(
            Sighting(
                deployment=other,
                species=park["leopard"],
                individual=cat,
                event_start=when,
                event_end=when,
                comments=SCRIPT,
            )
        )
    session.commit()
    return cat


def test_user_text_is_escaped_in_popups_tooltips_and_layer_names(as_role, hostile):
    html = page(as_role("ranger"), "/map")
    for raw in (SCRIPT, IMG, "<script>alert", "<img src=x", "onerror=alert(1)>"):
        assert raw not in html
    assert "&lt;script&gt;alert(&#34;station&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    rows = station_rows(html)
    row = next(r for r in rows if "KP-06" in r[5])
    assert (
        row[5] == "<strong>KP-06</strong> · &lt;script&gt;alert(&#34;station&#34;)&lt;/script&gt;"
    )
    assert "&lt;script&gt;" in row[6]
    track = next(t for t in track_data(html) if "AL-66" in t["label"])
    assert "&lt;img src=x onerror=alert(1)&gt;" in track["label"]
    # What a name says is never run as a template on the server either.
    assert "49" not in track["label"]
    assert "&#123;&#123; 7*7 &#125;&#125;&#123;% if %&#125;" in track["label"]
    name = next(name for name in overlays(html) if "AL-66" in name)
    assert name.endswith(
        "AL-66 · &lt;img src=x onerror=alert(1)&gt; &#123;&#123; 7*7 &#125;&#125;&#123;% if %&#125;"
    )


def test_escaping_holds_in_the_embedded_individual_map(as_role, hostile):
    html = page(as_role("ranger"), "/map?individual=AL-66&embed=1")
    assert IMG not in html and SCRIPT not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# --- who may see it -------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, park):
    for url in ("/map", "/map?individual=AL-01&embed=1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ["ranger", "researcher", "admin"])
def test_every_role_sees_the_map_and_the_nav_link(as_role, park, role):
    html = page(as_role(role), "/map")
    assert '<a href="/map">Map</a>' in html
    assert len(station_rows(html)) == 5


def test_the_map_with_no_data_still_draws(as_role, app):
    html = page(as_role("ranger"), "/map")
    assert station_rows(html) == []
    assert "L.heatLayer(" not in html
    assert "Demo park boundary" in html


def test_a_missing_browser_library_is_said_on_the_page(app, as_role, park, monkeypatch):
    monkeypatch.setattr(
        "tracker.web.maps.VENDOR",
        ("vendor/leaflet/nothing-here.js", "vendor/leaflet/leaflet.css", "vendor/x.js"),
    )
    html = page(as_role("ranger"), "/map")
    assert "browser files are not installed" in html
    assert "scripts/vendor-assets.sh" in html


# --- size -----------------------------------------------------------------------------------------


def test_page_stays_light_on_a_mid_sized_park(runner, as_role, session):
    result = runner.invoke(args=["demo", "--stations", "300", "--sightings", "5000", "--no-photos"])
    assert result.exit_code == 0, result.output
    client = as_role("ranger")
    response = client.get("/map")
    assert response.status_code == 200
    assert len(response.data) < 500_000, len(response.data)
    html = response.get_data(as_text=True)
    assert len(station_rows(html)) == 300
    assert len(track_data(html)) == 30
    everything = client.get("/map?species=all")
    assert len(everything.data) < 500_000, len(everything.data)


def test_logout_form_still_works_from_the_map(as_role, park):
    """The map page is a normal page of the site: its sign-out form carries a CSRF token."""
    client = as_role("ranger")
    token = csrf_token(client, "/map")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/map").status_code == 302


def test_config_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_SECRET_KEY", "x")
    monkeypatch.setenv("TRACKER_PUBLIC_MAP", "1")
    monkeypatch.setenv("TRACKER_PUBLIC_GRID", "0.25")
    monkeypatch.setenv("TRACKER_MAP_LAYERS", " /a.geojson, ,b.geojson ")
    monkeypatch.setenv("TRACKER_TILE_URL", "")
    settings = config.from_environment(tmp_path)
    assert settings["PUBLIC_MAP"] is True and settings["PUBLIC_GRID"] == 0.25
    assert settings["MAP_LAYERS"] == ["/a.geojson", "b.geojson"]
    assert settings["TILE_URL"] == ""
    monkeypatch.delenv("TRACKER_MAP_LAYERS")
    monkeypatch.delenv("TRACKER_PUBLIC_MAP")
    settings = config.from_environment(tmp_path)
    assert settings["PUBLIC_MAP"] is False
    assert settings["MAP_LAYERS"] == [str(config.DEMO_BOUNDARY)]
    for name, value in (("TRACKER_PUBLIC_GRID", "0.001"), ("TRACKER_PUBLIC_MAP", "yes")):
        monkeypatch.setenv(name, value)
        with pytest.raises(RuntimeError, match=name):
            config.from_environment(tmp_path)
        monkeypatch.delenv(name)
