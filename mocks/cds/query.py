"""What a discover asks for, compiled into one selection over a cached catalog's items.

A discover message may carry `spatial` constraints (s_dwithin around points; s_within,
s_intersects and s_disjoint for points against polygons), a JSONPath `filters` expression
(RFC 9535, see jsonpath.py) and a `text_search`; an item is found when it passes all of them.
`matching_catalog` then cuts a cached catalog down to the found items and the offers that name
them and are valid now (the offer's time window). A discover the CDS cannot interpret raises
DiscoverError, which goes in the on_discover `error` (TSD §13: value errors go in the callback).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from harness.beckn import envelope, time
from mocks.cds.cache import CachedCatalog
from mocks.cds.geometry import Point, haversine_m, in_polygon, points_of, polygons_of
from mocks.cds.jsonpath import FilterSyntaxError, Query, compile_filter, compile_query

ItemTest = Callable[[dict[str, Any]], bool]
Selection = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]  # a catalog's items -> found

# Where an item may be located, in order, when a spatial target selects nothing in it.
ITEM_LOCATIONS = (
    "$['beckn:itemAttributes']['chargingStation']['serviceLocation']['geo']",
    "$['beckn:availableAt'][*]['geo']",
)
_FALLBACK_LOCATIONS = tuple(compile_query(p) for p in ITEM_LOCATIONS)
POLYGON_OPERATORS = ("s_within", "s_intersects", "s_disjoint")  # a point against polygons


class DiscoverError(ValueError):
    """A discover the CDS cannot interpret; goes in the on_discover `error` (TSD §13)."""

    def __init__(self, message: str, paths: str) -> None:
        super().__init__(message)
        self.message = message
        self.paths = paths

    def as_error(self) -> dict[str, Any]:
        return {"code": envelope.INVALID_REQUEST, "message": self.message, "paths": self.paths}


def _located(item: Any, queries: Iterable[Query]) -> list[Point]:
    return [point for query in queries for node in query(item) for point in points_of(node)]


def locatable(item: Any) -> bool:
    """Whether a spatial discover can find the item at all (it has a known location)."""
    return bool(_located(item, _FALLBACK_LOCATIONS))


def spatial_test(constraint: dict[str, Any], where: str) -> ItemTest:
    """An item test for one spatial constraint (`where`: its path in the message)."""
    targets = constraint.get("targets")
    pointers = [targets] if isinstance(targets, str) else targets
    if not isinstance(pointers, list) or not all(isinstance(p, str) and p for p in pointers):
        raise DiscoverError("spatial targets must be a JSONPath or a list of them",
                            f"{where}.targets")
    try:
        queries = [compile_query(p if p.startswith("$") else f"$.{p}", dotted_keys=True)
                   for p in pointers]
    except FilterSyntaxError as exc:
        raise DiscoverError(f"spatial targets: {exc}", f"{where}.targets") from None
    point_test = _point_test(constraint.get("op"), constraint, where)
    quantifier = constraint.get("quantifier", "any")

    def test(item: dict[str, Any]) -> bool:
        # The examples aim `beckn:availableAt` at items that only carry a serviceLocation.
        points = _located(item, queries) or _located(item, _FALLBACK_LOCATIONS)
        if quantifier == "all":
            return bool(points) and all(point_test(p) for p in points)
        if quantifier == "none":
            return not any(point_test(p) for p in points)
        return any(point_test(p) for p in points)
    return test


def _point_test(op: Any, constraint: dict[str, Any], where: str) -> Callable[[Point], bool]:
    geometry = constraint.get("geometry")
    if op == "s_dwithin":
        centres = points_of(geometry)
        radius = constraint.get("distanceMeters")
        if not centres:
            raise DiscoverError("s_dwithin needs a Point or MultiPoint geometry",
                                f"{where}.geometry")
        if not isinstance(radius, int | float) or isinstance(radius, bool) or radius < 0:
            raise DiscoverError("s_dwithin needs distanceMeters >= 0",
                                f"{where}.distanceMeters")

        def near(point: Point) -> bool:
            return any(haversine_m(point, centre) <= radius for centre in centres)
        return near
    if op in POLYGON_OPERATORS:
        polygons = polygons_of(geometry)
        if not polygons:
            raise DiscoverError(f"{op} is supported against a Polygon or MultiPolygon geometry",
                                f"{where}.geometry")
        disjoint = op == "s_disjoint"

        def inside(point: Point) -> bool:
            return any(in_polygon(point, polygon) for polygon in polygons) != disjoint
        return inside
    raise DiscoverError(f"spatial operator {op!r} is not supported by this CDS; use "
                        "s_dwithin, s_within, s_intersects or s_disjoint", f"{where}.op")


def _descriptor_text(descriptor: Any) -> Iterable[str]:
    if isinstance(descriptor, dict):
        for name in ("schema:name", "beckn:shortDesc", "beckn:longDesc"):
            value = descriptor.get(name)
            if isinstance(value, str):
                yield value


def text_test(text: str) -> ItemTest:
    """Every word of the query appears, ignoring case, in the item's or its provider's
    descriptor."""
    words = text.casefold().split()

    def test(item: dict[str, Any]) -> bool:
        provider = item.get("beckn:provider")
        texts = [*_descriptor_text(item.get("beckn:descriptor")),
                 *_descriptor_text(provider.get("beckn:descriptor")
                                   if isinstance(provider, dict) else None)]
        haystack = "\n".join(texts).casefold()
        return all(word in haystack for word in words)
    return test


def _filter_selection(filters: dict[str, Any]) -> Selection:
    if filters.get("type", "jsonpath") != "jsonpath":
        raise DiscoverError("only jsonpath filters are supported", "message.filters.type")
    expression = filters.get("expression")
    if not isinstance(expression, str):
        raise DiscoverError("filters.expression must be a string", "message.filters.expression")
    try:
        return compile_filter(expression).select
    except FilterSyntaxError as exc:
        shown = expression if len(expression) <= 120 else f"{expression[:117]}..."
        raise DiscoverError(f"filters.expression {shown!r}: {exc}",
                            "message.filters.expression") from None


def discover_selection(message: dict[str, Any]) -> Selection:
    """The items of one catalog that a whole discover message finds; raises DiscoverError."""
    tests: list[ItemTest] = []
    spatial = message.get("spatial")
    if isinstance(spatial, list):
        for index, constraint in enumerate(spatial):
            if not isinstance(constraint, dict):
                raise DiscoverError("a spatial constraint must be an object",
                                    f"message.spatial[{index}]")
            tests.append(spatial_test(constraint, f"message.spatial[{index}]"))
    filters = message.get("filters")
    # The filter sees the whole item list: `$` inside it is the catalog's items.
    chosen = _filter_selection(filters) if isinstance(filters, dict) else list
    text = message.get("text_search")
    if isinstance(text, str) and text.strip():
        tests.append(text_test(text))

    def selection(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [item for item in chosen(items) if all(test(item) for test in tests)]
    return selection


def _period_open(period: Any, now: float) -> bool:
    """Whether a TimePeriod's startDate..endDate contains `now` (open ends are open)."""
    if not isinstance(period, dict):
        return True
    start = time.epoch(period.get("schema:startDate"), zone_required=False)
    end = time.epoch(period.get("schema:endDate"), zone_required=False)
    return (start is None or start <= now) and (end is None or now <= end)


def matching_catalog(entry: CachedCatalog, selection: Selection,
                     now: float) -> dict[str, Any] | None:
    """The cached catalog cut down to the items `selection` finds and the valid offers naming
    them (each offer's item list trimmed to those items); None when none is found."""
    items = selection(entry.catalog.get("beckn:items", []))
    if not items:
        return None
    ids = {item["beckn:id"] for item in items}
    offers = []
    for offer in entry.catalog.get("beckn:offers", []):
        named = [i for i in offer["beckn:items"] if i in ids]
        if named and _period_open(offer.get("beckn:validity"), now):
            offers.append({**offer, "beckn:items": named})
    catalog = {**entry.catalog, "beckn:items": items}
    if "beckn:offers" in entry.catalog:
        catalog["beckn:offers"] = offers
    return copy.deepcopy(catalog)
