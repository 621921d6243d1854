"""Who the reference BPP is and how it trades: its identity, fees, URLs, timings and the
faults it starts with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from harness.beckn import envelope
from mocks.bpp.faults import check_known
from mocks.stack import Identity


@dataclass
class BppConfig:
    """Who the BPP is and how it trades. Fees are in the tariff's currency."""

    identity: Identity
    cds_uri: str | None = None
    ttl: str = envelope.DEFAULT_TTL  # of the BPP's own requests (catalog_publish)
    provider_id: str = "ecopower-charging"
    provider_name: str = "EcoPower Charging Pvt Ltd"
    faults: set[str] = field(default_factory=set)  # switched on at start (see faults.py)
    service_fee: float = 10.0
    buyer_finder_fee_pct: float = 2.5  # when the BAP's order names none
    surge_pct: float = 0.0
    discount_pct: float = 0.0
    cancellation_fee: float = 10.0
    free_cancellation_before_s: float = 900.0  # a slot cancelled this early is free
    default_energy_kwh: float = 5.0  # the estimate quoted when the order names no quantity
    payment_url_template: str = ("https://pay.ecopower.example/pay?"
                                 "transaction_id={transaction_id}&amount={amount}")
    tracking_url_base: str = "https://track.ecopower.example/session"
    qr_base_url: str = "https://charge.ecopower.example/qr"
    feedback_url_base: str = "https://ecopower.example/feedback"
    support_url_base: str = "https://support.ecopower.example/ticket"
    support_phone: str = "18001080"
    support_email: str = "support@ecopower.example"
    callback_delay_s: float = 0.0
    payment_delay_s: float | None = 0.5  # payment completes this long after on_init; None: wait
    reservation_grace_s: float = 600.0
    early_start_s: float = 600.0  # a driver may start this long before the slot's hold begins
    # Energy the charger delivers past the order's limit before it stops: a charger that
    # fails to stop, the cause of an overcharge (TSD §12.5.2).
    limit_overrun_kwh: float = 0.0
    vehicle_battery_kwh: float = 40.0
    vehicle_soc_start: float = 20.0
    tick_interval_s: float | None = 0.5  # real seconds between charger ticks on a running clock
    # `Authorization: Bearer <it>` lists the orders of every BAP (GET /_control/orders)
    control_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __post_init__(self) -> None:
        check_known(self.faults)
