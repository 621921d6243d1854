"""What an order costs and how it is settled: the quote of select and init, the payment terms,
the final bill from metered energy (TSD §12.5), refunds, cancellation fees, and the balances a
buyer still owes from an overcharged session, which their next order carries (TSD §12.5.2)."""

from __future__ import annotations

import time
from dataclasses import replace

from harness.beckn import envelope
from harness.beckn import time as wire_time
from harness.beckn.order import Payment, PriceComponent, money
from mocks.bpp.config import BppConfig
from mocks.bpp.orders import OrderRecord, Outstanding

SERVICE_FEE_DESCRIPTION = "Service fee"


def _fmt(value: float) -> str:
    """A number for a description: 18 not 18.0, at most 3 decimals."""
    return f"{round(value, 3):g}"


class Ledger:
    """What each buyer still owes from overcharged sessions, by buyer id."""

    def __init__(self) -> None:
        self._owed: dict[str, list[Outstanding]] = {}

    def owed(self, buyer_id: str) -> list[Outstanding]:
        return list(self._owed.get(buyer_id, []))

    def balance(self, buyer_id: str) -> float:
        return money(sum(entry.amount for entry in self._owed.get(buyer_id, [])))

    def owe(self, buyer_id: str, *entries: Outstanding) -> None:
        self._owed.setdefault(buyer_id, []).extend(entries)

    def collect(self, record: OrderRecord) -> None:
        """The balances carried into a paid order are settled by its payment."""
        ledger = self._owed.get(record.buyer_id, [])
        for entry in record.carried:
            if entry in ledger:
                ledger.remove(entry)


# --- quoting ------------------------------------------------------------------------------------


def energy_estimate(record: OrderRecord, config: BppConfig) -> float:
    if record.quantity_kwh is not None:
        return record.quantity_kwh
    if record.money_limit is not None:
        return record.money_limit / record.unit_price
    return config.default_energy_kwh


def quote(record: OrderRecord, config: BppConfig) -> list[PriceComponent]:
    """The price of what the order asks for, with every charge the BPP adds."""
    price = record.unit_price
    if record.money_limit is not None:
        unit = PriceComponent(
            "UNIT", money(record.money_limit),
            f"Charging budget ({_fmt(record.money_limit)} {record.currency} at "
            f"{_fmt(price)} {record.currency}/kWh, about "
            f"{_fmt(record.money_limit / price)} kWh)", record.currency)
    else:
        kwh = energy_estimate(record, config)
        unit = PriceComponent(
            "UNIT", money(price * kwh),
            f"Base charging session cost ({_fmt(price)} {record.currency}/kWh × "
            f"{_fmt(kwh)} kWh)", record.currency)
    return _with_charges(record, [unit], config)


def _with_charges(record: OrderRecord, energy: list[PriceComponent],
                  config: BppConfig) -> list[PriceComponent]:
    """Energy lines plus surge, discount, fees and carried balances, each to the paisa."""
    base = money(sum(c.value for c in energy))
    cur = record.currency
    components = list(energy)
    if config.surge_pct > 0:
        components.append(PriceComponent(
            "SURCHARGE", money(base * config.surge_pct / 100),
            f"Surge price ({_fmt(config.surge_pct)}%)", cur))
    if config.discount_pct > 0:
        components.append(PriceComponent(
            "DISCOUNT", -money(base * config.discount_pct / 100),
            f"Offer discount ({_fmt(config.discount_pct)}%)", cur))
    if config.service_fee > 0:
        components.append(PriceComponent("FEE", money(config.service_fee),
                                         SERVICE_FEE_DESCRIPTION, cur))
    if record.finder_fee is not None:
        kind, value = record.finder_fee
        if kind == "PERCENTAGE":
            components.append(PriceComponent("FEE", money(base * value / 100),
                                             f"Buyer finder fee ({_fmt(value)}%)", cur))
        else:
            components.append(PriceComponent("FEE", money(value), "Buyer finder fee", cur))
    components.extend(PriceComponent("FEE", money(entry.amount), entry.description, cur)
                      for entry in record.carried)
    return components


def payment_terms(record: OrderRecord, config: BppConfig) -> Payment:
    """The payment on_init asks for: the quote's total, through the gateway's link."""
    total = money(sum(c.value for c in record.components))
    url = config.payment_url_template.format(transaction_id=record.transaction_id,
                                             amount=f"{total:.2f}")
    return Payment(status="INITIATED", amount=total, id=f"payment-{envelope.new_id()}",
                   url=url, txn_ref=f"TXN-{envelope.new_id()[:12].replace('-', '').upper()}",
                   currency=record.currency)


def mark_paid(record: OrderRecord, ledger: Ledger) -> None:
    """The buyer paid the order's payment: the order is PENDING, its carried balances paid."""
    assert record.payment is not None
    record.payment.status = "COMPLETED"
    record.payment.paid_at = wire_time.now()
    record.payment.upi_transaction_id = f"UPI{int(time.time() * 1000) % 10**12:012d}"
    record.paid = record.payment.amount
    record.status = "PENDING"
    ledger.collect(record)


# --- settling -----------------------------------------------------------------------------------


def bill(record: OrderRecord, kwh: float, config: BppConfig) -> list[PriceComponent]:
    """The final bill from metered energy at the order's tariff (TSD §12.5). All metered
    energy is one UNIT line, so UNIT = metered kWh x tariff holds for any session."""
    price, cur = record.unit_price, record.currency
    ordered = record.quantity_kwh
    excess = ""
    if record.money_limit is None and ordered is not None and kwh > ordered:
        excess = f", {_fmt(kwh - ordered)} kWh beyond the {_fmt(ordered)} kWh pre-authorised"
    unit = PriceComponent("UNIT", money(price * kwh),
                          f"Charging session cost ({_fmt(price)} {cur}/kWh × {_fmt(kwh)} kWh "
                          f"metered{excess})", cur)
    return _with_charges(record, [unit], config)


def settle(record: OrderRecord, metered_kwh: float, ledger: Ledger, config: BppConfig) -> None:
    """Close the order on the session's metered energy: bill, refund due, or balance owed.
    Once: a settled order keeps its bill."""
    record.settling = True
    if record.bill is not None:
        return
    # amounts come from the meter's own reading, so a money limit bills exactly the limit
    record.bill = bill(record, metered_kwh, config)
    record.metered_kwh = round(metered_kwh, 3)
    record.status = "COMPLETED"
    record.session_status = "COMPLETED"
    difference = money(record.paid - record.total)
    if difference > 0:
        record.refund = difference
    elif difference < 0 and record.order_id is not None:
        ledger.owe(record.buyer_id,
                   Outstanding(-difference, record.order_id, record.transaction_id))


def refund(record: OrderRecord) -> bool:
    """The gateway refunds what the bill left over; False when nothing is (still) due."""
    if record.refund <= 0 or record.payment is None or record.payment.status == "REFUNDED":
        return False
    record.payment = replace(record.payment, status="REFUNDED", amount=record.refund,
                             paid_at=wire_time.now())
    return True


def cancellation_fee(record: OrderRecord, config: BppConfig, now: float) -> float:
    """What a buyer's cancellation costs: nothing unpaid or well before the slot, else the
    fee (at most what was paid)."""
    if record.paid <= 0:
        return 0.0
    if record.slot is not None and record.slot[0] - now >= config.free_cancellation_before_s:
        return 0.0  # cancelled early enough before the slot
    return min(config.cancellation_fee, record.paid)


def close_cancelled(record: OrderRecord, *, fee: float, reason: str, ledger: Ledger) -> None:
    """The order is CANCELLED: billed only `fee`, the rest of a payment refunded."""
    record.status = "CANCELLED"
    record.session_status = None  # no session will follow; on_cancel carries none
    record.bill = [PriceComponent("FEE", money(fee), reason, record.currency)]
    if record.payment is not None and record.payment.status == "COMPLETED":
        record.refund = money(record.paid - fee)
        record.payment = replace(record.payment, status="REFUNDED", amount=record.refund,
                                 paid_at=wire_time.now())
        # a balance carried into this order is refunded with it, so it is owed again
        ledger.owe(record.buyer_id, *record.carried)
