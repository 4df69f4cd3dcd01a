"""The map: every signed-in role; a public map of events per grid cell when configured.

Filters are query parameters, so a map can be bookmarked and shared. `embed=1` gives the bare
map (no site navigation, no filter form), for the individual page's frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, abort, current_app, render_template, request, url_for
from sqlalchemy import select

from tracker import homerange, mapdata, mapfilters
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import LIFE_STAGES, SEXES, Individual, Species
from tracker.public import PublicPolicy
from tracker.web import requires
from tracker.web.security import allow_framing_by_this_site

if TYPE_CHECKING:
    from tracker import maps


def _maps():
    """The drawing module, imported on the first map drawn: folium and its templates take about
    0.3 s to import, which every web worker's start would otherwise pay."""
    from tracker import maps

    return maps


bp = Blueprint("maps", __name__, url_prefix="/map")
VENDOR = (
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet.heat/leaflet-heat.js",
)


def _options() -> tuple[maps.MapOptions, list[str]]:
    """How maps are drawn here, and any problem worth a warning on the page."""
    config = current_app.config
    js, css, heat = (url_for("static", filename=name) for name in VENDOR)
    paths = config["MAP_LAYERS"]
    if isinstance(paths, str):
        paths = [p.strip() for p in paths.split(",") if p.strip()]
    layers, problems = _maps().load_layers(paths, base=Path(current_app.instance_path))
    static = Path(current_app.static_folder or "")
    missing = [name for name in VENDOR if not (static / name).is_file()]
    if missing:
        problems.append(
            "The map's browser files are not installed (" + ", ".join(missing) + "): run "
            "scripts/vendor-assets.sh. Until then the map cannot be drawn."
        )
    options = _maps().MapOptions(
        assets=_maps().Assets(leaflet_js=js, leaflet_css=css, heat_js=heat),
        tile_url=config["TILE_URL"],
        attribution=config["TILE_ATTRIBUTION"],
        layers=tuple(layers),
        station_url=lambda s: url_for("stations.detail", station_id=s.id),
        images_url=lambda s: url_for("images.index", station=s.code),
    )
    return options, problems


def _choices(session) -> dict:
    return {
        "species": session.execute(
            select(Species.id, Species.common_name).order_by(Species.common_name)
        ).all(),
        "codes": session.scalars(select(Individual.code).order_by(Individual.code)).all(),
        "sexes": SEXES,
        "life_stages": LIFE_STAGES,
    }


def _drawing_settings() -> tuple:
    """What, besides the data, changes a drawn map: part of its cache key."""
    config = current_app.config
    return tuple(str(config[k]) for k in ("TILE_URL", "TILE_ATTRIBUTION", "MAP_LAYERS"))


def _drawn(session, filters: mapfilters.Filters, options) -> tuple[mapdata.MapData, str]:
    """The map's data and its drawing: the event rule over the filter's sightings."""
    data = mapdata.map_data(
        session,
        filters,
        minutes=current_app.config["EVENT_MINUTES"],
        timezone=current_app.config["TIMEZONE"],
    )
    return data, _maps().render(_maps().build_map(data, options))


def _public_drawn(session, filters: mapfilters.Filters, grid: float, options) -> tuple[list, str]:
    """The public map's cells and drawing: the event rule over the filter's sightings."""
    cells = mapdata.public_cells(
        session,
        filters,
        grid=grid,
        minutes=current_app.config["EVENT_MINUTES"],
        timezone=current_app.config["TIMEZONE"],
    )
    return cells, _maps().render(_maps().public_map(cells, options, grid))


@bp.route("")
@requires("view")
def index():
    session = get_session()
    embed = request.args.get("embed") == "1"
    template = "maps/embed.html" if embed else "maps/index.html"
    if embed:
        allow_framing_by_this_site()  # the individual page shows it in a frame
    options, problems = _options()
    values = {name: request.args.get(name, "") for name in mapfilters.PARAMS}
    try:
        filters = mapfilters.parse_filters(session, request.args)
    except InvalidInput as exc:
        page = render_template(
            template, errors=exc.errors, values=values, problems=problems, **_choices(session)
        )
        return page, 400
    data, rendered = current_app.extensions["tracker.figures"].get(
        session,
        ("map", tuple(sorted(filters.values.items())), embed, _drawing_settings()),
        lambda: _drawn(session, filters, options),
    )
    return render_template(
        template,
        errors={},
        values=filters.values,
        filters=filters,
        data=data,
        rendered=rendered,
        problems=problems,
        states=_maps().STATES,
        area_crs=homerange.AREA_CRS_NAME,
        path_limit=mapdata.PATH_LIMIT,
        timezone=current_app.config["TIMEZONE"],
        **_choices(session),
    )


@bp.route("/public")
def public():
    """Events per grid cell, for a visitor centre or a report: no station, no exact position."""
    if not current_app.config["PUBLIC_MAP"]:
        abort(404)
    session = get_session()
    grid = float(current_app.config["PUBLIC_GRID"])
    options, problems = _options()
    species = session.execute(
        select(Species.id, Species.common_name)
        .where(Species.kind == "animal", Species.id.not_in(PublicPolicy.private_species()))
        .order_by(Species.common_name)
    ).all()
    values = {name: request.args.get(name, "") for name in mapfilters.PUBLIC_PARAMS}
    context = {"grid": grid, "species": species, "problems": problems}
    try:
        filters = mapfilters.parse_filters(session, request.args, allowed=mapfilters.PUBLIC_PARAMS)
        if filters.species_id is not None and filters.species_id not in {s.id for s in species}:
            # People and blank frames are not for a public map.
            raise InvalidInput({"species": "Choose an animal species from the list."})
    except InvalidInput as exc:
        page = render_template("maps/public.html", errors=exc.errors, values=values, **context)
        return page, 400
    cells, rendered = current_app.extensions["tracker.figures"].get(
        session,
        ("public-map", tuple(sorted(filters.values.items())), grid, _drawing_settings()),
        lambda: _public_drawn(session, filters, grid, options),
    )
    return render_template(
        "maps/public.html",
        errors={},
        values=filters.values,
        filters=filters,
        cells=cells,
        total=sum(c.events for c in cells),
        rendered=rendered,
        timezone=current_app.config["TIMEZONE"],
        **context,
    )
