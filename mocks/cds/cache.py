"""The CDS's catalog cache: accepted catalogs by (BPP, catalog id), each with its validity.

Publishing the same catalog again replaces it; a catalog outside its validity stays listed
(for `GET /_control/catalogs`) but no discover is answered from it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from harness.beckn import time


def _stamp(epoch: float) -> str:
    return time.format(epoch, timespec="seconds", clamp=True)


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
            "published_at": _stamp(self.published_at),
            "valid_from": None if self.valid_from is None else _stamp(self.valid_from),
            "expires_at": _stamp(self.expires_at),
            "live": self.live(now),
            "catalog": self.catalog,
        }


# Catalogs kept at most: past it, the expired ones go, then the oldest published (a CDS up for
# days may be sent a new catalog id with every publish).
CATALOGS = 4096


class CatalogCache:
    """Cached catalogs by (BPP, catalog id); safe to use from the server loop and tests."""

    def __init__(self, most: int = CATALOGS) -> None:
        self._entries: dict[tuple[str, str], CachedCatalog] = {}
        self._lock = threading.Lock()
        self.most = most

    def put(self, entry: CachedCatalog) -> None:
        with self._lock:
            key = (entry.bpp_id, entry.catalog_id)
            self._entries.pop(key, None)  # the latest publish last
            self._entries[key] = entry
            if len(self._entries) > self.most:
                now = entry.published_at
                for old in [k for k, e in self._entries.items() if e.expires_at <= now]:
                    del self._entries[old]
            for old in list(self._entries)[:max(0, len(self._entries) - self.most)]:
                del self._entries[old]

    def entries(self) -> list[CachedCatalog]:
        with self._lock:
            return list(self._entries.values())

    def live(self, now: float) -> list[CachedCatalog]:
        return [entry for entry in self.entries() if entry.live(now)]

    def publishers(self, now: float) -> set[str]:
        """BPPs with at least one live catalog: the CDS answers for them, no fan-out."""
        return {entry.bpp_id for entry in self.live(now)}

    def clear(self, bpp_id: str | None = None) -> int:
        """Forget every catalog (or one BPP's); how many were forgotten."""
        with self._lock:
            doomed = [key for key in self._entries if bpp_id is None or key[0] == bpp_id]
            for key in doomed:
                del self._entries[key]
            return len(doomed)
