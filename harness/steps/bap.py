"""Step definitions for certifying a BAP: one line of intent each, calling `BapStory`.

Bound to every feature in `features/bap/`. Like the BPP's steps, every step ends by asserting
that it added no error finding; a step that cannot be judged is skipped as not evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from harness.certify.bap.cancel import Cancellation
from harness.certify.bap.corners import CornerCases
from harness.certify.bap.fuzz import ClientApiFuzz
from harness.certify.bap.hostile import FOREIGN_BPP, OUT_OF_ORDER, HostileCallbacks
from harness.certify.bap.story import BapStory
from harness.certify.journey import CERTIFICATION, Certification
from harness.paths import FEATURES_DIR
from harness.steps.outcome import checked

scenarios(str(FEATURES_DIR / "bap"))


@pytest.fixture(scope="session")
def certification(request: pytest.FixtureRequest) -> Certification:
    """The run `ubc-cert run` is performing."""
    return request.config.stash[CERTIFICATION]


@pytest.fixture
def story(certification: Certification, request: pytest.FixtureRequest) -> Iterator[BapStory]:
    bap_story = BapStory(certification.journey(request.node.nodeid))
    yield bap_story
    bap_story.judge()  # what the app sent after the last step
    bap_story.cleanup()


@pytest.fixture
def hostile(story: BapStory) -> Iterator[HostileCallbacks]:
    callbacks = HostileCallbacks(story)
    yield callbacks
    callbacks.release()


@given("the harness BPP's catalog is discoverable through the CDS")
@checked
def _catalog_listed(story: BapStory) -> None:
    story.catalog_listed()


@when("the driver searches the app for chargers near the site")
@checked
def _search(story: BapStory) -> None:
    story.search()


@then("the app found the charger through a discover to the CDS")
@checked
def _discovered(story: BapStory) -> None:
    story.discovered_through_cds()


@when(parsers.parse("the driver asks the app for an estimate of {kwh:d} kWh at the charger"))
@checked
def _estimate(story: BapStory, kwh: int) -> None:
    story.estimate(float(kwh))


@then("the app selected the charger and shows the total the BPP quoted in on_select")
@checked
def _quoted(story: BapStory) -> None:
    story.shows_quoted_total()


@when("the driver pays through the app")
@checked
def _pay(story: BapStory) -> None:
    story.pay()


@then("the app initialised the order and shows the amount the BPP asked for in on_init")
@checked
def _asked(story: BapStory) -> None:
    story.shows_asked_amount()


@then("the app confirms the order once the BPP reports the payment COMPLETED")
@checked
def _confirmed(story: BapStory) -> None:
    story.confirms_once_paid()


@when(parsers.re(r"the driver (arrives, )?plugs the car in and starts charging from the app"))
@checked
def _start(story: BapStory) -> None:
    story.plug_in_and_start()


@when("the driver looks at the order in the app while it charges")
@checked
def _watch(story: BapStory) -> None:
    story.watch()


@when("the driver stops charging from the app")
@checked
def _stop(story: BapStory) -> None:
    story.stop()


@when(parsers.parse("the driver rates the charging experience {value:d} out of 5 in the app"))
@checked
def _rate(story: BapStory, value: int) -> None:
    story.rate(value)


@when("the driver raises a support request about the order in the app")
@checked
def _support(story: BapStory) -> None:
    story.support()


@then(parsers.re(r"the app sent (an? )?(?P<action>update|status|rating|support|cancel)"
                 r"( request)? (starting|stopping|for) .*"))
@checked
def _sent(story: BapStory, action: str) -> None:
    story.sent(action)


# -- security: the harness as a hostile BPP ---------------------------------------------------

@given("the driver holds an order in the app, estimated by the harness BPP")
def _hold_order(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.hold_an_order())(story)


@given("the app acknowledges a correctly signed on_status from the harness BPP restating it")
def _control(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.control())(story)


@when(parsers.parse("the harness BPP sends the app an on_status {defect}"))
def _hostile_callback(story: BapStory, hostile: HostileCallbacks, defect: str) -> None:
    checked(lambda _: hostile.send(defect))(story)


@when("a second registered BPP, signing as itself, sends the app an on_status about the order")
def _foreign_callback(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.send(FOREIGN_BPP))(story)


@when("the harness BPP sends the app the on_confirm it already took, again")
def _duplicate_callback(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.send("on_confirm it already took, again"))(story)


@then("the app refuses it with HTTP 401, a NACK and a WWW-Authenticate header")
def _refused_401(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.refused(401))(story)


@then("the app refuses it with a 4xx NACK")
def _refused_4xx(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.refused(None))(story)


@then("the order the app shows is unchanged")
def _unchanged(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.order_unchanged())(story)


# -- client API fuzzing (features/bap/client_api.feature, harness/certify/bap/fuzz.py) ----------

@pytest.fixture
def fuzz(story: BapStory) -> ClientApiFuzz:
    return ClientApiFuzz(story)


@given("the driver holds an estimate from the app for a charger of the harness BPP")
@checked
def _hold_estimate(story: BapStory, fuzz: ClientApiFuzz) -> None:
    fuzz.hold_an_estimate()


@when("a client calls every operation of the app's client API without a token, then with a "
      "wrong one")
@checked
def _call_without_token(story: BapStory, fuzz: ClientApiFuzz) -> None:
    fuzz.call_without_token()


@then("the app refuses each call with HTTP 401 in the contract's error format")
@checked
def _refused_without_token(story: BapStory, fuzz: ClientApiFuzz) -> None:
    fuzz.refused_without_token()


@when("a client calls every operation of the app's client API with generated data, valid and "
      "invalid")
@checked
def _call_with_generated_data(story: BapStory, fuzz: ClientApiFuzz) -> None:
    fuzz.call_with_generated_data()


@then("the app answers none of the calls with a server error")
@checked
def _no_server_error(story: BapStory, fuzz: ClientApiFuzz) -> None:
    fuzz.no_server_error()


@then("every answer has a status and a shape the contract gives its operation")
@checked
def _answers_in_contract_shape(story: BapStory, fuzz: ClientApiFuzz) -> None:
    fuzz.answers_in_contract_shape()


# -- the stories besides the walk-in (reservation, cancel, rating, support) ---------------------

@pytest.fixture
def cancellation(story: BapStory) -> Cancellation:
    return Cancellation(story)


@given(parsers.parse("a confirmed order for {kwh:d} kWh in the app"))
@checked
def _confirmed_order(story: BapStory, kwh: int) -> None:
    story.confirmed_order(float(kwh))


@given("a completed charging session in the app")
@checked
def _completed_session(story: BapStory) -> None:
    story.completed_session(2.0)


@given("the driver plugged the car in and started charging from the app")
@checked
def _started(story: BapStory) -> None:
    story.plug_in_and_start()


@then(parsers.re(r"the app shows the order (?P<order>[A-Za-z_]+)"
                 r"(, the payment (?P<payment>[A-Z]+))? and charging (?P<charging>[A-Z]+)"))
@checked
def _shows_states(story: BapStory, order: str, payment: str | None, charging: str) -> None:
    story.shows_states(order, payment or None, charging)


@then("the app shows the bill the BPP sent in on_update")
@checked
def _shows_bill(story: BapStory) -> None:
    story.shows_bill()


# -- the reservation ----------------------------------------------------------------------------

@when("the driver searches the app for CCS2 chargers within 10 km for a time window")
@checked
def _search_slot(story: BapStory) -> None:
    story.search_for_slot()


@then("the app found a CCS2 charger through a discover to the CDS")
@checked
def _found_ccs2(story: BapStory) -> None:
    story.found_ccs2()


@when(parsers.parse("the driver asks the app for an estimate of {kwh:d} kWh at the charger in "
                    "a one-hour slot"))
@checked
def _estimate_slot(story: BapStory, kwh: int) -> None:
    story.estimate_slot(float(kwh))


@then("the app selected the charger for the slot and shows a reservation at the total the BPP "
      "quoted")
@checked
def _shows_reservation(story: BapStory) -> None:
    story.shows_reservation()


@when("the charger delivers the energy limit")
@checked
def _deliver_limit(story: BapStory) -> None:
    story.deliver_limit()


@then("the BPP reports the session COMPLETED, unsolicited, and the app acknowledges it")
@checked
def _completion(story: BapStory) -> None:
    story.completion_acknowledged()


# -- cancellation -------------------------------------------------------------------------------

@when("the driver asks the app what cancelling the order would cost")
def _ask_fee(story: BapStory, cancellation: Cancellation) -> None:
    checked(lambda _: cancellation.ask_fee())(story)


@when("the driver cancels the order in the app")
def _cancel(story: BapStory, cancellation: Cancellation) -> None:
    checked(lambda _: cancellation.cancel())(story)


@then("the app shows the fee and the refund the BPP's on_cancel set")
def _cancelled(story: BapStory, cancellation: Cancellation) -> None:
    checked(lambda _: cancellation.cancelled_as_the_bpp_said())(story)


@then("the app answers with the BPP's refusal as a 409 error")
def _refused(story: BapStory, cancellation: Cancellation) -> None:
    checked(lambda _: cancellation.refused_as_409())(story)


@when("the operator cancels the order at the charge point")
def _operator_cancels(story: BapStory, cancellation: Cancellation) -> None:
    checked(lambda _: cancellation.operator_cancels())(story)


@then("the app acknowledges the BPP's unsolicited on_cancel")
def _operator_cancel_taken(story: BapStory, cancellation: Cancellation) -> None:
    checked(lambda _: cancellation.operator_cancel_taken())(story)


# -- corner cases (TSD §12): what the BPP tells the app unasked, and what it refuses ----------

@pytest.fixture
def corners(story: BapStory) -> Iterator[CornerCases]:
    corner_cases = CornerCases(story)
    yield corner_cases
    corner_cases.cleanup()


@given("a charging session in progress in the driver's app")
def _session_in_progress(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.session_in_progress())(story)


@when("the cable is pulled out of the car")
def _cable_pulled(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.pull_cable())(story)


@then(parsers.parse("the app acknowledges the BPP's unsolicited on_status reporting {what}"))
def _told(story: BapStory, corners: CornerCases, what: str) -> None:
    checked(lambda _: corners.told(what))(story)


@then(parsers.re(r"the app shows the driver the order as the BPP last reported it, .*"))
def _shows_news(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.shows_news())(story)


@when("another driver holds the charger the app found for a one-hour slot")
def _slot_held(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.slot_held_elsewhere())(story)


@when(parsers.parse("the driver asks the app for an estimate of {kwh:d} kWh for a slot "
                    "overlapping it"))
def _estimate_overlapping(story: BapStory, corners: CornerCases, kwh: int) -> None:
    checked(lambda _: corners.estimate_overlapping(float(kwh)))(story)


@then(parsers.re(r"the BPP answers the app's (select|update) with an (on_select|on_update) "
                 r"REJECTED with error (40000|40006)"))
def _rejected(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.rejected())(story)


@then(parsers.re(r"the app answers the driver with HTTP 409 in the contract's error format, "
                 r"not (a quote|a start)"))
def _refusal_relayed(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.refusal_reaches_driver())(story)


@given("the charger has developed a fault")
def _charger_faulted(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.fault_charger())(story)


@when("the driver plugs the car in and tries to start charging from the app")
def _try_to_start(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.try_to_start())(story)


@when("the harness BPP sends the app an on_update out of order, stamped before the on_confirm "
      "it took and putting the order back to CREATED")
def _out_of_order_callback(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.send(OUT_OF_ORDER))(story)
