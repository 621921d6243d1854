"""Step definitions for certifying a BPP: one line of intent each, calling `BppStory`.

Bound to every feature in `features/bpp/`. Every step ends by asserting that it added no
error finding, so a scenario stops at its first failure with the findings as the message.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from harness.certify.bpp.hostile import HostileRequests
from harness.certify.bpp.ownership import ForeignRequests
from harness.certify.bpp.story import BppStory
from harness.certify.journey import CERTIFICATION, Certification
from harness.paths import FEATURES_DIR
from harness.steps.outcome import checked

scenarios(str(FEATURES_DIR / "bpp"))


@pytest.fixture(scope="session")
def certification(request: pytest.FixtureRequest) -> Certification:
    """The run `ubc-cert run` is performing."""
    return request.config.stash[CERTIFICATION]


@pytest.fixture
def story(certification: Certification, request: pytest.FixtureRequest) -> Iterator[BppStory]:
    journey = certification.journey(request.node.nodeid)
    bpp_story = BppStory(journey)
    yield bpp_story
    journey.finish()
    bpp_story.cleanup()


@pytest.fixture
def hostile(story: BppStory) -> HostileRequests:
    return HostileRequests(story.j)


@pytest.fixture
def foreign(story: BppStory) -> ForeignRequests:
    return ForeignRequests(story.j)


# -- discovery ---------------------------------------------------------------------------------

@given("the candidate BPP's catalog is discoverable through the CDS")
@checked
def _catalog_discoverable(story: BppStory) -> None:
    story.find_any_item()


@when("the BAP discovers the charger by its QR code")
@checked
def _discover_qr(story: BppStory) -> None:
    story.discover_by_qr()


@then("the on_discover lists the scanned charger with a per-kWh tariff")
@checked
def _qr_listed(story: BppStory) -> None:
    story.scanned_item_listed()


@when("the BAP discovers CCS2 chargers within 10 km for a time window")
@checked
def _discover_nearby(story: BppStory) -> None:
    story.discover_ccs2_nearby()


@then("the on_discover lists a CCS2 charger of the candidate")
@checked
def _ccs2_listed(story: BppStory) -> None:
    story.ccs2_listed()


# -- ordering ----------------------------------------------------------------------------------

@when(parsers.parse("the BAP selects the charger for {amount:d} INR"))
@checked
def _select_money(story: BppStory, amount: int) -> None:
    story.select(money=float(amount))


@when(parsers.parse("the BAP selects the charger for {kwh:d} kWh in a one-hour slot"))
@checked
def _select_slot(story: BppStory, kwh: int) -> None:
    story.select(kwh=float(kwh), slot=True, immediate=True)


@then("the BPP answers with an on_select quoting CREATED whose total adds up")
@checked
def _quoted(story: BppStory) -> None:
    story.quote_created()


@when("the BAP initialises the order with the buyer's billing details")
@checked
def _init(story: BppStory) -> None:
    story.init()


@then("the BPP answers with an on_init asking for payment of the quoted total")
@checked
def _payment_requested(story: BppStory) -> None:
    story.payment_requested()


@when("the driver pays through the payment link")
@checked
def _pay(story: BppStory) -> None:
    story.pay()


@then("an unsolicited on_status reports the order PENDING and the payment COMPLETED")
@checked
def _paid(story: BppStory) -> None:
    story.payment_completed_notice()


@when("the BAP confirms the order")
@checked
def _confirm(story: BppStory) -> None:
    story.confirm()


@then("the BPP answers with an on_confirm giving an order id, CONFIRMED, session PENDING")
@checked
def _confirmed(story: BppStory) -> None:
    story.confirmed()


@when("the driver plugs the car in and the BAP asks for the status")
@checked
def _plug_status(story: BppStory) -> None:
    story.plug_in_and_status()


@then("the BPP answers with an on_status showing the connector PREPARING")
@checked
def _preparing(story: BppStory) -> None:
    story.connector_preparing()


@when("the BAP starts the charging session")
@checked
def _start(story: BppStory) -> None:
    story.start()


@when("the driver arrives, plugs in and the BAP starts the charging session")
@checked
def _arrive_start(story: BppStory) -> None:
    story.plug_in()
    story.start()


@then("the BPP answers with an on_update showing INPROGRESS and the session ACTIVE")
@checked
def _started(story: BppStory) -> None:
    story.started()


@when("the BAP tracks the session")
@checked
def _track(story: BppStory) -> None:
    story.track()


@then("the BPP answers with an on_track carrying live telemetry and a tracking URL")
@checked
def _tracked(story: BppStory) -> None:
    story.tracked()


@when("the BAP stops the charging session")
@checked
def _stop(story: BppStory) -> None:
    story.stop()


@then("the BPP answers with an on_update billing the metered energy, order and session "
      "COMPLETED")
@checked
def _billed(story: BppStory) -> None:
    story.billed()


@then("the order kept its id, item and price from on_select to the final bill")
@checked
def _terms_kept(story: BppStory) -> None:
    story.terms_kept()


@when("the charger delivers the energy limit")
@checked
def _deliver(story: BppStory) -> None:
    story.deliver_limit()


@then("an unsolicited callback reports the session COMPLETED with the metered bill")
@checked
def _completed_alone(story: BppStory) -> None:
    story.completed_by_itself()


@when(parsers.parse("the BAP rates the charging experience {value:d} out of 5"))
@checked
def _rate(story: BppStory, value: int) -> None:
    story.rate(value)


@then("the BPP answers with an on_rating that acknowledges the rating")
@checked
def _rated(story: BppStory) -> None:
    story.rating_received()


@when("the BAP raises a support request about the order")
@checked
def _support(story: BppStory) -> None:
    story.support()


@then("the BPP answers with an on_support giving support contact details")
@checked
def _supported(story: BppStory) -> None:
    story.support_answered()


# -- preconditions -----------------------------------------------------------------------------

@given("a confirmed order for 2 kWh on the candidate's charger")
@checked
def _confirmed_order(story: BppStory) -> None:
    story.confirmed_order(kwh=2.0)


@given("a confirmed order for a one-hour slot on the candidate's charger")
@checked
def _confirmed_slot(story: BppStory) -> None:
    story.confirmed_order(kwh=2.0, slot=True)


@given("the charging session has started")
@checked
def _has_started(story: BppStory) -> None:
    for step in (story.plug_in, story.start, story.started):
        step()
        story.j.assert_clean()


@given("a charging session in progress on the candidate's charger")
@checked
def _in_progress(story: BppStory) -> None:
    story.session_in_progress()


@given("a completed charging session on the candidate's charger")
@checked
def _completed(story: BppStory) -> None:
    story.completed_session()


@given("a charging session on the candidate's charger that overran its paid limit")
@checked
def _overran(story: BppStory) -> None:
    story.overran_session()


# -- cancel and corner cases -------------------------------------------------------------------

@when("the BAP cancels the order")
@checked
def _cancel(story: BppStory) -> None:
    story.cancel()


@then("the BPP answers with an on_cancel: order CANCELLED, payment REFUNDED, fee per its terms")
@checked
def _cancelled(story: BppStory) -> None:
    story.cancelled_with_refund()


@then("the BPP refuses the cancellation with error 50001 and the order stays INPROGRESS")
@checked
def _cancel_refused(story: BppStory) -> None:
    story.cancel_refused()


@when("the operator cancels the order at the charge point")
@checked
def _provider_cancel(story: BppStory) -> None:
    story.provider_cancels()


@then("an unsolicited on_cancel reports the order CANCELLED with a new message id")
@checked
def _provider_cancelled(story: BppStory) -> None:
    story.provider_cancelled()


@when("another driver selects the same charger for an overlapping slot")
@checked
def _overlap(story: BppStory) -> None:
    story.overlapping_select()


@then("the BPP answers with an on_select REJECTED with error 40000")
@checked
def _overlap_rejected(story: BppStory) -> None:
    story.rejected_overlap()


@given("the charger has developed a fault")
@checked
def _faulted(story: BppStory) -> None:
    story.fault_charger()


@then("the BPP refuses the start with error 40006 and the order is not in progress")
@checked
def _start_refused(story: BppStory) -> None:
    story.start_refused()


@when("the cable is pulled out of the car")
@checked
def _pull(story: BppStory) -> None:
    story.pull_cable()


@then("an unsolicited on_status reports the session INTERRUPTED with a new message id")
@checked
def _interrupted(story: BppStory) -> None:
    story.interrupted()


@then("an unsolicited on_status reports the payment REFUNDED")
@checked
def _refunded(story: BppStory) -> None:
    story.refunded()


@when("the same driver selects the charger again for 2 kWh")
@checked
def _select_again(story: BppStory) -> None:
    story.select_again()


@then("the BPP answers with an on_select carrying the outstanding balance")
@checked
def _outstanding(story: BppStory) -> None:
    story.outstanding_carried()


# -- security ----------------------------------------------------------------------------------

@given("the BPP acknowledges a correctly signed, valid select from the harness's BAP")
def _control(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.control())(story)


@when(parsers.parse("the BAP sends a select {defect}"))
def _hostile_select(story: BppStory, hostile: HostileRequests, defect: str) -> None:
    checked(lambda _: hostile.send_select(defect))(story)


@then("the BPP refuses it with HTTP 401, a NACK and a WWW-Authenticate header")
def _refused_401(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.refused(401))(story)


@then("the BPP refuses it with HTTP 400 and a NACK carrying the error")
def _refused_400(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.refused(400))(story)


@then("no on_select comes back for it")
def _no_callback(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.expect_no_callback())(story)


@when("the BAP replays a select the BPP already accepted")
def _replay(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.send_replay())(story)


@then("the BPP refuses the replay with HTTP 401 and a NACK")
def _replay_refused(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.refused(401, replay=True))(story)


@then("only one on_select comes back")
def _one_callback(story: BppStory, hostile: HostileRequests) -> None:
    checked(lambda _: hostile.expect_no_callback())(story)


# -- another BAP's requests about the BAP's order ----------------------------------------------

@given("the BPP answers the BAP's own status request with the order")
def _own_status(story: BppStory, foreign: ForeignRequests) -> None:
    checked(lambda _: foreign.control())(story)


@when("a second registered BAP, signing as itself, asks for the status of the order, tracks "
      "it, starts its charging session and cancels it")
def _foreign_requests(story: BppStory, foreign: ForeignRequests) -> None:
    checked(lambda _: foreign.send())(story)


@then("the BPP refuses each of them without revealing the order")
def _foreign_refused(story: BppStory, foreign: ForeignRequests) -> None:
    checked(lambda _: foreign.refused())(story)


@then("the BAP's own status request still shows the order as it was")
def _order_unchanged(story: BppStory, foreign: ForeignRequests) -> None:
    checked(lambda _: foreign.unchanged())(story)


@then("no callback about the order goes to the second BAP")
def _no_foreign_callbacks(story: BppStory, foreign: ForeignRequests) -> None:
    checked(lambda _: foreign.no_callbacks_to_other())(story)
