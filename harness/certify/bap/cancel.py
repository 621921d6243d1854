"""Cancelling an order through the driver's app (TSD §12.1), told as features/bpp/cancel.feature
tells it from the BAP's side: the driver cancels before charging (the app asks the BPP with a
cancel and shows its on_cancel: the order CANCELLED, the payment REFUNDED, the BPP's fee and
refund), a cancel after charging started is refused by the BPP (on_cancel with error 50001,
which the app passes on as a 409 and the order it shows stays charging), and the operator
cancels at the charge point (the harness's BPP sends an unsolicited on_cancel the app must
take and show).

The driver's walk is `BapStory`'s; what the answers must show is harness/checks/shown.py.
"""

from __future__ import annotations

import time

from harness.beckn import hooks
from harness.certify.bap.story import BapStory
from harness.certify.journey import NotEvaluated
from harness.checks import refusal, shown
from harness.transcript import Exchange

REASON = {"cancel_reason": "Change of plans", "cancel_code": "USER_INITIATED"}


class Cancellation:
    """One scenario's cancellation of the order `story` holds."""

    def __init__(self, story: BapStory) -> None:
        self.story = story
        self.j = story.j
        self.answer: Exchange | None = None  # the app's answer to the driver's cancel

    def ask_fee(self) -> None:
        """What cancelling would cost: the app's own estimate (Beckn carries no quote of
        it); its states are held against the BPP's callbacks like every answer."""
        self.story.order_call("GET", "/cancel")

    def cancel(self) -> None:
        """The driver cancels; the answer is judged by the next step, success or not."""
        if not self.story.order_id:
            raise NotEvaluated("no order: the estimate did not give one")
        self.answer = self.story.attempt("POST", f"/orders/{self.story.order_id}/cancel",
                                         REASON)

    def _on_cancel(self) -> Exchange:
        """The BPP's on_cancel answering the app's cancel."""
        assert self.answer is not None
        return self.story.wait_callback("on_cancel", self.answer.mono_time,
                                        "answering the app's cancel")

    def cancelled_as_the_bpp_said(self) -> None:
        """The BPP cancelled: the app answers with success, the fee and refund its on_cancel
        set (UBC-API-007), and the order CANCELLED and REFUNDED (UBC-API-005, in `attempt`)."""
        on_cancel = self._on_cancel()
        assert self.answer is not None
        self.j.add(shown.answered_as_the_bpp_decided(self.answer, on_cancel))
        self.j.assert_clean()
        self.story.succeeded(self.answer)
        self.j.add(shown.shown_cancellation_is_the_bpps(
            self.answer, on_cancel, shown.paid_amount(self.story.order_callbacks())))

    def refused_as_409(self) -> None:
        """The BPP refused the cancel (on_cancel with error 50001): the app's answer is the
        contract's 409, not a cancellation."""
        on_cancel = self._on_cancel()
        if not (on_cancel.json() or {}).get("error"):
            raise NotEvaluated("the harness BPP cancelled an order whose charging had started")
        assert self.answer is not None
        self.j.add(shown.answered_as_the_bpp_decided(self.answer, on_cancel, 409))

    def operator_cancels(self) -> None:
        """The operator cancels at the charge point: the BPP tells the app, unsolicited."""
        order_id = self.story.bpp_order_id()
        if not order_id:
            raise NotEvaluated("the harness BPP holds no order of the app's to cancel")
        self.j.marks["operator_cancelled_at"] = time.monotonic()
        self.story.hook(hooks.CANCEL_BY_PROVIDER, {"transaction_id": order_id})

    def operator_cancel_taken(self) -> None:
        notice = self.story.wait_callback(
            "on_cancel", self.j.marks.get("operator_cancelled_at", self.j.started_mono),
            "reporting the operator's cancellation")
        self.j.add(refusal.valid_request_acknowledged(
            notice, "the harness BPP's valid, signed, unsolicited on_cancel"))
