"""Checks that a BAP's client API (client-api-contract.md) reflects the Beckn callbacks behind
it (UBC-API-001, UBC-API-002): the driver sees what the BPP said, and the app acts on it.

`answer` is the /v1 exchange the harness made as the driver's client; `callback` the BPP's
callback (as the harness's BPP sent it) the answer must reflect.
"""

from __future__ import annotations

from typing import Any

from harness.beckn.order import dig
from harness.findings import Finding
from harness.transcript import Exchange

CENT = 0.005  # amounts are money: equal to the cent


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def shown_total_is_quoted(answer: Exchange, shown_at: tuple[str, ...], callback: Exchange,
                          quoted_at: tuple[str, ...]) -> list[Finding]:
    """UBC-API-001: the amount the client API shows (at `shown_at` in its answer) is the
    total the callback quoted (at `quoted_at` in it)."""
    shown = _number(dig(answer.response_json(), *shown_at))
    quoted = _number(dig(callback.json(), *quoted_at))
    if quoted is None or (shown is not None and abs(shown - quoted) < CENT):
        return []
    return [Finding("UBC-API-001", f"{answer.method} {answer.url} shows the driver "
                    f"{shown if shown is not None else 'no amount'}, the BPP's "
                    f"{callback.action} quoted {quoted}", path="/" + "/".join(shown_at),
                    expected=quoted, actual=shown, evidence=[answer.id, callback.id])]


def paid_order_confirmed(notice: Exchange, confirm: Exchange | None,
                         waited_s: float) -> list[Finding]:
    """UBC-API-002: after the BPP's unsolicited on_status reported the payment COMPLETED, the
    app sent confirm."""
    if confirm is not None:
        return []
    return [Finding("UBC-API-002", f"the BPP reported the payment COMPLETED in an unsolicited "
                    f"on_status, and no confirm followed within {waited_s:g} s",
                    path="/message/order/beckn:payment/beckn:paymentStatus",
                    expected="a confirm of the paid order", actual=None,
                    evidence=[notice.id])]
