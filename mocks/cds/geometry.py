"""Points and areas on the Earth for spatial discover: GeoJSON positions, distances, polygons.

Positions are GeoJSON's (longitude, latitude). Distances are great-circle (haversine) on the
mean Earth radius; polygon tests work in plain lon/lat, which is fine for the city-sized areas
a discover asks about.
"""

from __future__ import annotations

import math
from typing import Any

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG); haversine error stays well under 0.5 %

Point = tuple[float, float]  # (longitude, latitude), GeoJSON order
Polygon = list[list[Point]]  # rings: the first is the outer boundary, the rest are holes


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + \
        math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def position(value: Any) -> Point | None:
    """A GeoJSON position with a longitude and latitude in range, else None."""
    if not isinstance(value, list) or len(value) < 2:
        return None
    lon, lat = value[0], value[1]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
        return None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return float(lon), float(lat)


def points_of(node: Any) -> list[Point]:
    """The points of a GeoJSON Point or MultiPoint, or of a Location's `geo`."""
    if not isinstance(node, dict):
        return []
    if "geo" in node and "type" not in node:
        return points_of(node["geo"])
    coordinates = node.get("coordinates")
    if node.get("type") == "Point":
        point = position(coordinates)
        return [] if point is None else [point]
    if node.get("type") == "MultiPoint" and isinstance(coordinates, list):
        return [p for p in map(position, coordinates) if p is not None]
    return []


def polygons_of(geometry: Any) -> list[Polygon]:
    """The polygons of a GeoJSON Polygon or MultiPolygon (those with an outer ring of at
    least three valid positions)."""
    if not isinstance(geometry, dict):
        return []
    coordinates = geometry.get("coordinates")
    if geometry.get("type") == "Polygon":
        shapes = [coordinates]
    elif geometry.get("type") == "MultiPolygon" and isinstance(coordinates, list):
        shapes = coordinates
    else:
        return []
    polygons = []
    for shape in shapes:
        if not isinstance(shape, list):
            continue
        rings = [[p for p in map(position, ring) if p is not None]
                 for ring in shape if isinstance(ring, list)]
        if rings and len(rings[0]) >= 3:
            polygons.append(rings)
    return polygons


def _in_ring(point: Point, ring: list[Point]) -> bool:
    """Ray casting: an odd number of edge crossings to the right means inside."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def in_polygon(point: Point, polygon: Polygon) -> bool:
    """Inside the outer ring and in none of the holes."""
    return _in_ring(point, polygon[0]) and not any(_in_ring(point, hole) for hole in polygon[1:])
