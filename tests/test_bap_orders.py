"""The reference BAP's orders keep what the BPP told last (mocks/bap/orders.py): a callback out
of order — older than the last taken in and taking the order back — is refused (UBC-CTX-026),
and an older callback read late never undoes newer news (the bill read after the refund). No
server: an `AppOrder` fed contexts and Beckn orders."""

from __future__ import annotations

from typing import Any

from harness.beckn import time as wire_time
from harness.beckn.order import Order
from mocks.bap.catalogs import Listing
from mocks.bap.client_requests import Vehicle
from mocks.bap.orders import AppOrder
from tests.test_relayed_checks import order as beckn

T0 = 1_900_000_000.0


def app_order() -> AppOrder:
    listing = Listing("bpp.example", "http://bpp/beckn", "catalog-1",
                      {"beckn:id": "CCS2-A"}, ())
    return AppOrder(id="order-1", transaction_id="t1", bpp_id="bpp.example",
                    bpp_uri="http://bpp/beckn", listing=listing,
                    vehicle=Vehicle("Tata", "Nexon EV", "4-wheeler"), reservation=False,
                    beckn=Order(seller="cpo", item_id="CCS2-A", quantity_kwh=20.0))


def context(at: float) -> dict[str, Any]:
    return {"transaction_id": "t1", "timestamp": wire_time.format(at)}


def confirmed() -> AppOrder:
    order = app_order()
    order.take(context(T0), beckn("CREATED", payment="INITIATED"))
    order.take(context(T0 + 2), beckn("CONFIRMED", "PENDING", "COMPLETED"))
    return order


def test_a_callback_older_than_the_last_and_taking_the_order_back_is_out_of_order() -> None:
    order = confirmed()
    why = order.out_of_order(context(T0), beckn("CREATED", payment="INITIATED"))
    assert why is not None and "CONFIRMED to CREATED" in why


def test_older_alone_or_behind_alone_is_not_out_of_order() -> None:
    order = confirmed()
    # stamped earlier, but only restating the order (clocks differ)
    assert order.out_of_order(context(T0 + 1), beckn("CONFIRMED", "PENDING", "COMPLETED")) is None
    # behind, but newer than anything taken in: the BPP's to answer for (UBC-STATE-001)
    assert order.out_of_order(context(T0 + 3), beckn("CREATED", payment="INITIATED")) is None
    # a state skipped on the way is not going back
    assert order.out_of_order(context(T0 + 1), beckn("COMPLETED", "COMPLETED", "REFUNDED")) \
        is None


def test_an_answer_read_after_newer_news_does_not_undo_it() -> None:
    order = confirmed()
    order.take(context(T0 + 4), beckn("COMPLETED", "COMPLETED", "REFUNDED"))  # the refund
    order.take(context(T0 + 3), beckn("COMPLETED", "COMPLETED", "COMPLETED"))  # the bill, late
    assert (order.shown_status(), order.shown_payment(), order.shown_charging()) == \
        ("COMPLETED", "REFUNDED", "COMPLETED")
