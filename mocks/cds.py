"""The mock Catalog Discovery Service (TSD §8.5): catalog cache, discover, fan-out to BPPs.

- `catalog_publish` (BPP -> CDS): ACK, then judge every published catalog and answer
  `on_catalog_publish` to the publisher with one result per catalog, as 22_on_publish shows:
  ACCEPTED (with `item_count`; warnings for items no spatial search can find, offers trimmed),
  PARTIAL (some items or offers refused: one warning each) or REJECTED (an `error` with code,
  message and paths: no items, a foreign bppId/bppUri, no acceptable item, expired, an invalid
  catalog). Accepted items and
  the offers that name them are cached under (BPP, catalog id) until the catalog's validity
  ends (else the latest offer validity, else `CdsConfig.default_validity_s`); publishing the
  same catalog again replaces it. What is wrong inside one catalog is reported in that
  catalog's result rather than NACKing the whole publish; envelope, context and message shape
  errors are NACKed as for any request.
- `discover` (BAP -> CDS): ACK, then answer `on_discover` from the cache first: items that pass
  every `spatial` constraint, the JSONPath `filters` (mocks/_jsonpath.py) and `text_search`,
  one catalog per cached catalog with a match, keeping the real BPP's `beckn:bppId`/`bppUri`.
  Then fan out (TSD §8.5.1): every BPP SUBSCRIBED in the registry with no live catalog here
  gets the discover, signed by the CDS as the BAP (bap_id/bap_uri = the CDS, same
  transaction_id and message_id); each `on_discover` it sends back to the CDS within the
  discover's ttl is relayed to the BAP, re-signed by the CDS, after the cache answer. Every
  on_discover the BAP gets names the CDS as bpp_id/bpp_uri (as 02_on_discover does); the
  catalogs name the BPPs. A discover the CDS cannot interpret (bad filter syntax, an
  unsupported spatial operator) gets `catalogs: []` and an `error` (code 30000) in its
  on_discover (TSD §13: value errors go in the callback), and is not fanned out.
- `/_control/catalogs`: GET lists the cache with expiry, DELETE empties it (or one BPP's part).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.beckn import envelope
from harness.beckn import time as time_fmt
from harness.findings import Finding
from harness.schemas import SchemaSet
from harness.transcript import Transcript
from mocks._jsonpath import FilterSyntaxError, compile_filter, compile_query
from mocks.stack import Directory, Identity, Inbound, Inbox, Outbox, same_uri
from mocks.stack.inbox import Step

log = logging.getLogger("ubc.mocks.cds")

DEFAULT_VALIDITY_S = 24 * 3600.0
DEFAULT_TTL_S = 30.0  # when a discover's ttl is not a duration we can read
EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG); haversine error stays well under 0.5 %
SUBSCRIBED = "SUBSCRIBED"

# Result and notice codes of on_catalog_publish, in the style of 22_on_publish.
INVALID_CATALOG = "INVALID_CATALOG"
BPP_MISMATCH = "BPP_MISMATCH"
NO_ITEMS = "NO_ITEMS"
INVALID_ITEM = "INVALID_ITEM"
DUPLICATE_ITEM = "DUPLICATE_ITEM"
INVALID_AVAILABILITY = "INVALID_AVAILABILITY"
INVALID_OFFER = "INVALID_OFFER"
UNKNOWN_ITEM_REFERENCE = "UNKNOWN_ITEM_REFERENCE"
NO_LOCATION = "NO_LOCATION"
EXPIRED = "EXPIRED"

# Where an item may be located, in order, when a spatial target selects nothing in it.
ITEM_LOCATIONS = (
    "$['beckn:itemAttributes']['chargingStation']['serviceLocation']['geo']",
    "$['beckn:availableAt'][*]['geo']",
)
_CATALOG_PATH = re.compile(r"^/message/catalogs/(\d+)(/.*)?$")
_IN_CATALOG = re.compile(r"^/message/catalogs/\d+/")
_MEMBER_PATH = re.compile(r"^/(beckn:items|beckn:offers)/(\d+)(/.*)?$")

Clock = Callable[[], float]
ItemTest = Callable[[dict[str, Any]], bool]
Point = tuple[float, float]  # (longitude, latitude), GeoJSON order


@dataclass
class CdsConfig:
    """How the CDS behaves; `clock` (epoch seconds) decides cache validity and can be faked."""

    identity: Identity
    default_validity_s: float = DEFAULT_VALIDITY_S
    clock: Clock = time.time
    fan_out: bool = True
    reject_foreign_catalogs: bool = True  # catalog bppId/bppUri must be the publisher's
    send_timeout_s: float = 5.0


# --- the cache ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedCatalog:
    """One accepted catalog: only its accepted items and the offers that name them."""

    bpp_id: str
    bpp_uri: str
    catalog_id: str
    catalog: dict[str, Any]
    published_at: float
    expires_at: float
    valid_from: float | None = None

    def live(self, now: float) -> bool:
        return (self.valid_from is None or self.valid_from <= now) and now < self.expires_at

    def as_record(self, now: float) -> dict[str, Any]:
        """What `GET /_control/catalogs` lists."""
        return {
            "bpp_id": self.bpp_id,
            "bpp_uri": self.bpp_uri,
            "catalog_id": self.catalog_id,
            "item_count": len(self.catalog.get("beckn:items", [])),
            "offer_count": len(self.catalog.get("beckn:offers", [])),
            "published_at": rfc3339(self.published_at),
            "valid_from": None if self.valid_from is None else rfc3339(self.valid_from),
            "expires_at": rfc3339(self.expires_at),
            "live": self.live(now),
            "catalog": self.catalog,
        }


class CatalogCache:
    """Cached catalogs by (BPP, catalog id); safe to use from the server loop and tests."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], CachedCatalog] = {}
        self._lock = threading.Lock()

    def put(self, entry: CachedCatalog) -> None:
        with self._lock:
            self._entries[(entry.bpp_id, entry.catalog_id)] = entry

    def entries(self) -> list[CachedCatalog]:
        with self._lock:
            return list(self._entries.values())

    def live(self, now: float) -> list[CachedCatalog]:
        return [entry for entry in self.entries() if entry.live(now)]

    def publishers(self, now: float) -> set[str]:
        """BPPs with at least one live catalog: the CDS answers for them, no fan-out."""
        return {entry.bpp_id for entry in self.live(now)}

    def clear(self, bpp_id: str | None = None) -> int:
        with self._lock:
            doomed = [key for key in self._entries if bpp_id is None or key[0] == bpp_id]
            for key in doomed:
                del self._entries[key]
            return len(doomed)


# --- times and places -----------------------------------------------------------------------


def rfc3339(epoch: float) -> str:
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, ValueError, OSError):  # a validity far beyond year 9999
        moment = datetime.max.replace(tzinfo=UTC) if epoch > 0 else datetime.min.replace(
            tzinfo=UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def instant(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 date-time, None when it is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # the schema wants a zone; UTC is the reading
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + \
        math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _position(value: Any) -> Point | None:
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
        point = _position(coordinates)
        return [] if point is None else [point]
    if node.get("type") == "MultiPoint" and isinstance(coordinates, list):
        return [p for p in map(_position, coordinates) if p is not None]
    return []


def _polygons(geometry: Any) -> list[list[list[Point]]]:
    """Rings of each polygon of a Polygon or MultiPolygon (first ring outer, rest holes)."""
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
        rings = [[p for p in map(_position, ring) if p is not None]
                 for ring in shape if isinstance(ring, list)]
        if rings and len(rings[0]) >= 3:
            polygons.append(rings)
    return polygons


def _in_ring(point: Point, ring: list[Point]) -> bool:
    """Ray casting in plain lon/lat: fine for the city-sized areas discover asks about."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _in_polygon(point: Point, rings: list[list[Point]]) -> bool:
    return _in_ring(point, rings[0]) and not any(_in_ring(point, hole) for hole in rings[1:])


# --- discover queries -----------------------------------------------------------------------


class DiscoverError(ValueError):
    """A discover the CDS cannot interpret; goes in the on_discover `error` (TSD §13)."""

    def __init__(self, message: str, paths: str) -> None:
        super().__init__(message)
        self.message = message
        self.paths = paths

    def as_error(self) -> dict[str, Any]:
        return {"code": envelope.INVALID_REQUEST, "message": self.message, "paths": self.paths}


def _located(item: Any, queries: Iterable[Callable[[Any], list[Any]]]) -> list[Point]:
    return [point for query in queries for node in query(item) for point in points_of(node)]


_FALLBACK_LOCATIONS = tuple(compile_query(p) for p in ITEM_LOCATIONS)


def spatial_test(constraint: dict[str, Any], where: str) -> ItemTest:
    """An item test for one spatial constraint: s_dwithin around points, s_within,
    s_intersects and s_disjoint for points against polygons."""
    op = constraint.get("op")
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
    point_test = _point_test(op, constraint, where)
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
    if op in ("s_within", "s_intersects", "s_disjoint"):
        polygons = _polygons(geometry)
        if not polygons:
            raise DiscoverError(f"{op} is supported against a Polygon or MultiPolygon geometry",
                                f"{where}.geometry")
        disjoint = op == "s_disjoint"

        def inside(point: Point) -> bool:
            return any(_in_polygon(point, rings) for rings in polygons) != disjoint
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


def discover_test(message: dict[str, Any]) -> ItemTest:
    """One item test for a whole discover message; raises DiscoverError."""
    tests: list[ItemTest] = []
    spatial = message.get("spatial")
    if isinstance(spatial, list):
        for index, constraint in enumerate(spatial):
            if not isinstance(constraint, dict):
                raise DiscoverError("a spatial constraint must be an object",
                                    f"message.spatial[{index}]")
            tests.append(spatial_test(constraint, f"message.spatial[{index}]"))
    filters = message.get("filters")
    if isinstance(filters, dict):
        if filters.get("type", "jsonpath") != "jsonpath":
            raise DiscoverError("only jsonpath filters are supported", "message.filters.type")
        expression = filters.get("expression")
        if not isinstance(expression, str):
            raise DiscoverError("filters.expression must be a string",
                                "message.filters.expression")
        try:
            tests.append(compile_filter(expression))
        except FilterSyntaxError as exc:
            raise DiscoverError(f"filters.expression: {exc}",
                                "message.filters.expression") from None
    text = message.get("text_search")
    if isinstance(text, str) and text.strip():
        tests.append(text_test(text))
    return lambda item: all(test(item) for test in tests)


def _period_open(period: Any, now: float) -> bool:
    """Whether a TimePeriod's startDate..endDate contains `now` (open ends are open)."""
    if not isinstance(period, dict):
        return True
    start, end = instant(period.get("schema:startDate")), instant(period.get("schema:endDate"))
    return (start is None or start <= now) and (end is None or now <= end)


def matching_catalog(entry: CachedCatalog, test: ItemTest, now: float) -> dict[str, Any] | None:
    """The cached catalog cut down to the items passing `test` and the valid offers naming
    them (each offer's item list trimmed to those items); None when no item passes."""
    items = [item for item in entry.catalog.get("beckn:items", []) if test(item)]
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


# --- publication ----------------------------------------------------------------------------


def _dotted(pointer: str) -> str:
    """`/beckn:items/3/beckn:id` -> `.beckn:items[3].beckn:id` (22_on_publish's path style)."""
    out = ""
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _notice(code: str, message: str, path: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": {"path": path}}


@dataclass
class Judgement:
    """The result of one published catalog and, unless rejected, what goes in the cache."""

    result: dict[str, Any]
    entry: CachedCatalog | None = None


class _PublishTolerantSchemas:
    """The inbox's schema check, except that errors inside one published catalog are left to
    that catalog's on_catalog_publish result (22_on_publish reports "Invalid item payload at
    index 3" there) instead of NACKing every catalog of the publish."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas

    def validate(self, doc: Any, expected_action: str | None = None) -> list[Finding]:
        findings = self.schemas.validate(doc, expected_action=expected_action)
        if expected_action != "catalog_publish":
            return findings
        return [f for f in findings if not _IN_CATALOG.match(f.path or "")]


# --- the service ----------------------------------------------------------------------------


@dataclass
class PendingDiscover:
    """A discover forwarded to BPPs, waiting for their on_discover until `deadline`."""

    request: dict[str, Any]
    targets: dict[str, str]  # bpp_id -> url the discover went to
    deadline: float  # loop time
    cache_answered: asyncio.Event


@dataclass
class _Tasks:
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cds task failed", exc_info=task.exception())

    async def cancel_all(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*self.running, return_exceptions=True)


class CatalogDiscoveryService:
    """The CDS's state and behaviour: cache, pending fan-outs, inbox and outbox."""

    def __init__(self, config: CdsConfig, transcript: Transcript, *, directory: Directory,
                 schemas: SchemaSet, registry_url: str, http: httpx.AsyncClient | None = None,
                 steps: Mapping[str, Step] | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.transcript = transcript
        self.schemas = schemas
        self.registry_url = registry_url.rstrip("/")
        self.cache = CatalogCache()
        self.pending: dict[tuple[str, str], PendingDiscover] = {}
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient()
        self._tasks = _Tasks()
        self.outbox = Outbox(self.identity, transcript, self.http, party="cds",
                             timeout_s=config.send_timeout_s)
        self.inbox = Inbox(
            self.identity, directory, transcript,
            cast(SchemaSet, _PublishTolerantSchemas(schemas)),
            {"catalog_publish": self._on_catalog_publish, "discover": self._on_discover,
             "on_discover": self._on_bpp_answer},
            party="cds", admission=self._admit)
        for name, step in (steps or {}).items():  # e.g. signature checks off for fuzzing
            self.inbox.replace_step(name, step)

    def now(self) -> float:
        return self.config.clock()

    # -- publication ---------------------------------------------------------------------------

    def index(self, context: dict[str, Any], catalogs: list[Any]) -> list[dict[str, Any]]:
        """Judge the catalogs of one catalog_publish, cache what is accepted, and return the
        on_catalog_publish results (one per catalog, in order)."""
        results = []
        for position, catalog in enumerate(catalogs):
            judgement = self.judge(context, position, catalog)
            if judgement.entry is not None:
                self.cache.put(judgement.entry)
            results.append(judgement.result)
        return results

    def judge(self, context: dict[str, Any], position: int, catalog: Any) -> Judgement:
        """The outcome of one published catalog (`position` in the publish's list)."""
        where = f"catalogs[{position}]"
        if not isinstance(catalog, dict):
            return _rejected(where, INVALID_CATALOG, "a catalog must be an object", where)
        catalog_id = catalog.get("beckn:id")
        if not isinstance(catalog_id, str) or not catalog_id:
            catalog_id = where  # CatalogProcessingResult needs an id even for a nameless one
        findings = self._catalog_findings(context, catalog)
        item_problems: dict[int, list[str]] = {}
        offer_problems: dict[int, list[str]] = {}
        catalog_problems: list[tuple[str, str]] = []
        for finding in findings:
            member = _MEMBER_PATH.match(finding.path)
            if member:
                problems = item_problems if member.group(1) == "beckn:items" else offer_problems
                problems.setdefault(int(member.group(2)), []).append(
                    f"{where}{_dotted(finding.path)}: {finding.message}")
            else:
                catalog_problems.append((f"{where}{_dotted(finding.path)}", finding.message))
        if catalog_problems:
            return _rejected(catalog_id, INVALID_CATALOG,
                             "; ".join(f"{p}: {m}" for p, m in catalog_problems[:5]),
                             [p for p, _ in catalog_problems])
        publisher_id, publisher_uri = str(context.get("bpp_id")), str(context.get("bpp_uri"))
        if self.config.reject_foreign_catalogs:
            if catalog["beckn:bppId"] != publisher_id:
                return _rejected(catalog_id, BPP_MISMATCH,
                                 f"beckn:bppId is {catalog['beckn:bppId']!r} but the catalog was "
                                 f"published by {publisher_id!r}", f"{where}.beckn:bppId")
            if not same_uri(catalog["beckn:bppUri"], publisher_uri):
                return _rejected(catalog_id, BPP_MISMATCH,
                                 f"beckn:bppUri is {catalog['beckn:bppUri']!r} but the "
                                 f"publisher's URI is {publisher_uri!r}", f"{where}.beckn:bppUri")
        items = catalog["beckn:items"]
        if not items:
            return _rejected(catalog_id, NO_ITEMS, "the catalog has no items",
                             f"{where}.beckn:items")
        warnings: list[dict[str, Any]] = []
        accepted, refused = self._accept_items(where, items, item_problems, warnings)
        if not accepted:
            return _rejected(catalog_id, INVALID_ITEM,
                             f"none of the {len(items)} items is acceptable: "
                             + "; ".join(w["message"] for w in warnings[:5]),
                             [w["details"]["path"] for w in warnings])
        offers, dropped = self._accept_offers(where, catalog.get("beckn:offers", []), accepted,
                                              offer_problems, warnings)
        kept = {**catalog, "beckn:items": accepted}
        if "beckn:offers" in catalog:
            kept["beckn:offers"] = offers
        now = self.now()
        valid_from, expires_at = self._validity(catalog, offers, now)
        if expires_at <= now:
            return _rejected(catalog_id, EXPIRED,
                             f"the catalog's validity ended at {rfc3339(expires_at)}",
                             f"{where}.beckn:validity")
        result: dict[str, Any] = {"catalog_id": catalog_id,
                                  "status": "PARTIAL" if refused or dropped else "ACCEPTED",
                                  "item_count": len(accepted)}
        if warnings:
            result["warnings"] = warnings
        entry = CachedCatalog(publisher_id, publisher_uri, catalog_id, copy.deepcopy(kept),
                              published_at=now, expires_at=expires_at, valid_from=valid_from)
        return Judgement(result, entry)

    def _catalog_findings(self, context: dict[str, Any], catalog: dict[str, Any]) -> list[Finding]:
        """Schema errors inside one catalog, with paths relative to the catalog."""
        doc = {"context": context, "message": {"catalogs": [catalog]}}
        findings = []
        for finding in self.schemas.validate(doc, expected_action="catalog_publish"):
            match = _CATALOG_PATH.match(finding.path or "")
            if finding.is_error and match:
                finding.path = match.group(2) or ""
                findings.append(finding)
        return findings

    @staticmethod
    def _accept_items(where: str, items: list[Any], problems: dict[int, list[str]],
                      warnings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """The items kept and how many were refused; a notice in `warnings` for each refusal
        and for each kept item no spatial search can find."""
        accepted: list[dict[str, Any]] = []
        seen: set[str] = set()
        refused = 0
        for index, item in enumerate(items):
            path = f"{where}.beckn:items[{index}]"
            if index in problems:
                warnings.append(_notice(INVALID_ITEM, "; ".join(problems[index][:3]), path))
            elif item["beckn:id"] in seen:
                warnings.append(_notice(DUPLICATE_ITEM,
                                        f"{path}: item id {item['beckn:id']!r} appears twice",
                                        f"{path}.beckn:id"))
            elif not _windows_ordered(item.get("beckn:availabilityWindow", [])):
                warnings.append(_notice(INVALID_AVAILABILITY,
                                        f"{path}: an availability window ends before it starts",
                                        f"{path}.beckn:availabilityWindow"))
            else:
                seen.add(item["beckn:id"])
                accepted.append(item)
                if not _located(item, _FALLBACK_LOCATIONS):
                    warnings.append(_notice(
                        NO_LOCATION, f"{path}: no chargingStation.serviceLocation.geo or "
                        "beckn:availableAt geo; spatial discover will not find it", path))
                continue
            refused += 1
        return accepted, refused

    @staticmethod
    def _accept_offers(where: str, offers: list[Any], items: list[dict[str, Any]],
                       problems: dict[int, list[str]],
                       warnings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """The offers kept (their item lists cut to accepted items) and how many were
        dropped."""
        ids = {item["beckn:id"] for item in items}
        kept = []
        for index, offer in enumerate(offers):
            path = f"{where}.beckn:offers[{index}]"
            if index in problems:
                warnings.append(_notice(INVALID_OFFER, "; ".join(problems[index][:3]), path))
                continue
            named = [i for i in offer["beckn:items"] if i in ids]
            unknown = [i for i in offer["beckn:items"] if i not in ids]
            if unknown:
                warnings.append(_notice(
                    UNKNOWN_ITEM_REFERENCE,
                    f"{path}: names items that are not in the cached catalog: "
                    + ", ".join(map(repr, unknown[:5]))
                    + ("; offer dropped" if not named else ""), f"{path}.beckn:items"))
            if named:
                kept.append({**offer, "beckn:items": named})
        return kept, len(offers) - len(kept)

    def _validity(self, catalog: dict[str, Any], offers: list[dict[str, Any]],
                  now: float) -> tuple[float | None, float]:
        """(valid from, expires at): the catalog's validity, else the latest end of an offer's
        validity, else the default validity from now."""
        validity = catalog.get("beckn:validity")
        start = instant(validity.get("schema:startDate")) if isinstance(validity, dict) else None
        end = instant(validity.get("schema:endDate")) if isinstance(validity, dict) else None
        if end is None:
            ends = [instant(o.get("beckn:validity", {}).get("schema:endDate")) for o in offers]
            known = [e for e in ends if e is not None]
            end = max(known) if known and len(known) == len(offers) else None
        return start, end if end is not None else now + self.config.default_validity_s

    async def _on_catalog_publish(self, inbound: Inbound) -> None:
        context = inbound.context
        results = self.index(context, inbound.message["catalogs"])
        answer = {
            "context": envelope.callback_context(context, bpp_id=self.identity.subscriber_id,
                                                 bpp_uri=self.identity.uri),
            "message": {"results": results},
        }
        await self.outbox.send(context["bpp_uri"], "on_catalog_publish", answer)

    # -- discover ------------------------------------------------------------------------------

    def search(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The catalogs the cache answers a discover message with; raises DiscoverError."""
        return self._search(discover_test(message))

    def _search(self, test: ItemTest) -> list[dict[str, Any]]:
        now = self.now()
        found = (matching_catalog(entry, test, now) for entry in self.cache.live(now))
        return [catalog for catalog in found if catalog is not None]

    async def fan_out_targets(self) -> dict[str, str]:
        """BPPs to forward a discover to: SUBSCRIBED in the registry now, with no live
        catalog in the cache, by subscriber id -> registered URL."""
        try:
            response = await self.http.post(
                f"{self.registry_url}/lookup", json={"type": "BPP", "domain": envelope.DOMAIN},
                timeout=self.config.send_timeout_s)
            records = response.json() if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("registry lookup of BPPs failed: %s", exc)
            return {}
        publishers = self.cache.publishers(self.now())
        targets: dict[str, str] = {}
        for record in records if isinstance(records, list) else []:
            if not isinstance(record, dict) or not _subscribed_now(record):
                continue
            subscriber, url = record.get("subscriber_id"), record.get("url")
            if isinstance(subscriber, str) and isinstance(url, str) and \
                    subscriber not in publishers and subscriber != self.identity.subscriber_id:
                targets.setdefault(subscriber, url)
        return targets

    async def _on_discover(self, inbound: Inbound) -> None:
        request = inbound.doc
        cache_answered = asyncio.Event()
        try:
            test = discover_test(inbound.message)
        except DiscoverError as exc:
            await self._answer(request, {"catalogs": []}, exc.as_error())
            return
        if self.config.fan_out:
            self._tasks.spawn(self._fan_out(request, cache_answered))
        try:
            await self._answer(request, {"catalogs": self._search(test)})
        finally:
            cache_answered.set()

    async def _answer(self, request: dict[str, Any], message: dict[str, Any],
                      error: dict[str, Any] | None = None) -> None:
        """on_discover to the BAP that asked, signed by the CDS and naming it as bpp."""
        doc: dict[str, Any] = {
            "context": envelope.callback_context(request["context"],
                                                 bpp_id=self.identity.subscriber_id,
                                                 bpp_uri=self.identity.uri),
            "message": message,
        }
        if error:
            doc["error"] = error
        await self.outbox.send(request["context"]["bap_uri"], "on_discover", doc)

    async def _fan_out(self, request: dict[str, Any], cache_answered: asyncio.Event) -> None:
        targets = await self.fan_out_targets()
        if not targets:
            return
        context = request["context"]
        key = (context["transaction_id"], context["message_id"])
        loop = asyncio.get_running_loop()
        try:
            ttl = time_fmt.duration_seconds(str(context.get("ttl")))
        except ValueError:
            ttl = DEFAULT_TTL_S
        self._forget_expired()
        self.pending[key] = PendingDiscover(request, targets, loop.time() + ttl, cache_answered)
        forwarded = {
            "context": {**context, "bap_id": self.identity.subscriber_id,
                        "bap_uri": self.identity.uri, "timestamp": time_fmt.now()},
            "message": request["message"],
        }
        await asyncio.gather(*(self.outbox.send(url, "discover", forwarded,
                                                note=f"fan-out to {bpp}")
                               for bpp, url in targets.items()))

    def _forget_expired(self) -> None:
        now = asyncio.get_running_loop().time()
        for key in [k for k, p in self.pending.items() if p.deadline < now]:
            del self.pending[key]

    def _admit(self, action: str, doc: dict[str, Any]) -> str | None:
        """An on_discover is taken only from a BPP the CDS asked, within the discover's ttl."""
        if action != "on_discover":
            return None
        self._forget_expired()
        context = doc["context"]
        pending = self.pending.get((context.get("transaction_id"), context.get("message_id")))
        if pending is None:
            return ("on_discover answers no discover this CDS forwarded (unknown "
                    "transaction_id/message_id, or the discover's ttl is over)")
        if context.get("bpp_id") not in pending.targets:
            return f"the discover was not forwarded to {context.get('bpp_id')!r}"
        if context.get("bap_id") != self.identity.subscriber_id:
            return f"bap_id must be the CDS {self.identity.subscriber_id!r}, which asked"
        return None

    async def _on_bpp_answer(self, inbound: Inbound) -> None:
        """Relay a fanned-out BPP's on_discover to the BAP, after the cache answer."""
        context = inbound.context
        pending = self.pending.get((context["transaction_id"], context["message_id"]))
        if pending is None:
            return  # its ttl ended between admission and now
        remaining = pending.deadline - asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.cache_answered.wait(), max(remaining, 0.0))
        error = inbound.doc.get("error")
        await self._answer(pending.request, inbound.message,
                           error if isinstance(error, dict) and error else None)

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._tasks.cancel_all()
        if self._owns_http:
            await self.http.aclose()


def _rejected(catalog_id: str, code: str, message: str, paths: str | list[str]) -> Judgement:
    return Judgement({"catalog_id": catalog_id, "status": "REJECTED",
                      "error": {"code": code, "message": message, "paths": paths}})


def _windows_ordered(windows: Any) -> bool:
    for window in windows if isinstance(windows, list) else []:
        if isinstance(window, dict):
            start, end = instant(window.get("schema:startTime")), \
                instant(window.get("schema:endTime"))
            if start is not None and end is not None and end < start:
                return False
    return True


def _subscribed_now(record: dict[str, Any]) -> bool:
    if record.get("status") != SUBSCRIBED:
        return False
    start, end = instant(record.get("valid_from")), instant(record.get("valid_until"))
    now = time.time()  # registry validity is real time, not the cache's clock
    return start is not None and end is not None and start <= now <= end


def create_app(config: CdsConfig, transcript: Transcript, *, directory: Directory,
               schemas: SchemaSet, registry_url: str, http: httpx.AsyncClient | None = None,
               steps: Mapping[str, Step] | None = None) -> Starlette:
    """The CDS as an ASGI app: Beckn endpoints at the path of its URI, `/_control/catalogs`
    and `/_health`. The service is `app.state.cds`."""
    cds = CatalogDiscoveryService(config, transcript, directory=directory, schemas=schemas,
                                  registry_url=registry_url, http=http, steps=steps)

    async def catalogs(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            bpp_id = request.query_params.get("bpp_id")
            return JSONResponse({"removed": cds.cache.clear(bpp_id or None)})
        now = cds.now()
        return JSONResponse({"now": rfc3339(now),
                             "catalogs": [e.as_record(now) for e in cds.cache.entries()]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"role": "cds", "subscriber_id": cds.identity.subscriber_id})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await cds.aclose()

    routes = [*cds.inbox.routes(),
              Route("/_control/catalogs", catalogs, methods=["GET", "DELETE"]),
              Route("/_health", health, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.cds = cds
    return app
