"""The map page's own folium elements: Leaflet from the app (never a CDN), and the stations and
tracks as one compact JSON array each, drawn by a few lines of JavaScript (`HELPER_JS`) instead
of thousands of folium objects. Scripts go into the page verbatim: branca would compile them as a
template again (slow on a large JSON, and unsafe). Text a user typed is escaped by `html_text`,
and every JSON by `json_in_script`, before either reaches the page. tracker.maps draws with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import folium
import jinja2
from branca.element import Element, MacroElement
from folium.template import Template
from markupsafe import escape


@dataclass(frozen=True)
class Assets:
    """Where the page loads Leaflet from: the app's own static files, never a CDN."""

    leaflet_js: str
    leaflet_css: str
    heat_js: str


def json_in_script(value) -> str:
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


class Script(MacroElement):
    """A script of ours: added to the page verbatim, where folium's elements would have branca
    compile their output as a template again (slow on a large JSON, and unsafe)."""

    def script(self) -> str:
        """The JavaScript to add: each subclass says what (this base class adds none)."""
        raise NotImplementedError("a Script subclass must say what its script is")

    def render(self, **kwargs):
        self.get_root().script.add_child(_Verbatim(self.script()), name=self.get_name())


class Helper(Script):
    """The few lines of JavaScript that draw the compact layers, once per map."""

    def __init__(self):
        super().__init__()
        self._name = "TrackerHelper"

    def script(self) -> str:
        return HELPER_JS


class StationMarkers(Script):
    """Every station of the map as one JSON array, drawn into its parent feature group."""

    def __init__(self, rows: list):
        super().__init__()
        self._name = "StationMarkers"
        self.rows = json_in_script(rows)

    def script(self) -> str:
        group = self._parent.get_name()
        return f"var {self.get_name()} = trackerMap.stations({group}, {self.rows});\n"


class TrackLayer(Script):
    """One individual's stations, path and MCP, drawn into its feature group."""

    def __init__(self, stations: StationMarkers, data: dict):
        super().__init__()
        self._name = "TrackLayer"
        self.stations = stations
        self.data = json_in_script(data)

    def script(self) -> str:
        group, stations = self._parent.get_name(), self.stations.get_name()
        return f"trackerMap.track({group}, {stations}, {self.data});\n"
