"""Judging a published catalog: ACCEPTED, PARTIAL or REJECTED, with the reasons, as
22_on_publish shows them.

- ACCEPTED: every item kept (`item_count`); warnings for items no spatial search can find and
  for offers trimmed to known items.
- PARTIAL: some items or offers refused, one warning each (invalid, duplicate id, an
  availability window that ends before it starts, an offer naming only unknown items).
- REJECTED: an `error` with code, message and paths: the catalog is invalid, names another
  BPP than its publisher, has no items or no acceptable item, or its validity has ended.
What is accepted (the kept items and the offers naming them) is cached until the catalog's
validity ends, else the latest end of its offers' validity, else a default from now.
Errors inside one catalog go in that catalog's result; the inbox's schema step is narrowed
(PublishTolerantSchemas) so that they do not NACK every catalog of the publish.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from harness.beckn import time
from harness.findings import Finding
from harness.schemas import SchemaSet
from mocks.cds.cache import CachedCatalog
from mocks.cds.query import locatable
from mocks.stack import same_uri

DEFAULT_VALIDITY_S = 24 * 3600.0

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

_CATALOG_PATH = re.compile(r"^/message/catalogs/(\d+)(/.*)?$")
_IN_CATALOG = re.compile(r"^/message/catalogs/\d+/")
_MEMBER_PATH = re.compile(r"^/(beckn:items|beckn:offers)/(\d+)(/.*)?$")


@dataclass
class Judgement:
    """The result of one published catalog and, unless rejected, what goes in the cache."""

    result: dict[str, Any]
    entry: CachedCatalog | None = None


def _instant(value: Any) -> float | None:
    return time.epoch(value, zone_required=False)  # catalog times without a zone read as UTC


def _dotted(pointer: str) -> str:
    """`/beckn:items/3/beckn:id` -> `.beckn:items[3].beckn:id` (22_on_publish's path style)."""
    out = ""
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


def _notice(code: str, message: str, path: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": {"path": path}}


def _rejected(catalog_id: str, code: str, message: str, paths: str | list[str]) -> Judgement:
    return Judgement({"catalog_id": catalog_id, "status": "REJECTED",
                      "error": {"code": code, "message": message, "paths": paths}})


def _windows_ordered(windows: Any) -> bool:
    for window in windows if isinstance(windows, list) else []:
        if isinstance(window, dict):
            start = _instant(window.get("schema:startTime"))
            end = _instant(window.get("schema:endTime"))
            if start is not None and end is not None and end < start:
                return False
    return True


class PublishTolerantSchemas:
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


class CatalogJudge:
    """Judges each catalog of a catalog_publish against the schemas and the CDS's rules."""

    def __init__(self, schemas: SchemaSet, *, reject_foreign_catalogs: bool = True,
                 default_validity_s: float = DEFAULT_VALIDITY_S) -> None:
        self.schemas = schemas
        self.reject_foreign_catalogs = reject_foreign_catalogs  # bppId/bppUri = the publisher's
        self.default_validity_s = default_validity_s

    def judge(self, context: dict[str, Any], position: int, catalog: Any,
              now: float) -> Judgement:
        """The outcome of one published catalog (`position` in the publish's list)."""
        where = f"catalogs[{position}]"
        if not isinstance(catalog, dict):
            return _rejected(where, INVALID_CATALOG, "a catalog must be an object", where)
        catalog_id = catalog.get("beckn:id")
        if not isinstance(catalog_id, str) or not catalog_id:
            catalog_id = where  # CatalogProcessingResult needs an id even for a nameless one
        item_problems: dict[int, list[str]] = {}
        offer_problems: dict[int, list[str]] = {}
        catalog_problems: list[tuple[str, str]] = []
        for finding in self._catalog_findings(context, catalog):
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
        if self.reject_foreign_catalogs:
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
        accepted, refused = _accept_items(where, items, item_problems, warnings)
        if not accepted:
            return _rejected(catalog_id, INVALID_ITEM,
                             f"none of the {len(items)} items is acceptable: "
                             + "; ".join(w["message"] for w in warnings[:5]),
                             [w["details"]["path"] for w in warnings])
        offers, dropped = _accept_offers(where, catalog.get("beckn:offers", []), accepted,
                                         offer_problems, warnings)
        kept = {**catalog, "beckn:items": accepted}
        if "beckn:offers" in catalog:
            kept["beckn:offers"] = offers
        valid_from, expires_at = self._validity(catalog, offers, now)
        if expires_at <= now:
            ended = time.format(expires_at, timespec="seconds", clamp=True)
            return _rejected(catalog_id, EXPIRED, f"the catalog's validity ended at {ended}",
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

    def _validity(self, catalog: dict[str, Any], offers: list[dict[str, Any]],
                  now: float) -> tuple[float | None, float]:
        """(valid from, expires at): the catalog's validity, else the latest end of an offer's
        validity, else the default validity from now."""
        validity = catalog.get("beckn:validity")
        start = _instant(validity.get("schema:startDate")) if isinstance(validity, dict) else None
        end = _instant(validity.get("schema:endDate")) if isinstance(validity, dict) else None
        if end is None:
            ends = [_instant(o.get("beckn:validity", {}).get("schema:endDate")) for o in offers]
            known = [e for e in ends if e is not None]
            end = max(known) if known and len(known) == len(offers) else None
        return start, end if end is not None else now + self.default_validity_s


def _accept_items(where: str, items: list[Any], problems: dict[int, list[str]],
                  warnings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The items kept and how many were refused; a notice in `warnings` for each refusal and
    for each kept item no spatial search can find."""
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
            if not locatable(item):
                warnings.append(_notice(
                    NO_LOCATION, f"{path}: no chargingStation.serviceLocation.geo or "
                    "beckn:availableAt geo; spatial discover will not find it", path))
            continue
        refused += 1
    return accepted, refused


def _accept_offers(where: str, offers: list[Any], items: list[dict[str, Any]],
                   problems: dict[int, list[str]],
                   warnings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The offers kept (their item lists cut to accepted items) and how many were dropped."""
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
