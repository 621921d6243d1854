"""What a party keeps per request is bounded: a network up for days (`ubc-cert serve`) is asked
for selects, estimates, lookups and publishes without end, and must not grow with them. (The
transcript's bounds: tests/test_transcript_bounds.py; the live view's history:
tests/test_live_view.py; the replay memory's expiry: tests/test_replay_memory.py.)"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.transcript import Transcript
from mocks.bap import BapConfig, ReferenceBap
from mocks.bap.orders import OrderBook as AppOrderBook
from mocks.bpp import BppConfig
from mocks.bpp.orders import OrderBook, OrderRecord
from mocks.bpp.service import KEPT, ReferenceBpp
from mocks.cds.cache import CachedCatalog, CatalogCache
from mocks.charger import Charger
from mocks.stack import Identity, directory


def _bap() -> ReferenceBap:
    identity = Identity.create("bap.test.ubc", "bap", "http://127.0.0.1:9/bap")
    return ReferenceBap(BapConfig(identity), Transcript(), directory=None,  # type: ignore[arg-type]
                        schemas=None)  # type: ignore[arg-type]


def test_the_bap_forgets_the_least_recently_used_transactions() -> None:
    bap = _bap()
    bap.max_transactions = 3
    first = bap.transaction("t-first")
    for n in range(2):
        bap.transaction(f"t{n}")
    assert bap.transaction("t-first") is first  # used again: the most recent now
    bap.transaction("t-new")
    assert list(bap.transactions) == ["t1", "t-first", "t-new"]
    for _ in range(100):
        bap.build("select", {}, bpp_id="bpp", bpp_uri="http://bpp")
    assert len(bap.transactions) == 3


def test_a_callback_in_a_forgotten_transaction_is_refused_as_unknown() -> None:
    bap = _bap()
    bap.max_transactions = 2
    doc = bap.build("select", {}, bpp_id="bpp", bpp_uri="http://bpp")
    for _ in range(2):
        bap.build("select", {}, bpp_id="bpp", bpp_uri="http://bpp")
    callback = {"context": {**doc["context"], "action": "on_select"}}
    assert bap._admit("on_select", callback) == \
        f"unknown transaction_id {doc['context']['transaction_id']!r}"


def _app_order(n: int, paid: bool) -> Any:
    return SimpleNamespace(id=f"order-{n}", initialised=paid, transaction_ids={f"t{n}"},
                           bpp_order_id=None)


def test_the_driver_app_lets_go_of_the_oldest_quotes_first() -> None:
    book = AppOrderBook(quotes=5, orders=8, prune_every=1)
    for n in range(3):
        book.add(_app_order(n, paid=True))
    for n in range(3, 40):
        book.add(_app_order(n, paid=False))
    assert [o.id for o in book] == ["order-0", "order-1", "order-2"] + \
        [f"order-{n}" for n in range(35, 40)]
    for n in range(40, 50):
        book.add(_app_order(n, paid=True))
    assert len(book) == 8 and book.find("order-49") is not None
    assert book.find("order-0") is None  # past every bound: the oldest of all went


def test_the_driver_app_prunes_its_quotes_now_and_then_within_a_bound() -> None:
    """Pruned every few orders (mocks/stack/bounded.py), not at each: it scanned every order
    it held at each estimate."""
    book = AppOrderBook(quotes=10, orders=1000, prune_every=8)
    sizes = []
    for n in range(200):
        book.add(_app_order(n, paid=False))
        sizes.append(len(book))
    assert max(sizes) <= 10 + 8 and sizes[-1] >= 10
    assert book.find("order-199") is not None  # the newest stays


def _draft(n: int, order_id: str | None = None) -> OrderRecord:
    return OrderRecord(transaction_id=f"t{n}", bap_id="bap.test.ubc", context={},
                       item_id="item", connector_id="c", unit_price=18.0, currency="INR",
                       buyer={}, order_id=order_id)


def test_the_bpp_lets_go_of_the_oldest_drafts_first() -> None:
    book = OrderBook(drafts=4, orders=6, prune_every=1)
    book.hold(_draft(0, order_id="order-0"))
    for n in range(1, 30):
        book.hold(_draft(n))
    assert [r.transaction_id for r in book] == ["t0", "t26", "t27", "t28", "t29"]
    assert book.lookup("order-0") is not None
    for n in range(30, 40):
        book.hold(_draft(n, order_id=f"order-{n}"))
    assert len(book) == 6 and book.lookup("order-0") is None


def test_the_bpp_prunes_its_drafts_now_and_then_within_a_bound() -> None:
    book = OrderBook(drafts=10, orders=1000, prune_every=8)
    sizes = []
    for n in range(200):
        book.hold(_draft(n))
        sizes.append(len(book))
    assert max(sizes) <= 10 + 8 and sizes[-1] >= 10
    book = OrderBook(drafts=1000, orders=20, prune_every=8)
    sizes = []
    for n in range(200):
        book.hold(_draft(n, order_id=f"order-{n}"))
        sizes.append(len(book))
    assert max(sizes) <= 20 + 8 and sizes[-1] >= 20
    assert book.of_transaction("bap.test.ubc", "t199") is not None  # the newest stays


def _catalog(n: int, published: float, expires: float) -> CachedCatalog:
    return CachedCatalog(bpp_id="bpp", bpp_uri="http://bpp", catalog_id=f"catalog-{n}",
                         catalog={}, published_at=published, expires_at=expires)


def test_the_cds_keeps_a_bounded_number_of_catalogs_expired_ones_going_first() -> None:
    cache = CatalogCache(most=4)
    cache.put(_catalog(0, 0.0, 10.0))  # expired by the fourth publish
    cache.put(_catalog(1, 1.0, 1000.0))
    for n in range(2, 5):
        cache.put(_catalog(n, 100.0 + n, 1000.0))
    assert [e.catalog_id for e in cache.entries()] == [f"catalog-{n}" for n in (1, 2, 3, 4)]
    for n in range(5, 50):
        cache.put(_catalog(n, 100.0 + n, 1000.0))
    assert [e.catalog_id for e in cache.entries()] == [f"catalog-{n}" for n in range(46, 50)]


def test_the_registry_answers_cached_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory, "CACHED", 10)
    client = directory.RegistryClient("http://127.0.0.1:9", cache_s=60.0)
    for n in range(100):  # a sender naming a new key id each time
        client._remember((("key_id", f"k{n}"), ("subscriber_id", "s")), [])
    assert len(client._cache) == 10
    assert (("key_id", "k99"), ("subscriber_id", "s")) in client._cache


def test_the_bpp_remembers_the_latest_ratings_and_tickets() -> None:
    identity = Identity.create("bpp.test.ubc", "bpp", "http://127.0.0.1:9/bpp")
    bpp = ReferenceBpp(BppConfig(identity=identity), Charger(), Transcript(),
                       directory=None, schemas=None)  # type: ignore[arg-type]
    for n in range(1000):
        bpp.ratings.extend([{"n": n}])
        bpp.tickets.append({"ticket": f"SUP-{n}"})
    assert len(bpp.ratings) == len(bpp.tickets) == KEPT
    assert bpp.ratings[0] == {"n": 1000 - KEPT} and bpp.tickets[-1] == {"ticket": "SUP-999"}
