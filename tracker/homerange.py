"""Home ranges: the minimum convex polygon (MCP) of an individual's stations, from 3 stations on,
its area computed in a projected system (UTM zone 52N, EPSG:32652, the park's zone) with pyproj.
The hull and the area are written here (Andrew's monotone chain, the shoelace formula: twenty
lines) rather than taken from shapely, of which the maps would use nothing else."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

# The projected system areas are computed in: UTM zone 52N (WGS 84) covers 126-132 E, the park.
AREA_CRS = "EPSG:32652"
AREA_CRS_NAME = "UTM zone 52N (EPSG:32652)"


@functools.cache
def _to_utm():
    """pyproj's transformer to AREA_CRS, made (and pyproj imported) on the first home range."""
    from pyproj import Transformer

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
