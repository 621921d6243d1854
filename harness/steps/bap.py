"""Step definitions for certifying a BAP: one line of intent each, calling `BapStory`.

Bound to every feature in `features/bap/`. Like the BPP's steps, every step ends by asserting
that it added no error finding; a step that cannot be judged is skipped as not evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from harness.certify.bap.corners import CornerCases
from harness.certify.bap.hostile import OUT_OF_ORDER, HostileCallbacks
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
def hostile(story: BapStory) -> HostileCallbacks:
    return HostileCallbacks(story)


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


@when("the driver plugs the car in and starts charging from the app")
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


@then(parsers.re(r"the app sent (an? )?(?P<action>update|status|rating|support)"
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


@then("the BPP answers the app's select with an on_select REJECTED with error 40000")
def _select_rejected(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.select_rejected())(story)


@then("the app answers the driver with HTTP 409 in the contract's error format, not a quote")
def _refusal_relayed(story: BapStory, corners: CornerCases) -> None:
    checked(lambda _: corners.refusal_reaches_driver())(story)


@when("the harness BPP sends the app an on_update out of order, stamped before the on_confirm "
      "it took and putting the order back to CREATED")
def _out_of_order_callback(story: BapStory, hostile: HostileCallbacks) -> None:
    checked(lambda _: hostile.send(OUT_OF_ORDER))(story)
