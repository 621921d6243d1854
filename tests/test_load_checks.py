"""What `ubc-cert load` judges and measures, without a server: the checks of the "load" scope
(duplicates, transitions in the order the BPP sent them, one booking per slot), the SLO's
grammar and judgement, the requests a load user signs, and the arrivals index that tells late
callbacks from lost ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from harness.beckn import signing
from harness.checks import registry
from harness.checks.concurrency import LoadCallbacks, SlotRace, in_sending_order
from harness.findings import NOT_EVALUATED
from harness.load import flows, slo
from harness.load.arrivals import Arrivals, Ledger, Quota, create_app
from harness.load.plan import Item, Plan, Signatory
from harness.transcript import INBOUND, Exchange, Transcript

BAP_KEYS = signing.KeyPair.generate("bap.mock.ubc", "bap-k1")


def callback(action: str, transaction_id: str, *, message_id: str = "m1",
             status: str | None = None, order_id: str | None = None, error: str | None = None,
             stamped: str = "2026-01-01T10:00:00.000Z", arrived: float = 0.0,
             number: int = 1) -> Exchange:
    order: dict[str, Any] = {"beckn:orderStatus": status} if status else {}
    if order_id:
        order["beckn:id"] = order_id
    doc: dict[str, Any] = {"context": {"action": action, "transaction_id": transaction_id,
                                       "message_id": message_id, "timestamp": stamped,
                                       "bap_id": "bap.mock.ubc"},
                           "message": {"order": order}}
    if error:
        doc["error"] = {"code": error, "message": "refused"}
    return Exchange(id=f"x{number:06d}", direction=INBOUND, party="bap", method="POST",
                    url=f"http://127.0.0.1:1/beckn/{action}", request_headers={},
                    request_body=json.dumps(doc).encode(), wall_time=arrived,
                    mono_time=arrived, status=200)


def selected(transaction_id: str, number: int) -> Exchange:
    """The on_select a transaction begins with (stamped before anything else)."""
    return callback("on_select", transaction_id, message_id=f"s-{transaction_id}",
                    status="CREATED", stamped="2026-01-01T09:59:59.000Z", number=number)


def judged(load: LoadCallbacks) -> list[Any]:
    return [f for check in registry.for_scope("load") for f in check.run(load)]


def rules(findings: list[Any]) -> list[str]:
    return [f.rule for f in findings]


# -- one callback per request ------------------------------------------------------------------


def test_a_second_on_confirm_for_one_confirm_is_a_duplicate_and_nothing_else() -> None:
    first = callback("on_confirm", "t1", status="CONFIRMED", order_id="o1", arrived=1.0)
    again = callback("on_confirm", "t1", status="CONFIRMED", order_id="o1", arrived=1.1,
                     number=2)
    findings = judged(LoadCallbacks([selected("t1", 9), first, again]))
    assert rules(findings) == ["UBC-TIME-004"]  # no CONFIRMED -> CONFIRMED transition too
    assert findings[0].evidence == ["x000001", "x000002"] and findings[0].actual == 2
    assert "byte for byte" in findings[0].message


def test_callbacks_the_bap_refused_are_not_judged_as_taken() -> None:
    refused = callback("on_confirm", "t1", status="CONFIRMED", arrived=1.1, number=2)
    refused.status = 401
    load = LoadCallbacks([selected("t1", 9), callback("on_confirm", "t1", status="CONFIRMED"),
                          refused])
    assert judged(load) == []


# -- transitions, in the order the BPP sent them -----------------------------------------------


def test_an_on_status_overtaken_on_the_way_is_judged_where_the_bpp_sent_it() -> None:
    paid = callback("on_status", "t1", message_id="u1", status="PENDING",
                    stamped="2026-01-01T10:00:00.100Z", arrived=2.0, number=2)
    confirmed = callback("on_confirm", "t1", message_id="m3", status="CONFIRMED",
                         stamped="2026-01-01T10:00:00.300Z", arrived=1.0, number=3)
    selected = callback("on_select", "t1", status="CREATED",
                        stamped="2026-01-01T10:00:00.000Z", arrived=0.5)
    assert judged(LoadCallbacks([selected, paid, confirmed])) == []
    assert [e.id for e in in_sending_order([confirmed, paid, selected])] == \
        ["x000001", "x000002", "x000003"]


def test_a_bpp_that_sends_a_state_back_is_caught() -> None:
    confirmed = callback("on_confirm", "t1", message_id="m3", status="CONFIRMED",
                         stamped="2026-01-01T10:00:00.100Z", arrived=1.0, number=2)
    stale = callback("on_status", "t1", message_id="u1", status="PENDING",
                     stamped="2026-01-01T10:00:00.300Z", arrived=2.0, number=3)
    findings = judged(LoadCallbacks([callback("on_select", "t1", status="CREATED"),
                                     confirmed, stale]))
    assert rules(findings) == ["UBC-STATE-001"]
    assert findings[0].evidence == ["x000002", "x000003"]


# -- one booking per slot ------------------------------------------------------------------------


def race(*callbacks: Exchange) -> LoadCallbacks:
    rivals = SlotRace(("tA", "tB"), "item-1", ("2026-02-01T10:00:00Z", "2026-02-01T11:00:00Z"))
    return LoadCallbacks([selected("tA", 8), selected("tB", 9), *callbacks], [rivals])


def test_one_rival_confirmed_and_the_other_refused_with_40000_is_right() -> None:
    load = race(callback("on_confirm", "tA", status="CONFIRMED", order_id="oA"),
                callback("on_confirm", "tB", status="REJECTED", error="40000", number=2))
    assert judged(load) == []


def test_a_rival_may_also_be_refused_before_its_confirm() -> None:
    load = race(callback("on_confirm", "tA", status="CONFIRMED", order_id="oA"),
                callback("on_init", "tB", status="REJECTED", error="40000", number=2))
    assert judged(load) == []


def test_both_rivals_confirmed_is_a_double_booking() -> None:
    load = race(callback("on_confirm", "tA", status="CONFIRMED", order_id="oA"),
                callback("on_confirm", "tB", status="CONFIRMED", order_id="oB", number=2))
    findings = judged(load)
    assert rules(findings) == ["UBC-STATE-013"]
    assert "double booking" in findings[0].message and findings[0].actual == "2 CONFIRMED"
    assert {"x000001", "x000002"} <= set(findings[0].evidence)


def test_the_loser_refused_with_another_code_is_a_finding() -> None:
    load = race(callback("on_confirm", "tA", status="CONFIRMED", order_id="oA"),
                callback("on_confirm", "tB", status="REJECTED", error="50000", number=2))
    findings = judged(load)
    assert rules(findings) == ["UBC-STATE-013"]
    assert (findings[0].expected, findings[0].actual) == ("40000", "50000")


def test_neither_rival_confirmed_is_a_finding() -> None:
    load = race(callback("on_confirm", "tA", status="REJECTED", error="40000"),
                callback("on_confirm", "tB", status="REJECTED", error="40000", number=2))
    assert "neither was confirmed" in judged(load)[0].message


def test_a_rival_without_any_answer_leaves_the_race_not_evaluated() -> None:
    findings = judged(race(callback("on_confirm", "tA", status="CONFIRMED", order_id="oA")))
    assert rules(findings) == ["UBC-STATE-013"] and findings[0].status == NOT_EVALUATED


def test_one_order_id_confirmed_in_two_transactions_is_a_finding() -> None:
    load = LoadCallbacks([
        selected("t1", 8), selected("t2", 9),
        callback("on_confirm", "t1", status="CONFIRMED", order_id="order-1"),
        callback("on_confirm", "t2", message_id="m2", status="CONFIRMED", order_id="order-1",
                 number=2)])
    findings = judged(load)
    assert rules(findings) == ["UBC-STATE-013"]
    assert "order-1" in findings[0].message and findings[0].actual == 2


# -- the SLO -------------------------------------------------------------------------------------


def measured(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "rows": [{"type": "ACK", "name": "select", "count": 10, "p99_ms": 40},
                 {"type": "ACK", "name": "init", "count": 10, "p99_ms": 60},
                 {"type": "ACK", "name": "*", "count": 20, "p99_ms": 60},
                 {"type": "callback", "name": "on_select", "count": 10, "p99_ms": 900},
                 {"type": "session", "name": "walk-in", "count": 10, "p99_ms": None}],
        "failures": [], "callbacks": {"lost": 0, "late": 0},
        "sessions": {"completed": 10}, "elapsed_s": 2.0}
    return base | overrides


def test_the_defaults_lose_nothing_and_a_key_given_replaces_its_default() -> None:
    texts = [o.text for o in slo.parse("errors=2%,p99_callback=1.5s,throughput=4/s")]
    assert texts == ["errors <= 2%", "timeouts <= 0", "lost <= 0", "late <= 0",
                     "p99_callback <= 1.5 s", "throughput >= 4/s"]


@pytest.mark.parametrize("spec", ["p98_ack=1s", "p99_ack=fast", "errors", "lost=-1",
                                  "throughput=inf", "rps=3"])
def test_an_unreadable_slo_is_refused_with_its_part(spec: str) -> None:
    with pytest.raises(slo.SloError, match=spec.split("=")[0]):
        slo.parse(spec)


def test_objectives_are_held_to_what_was_measured() -> None:
    objectives = slo.parse("p99_ack=50ms,p99_callback=1s,p99_session=1s,throughput=6,"
                           "errors=10%")
    failures = [{"type": "callback", "name": "on_select", "kind": "error", "count": 1},
                {"type": "session", "name": "walk-in", "kind": "error", "count": 1},
                {"type": "ACK", "name": "init", "kind": "timeout", "count": 2}]
    results = {r["key"]: (r["measured"], r["met"])
               for r in slo.judge(objectives, measured(failures=failures))}
    assert results["p99_ack"] == (60.0, False)  # every ACK together
    assert results["p99_callback"] == (900.0, True)
    assert results["p99_session"] == (None, False)  # nothing measured is never met
    assert results["throughput"] == (5.0, False)
    # 1 of 30 requests and callbacks; a failed session is no error of its own
    assert results["errors"] == (pytest.approx(100 / 30), True)
    assert results["timeouts"] == (2, False)


# -- what a load user sends and how it reads the answers -----------------------------------------


def plan(**overrides: Any) -> Plan:
    bap = Signatory("bap.mock.ubc", "bap-k1", BAP_KEYS.signing_private_key,
                    "http://127.0.0.1:2/beckn")
    values: dict[str, Any] = {
        "bap": bap, "other_bap": bap, "candidate_id": "cpo.example", "candidate_uri":
        "http://127.0.0.1:3/beckn", "arrivals_url": "http://127.0.0.1:4", "token": "t",
        "items": (Item("item-1", "provider-1", None, 20.0),), "ttl": "PT2S", "ttl_s": 2.0}
    return Plan(**(values | overrides))


def test_a_users_request_is_signed_over_the_exact_bytes_it_sends() -> None:
    walk = flows.Walk(plan(), plan().items[0], "driver-1")
    out = flows.Signers(plan()).request(plan().bap, "select", walk.message("select"),
                                        walk.transaction_id)
    assert out.url == "http://127.0.0.1:3/beckn/select" and out.callback == "on_select"
    result = signing.verify(out.body, out.headers[signing.AUTHORIZATION],
                            signing.load_public_key(BAP_KEYS.signing_public_key))
    assert result.valid, result
    context = orjson.loads(out.body)["context"]
    assert (context["bpp_id"], context["ttl"], context["message_id"]) == \
        ("cpo.example", "PT2S", out.message_id)
    header = signing.parse_header(out.headers[signing.AUTHORIZATION])
    assert header.expires - header.created == 2  # the window is the message's ttl


def test_a_walk_carries_the_quote_into_the_confirmation_it_says_is_paid() -> None:
    walk = flows.Walk(plan(), plan().items[0], "driver-1")
    assert walk.order.quantity_kwh == 5.0  # 100 INR at 20 INR per kWh
    walk.take({"message": {"order": {"beckn:id": "order-9", "beckn:orderValue": {
        "currency": "INR", "value": 110.0, "components": [
            {"type": "UNIT", "value": 100.0, "currency": "INR", "description": "energy"},
            {"type": "FEE", "value": 10.0, "currency": "INR", "description": "service"}]}}}})
    order = walk.message("confirm")["order"]
    assert order["beckn:id"] == "order-9"
    assert order["beckn:payment"]["beckn:paymentStatus"] == "COMPLETED"
    assert order["beckn:payment"]["beckn:amount"]["value"] == 110.0
    assert "beckn:payment" not in walk.message("status")["order"]


@pytest.mark.parametrize(("status", "body", "transport", "kind"), [
    (200, b'{"message": {"ack": {"status": "ACK"}}}', None, None),
    (401, b'{"message": {"ack": {"status": "NACK"}}, "error": {"code": "10001"}}', None,
     "nack"),
    (200, b"<html>busy</html>", None, "nack"),
    (0, b"", "ConnectionRefusedError: [Errno 111]", "unreachable"),
    (0, b"", "Timeout: timed out", "timeout"),
])
def test_a_synchronous_answer_is_an_ack_or_a_problem_of_a_kind(
        status: int, body: bytes, transport: str | None, kind: str | None) -> None:
    problem = flows.ack_problem(status, body, transport, 10.0)
    assert (flows.kind_of(problem) if problem else None) == kind
    if kind == "nack" and status == 401:
        assert problem == "nack: HTTP 401, error 10001"


def test_a_callback_is_judged_on_what_carries_the_flow_on() -> None:
    ok = {"status": 200, "doc": {"message": {"order": {"beckn:orderStatus": "CONFIRMED"}}}}
    assert flows.callback_problem("on_confirm", ok, 0.2, plan()) is None
    assert flows.callback_problem("on_confirm", ok, 2.5, plan()).startswith("late:")
    refused = {"status": 401, "refusal": "Authorization: signature invalid: details"}
    assert flows.callback_problem("on_confirm", refused, 0.2, plan()) == \
        "refused: the harness's BAP answered on_confirm HTTP 401 (Authorization)"
    error = {"status": 200, "doc": {"error": {"code": "40000"}}}
    assert flows.callback_problem("on_confirm", error, 0.2, plan()) == \
        "error: on_confirm carried error 40000"
    assert flows.callback_problem("on_confirm", error, 0.2, plan(),
                                  refusal_expected=True) is None
    stale = {"status": 200, "doc": {"message": {"order": {"beckn:orderStatus": "CREATED"}}}}
    assert "not CONFIRMED" in flows.callback_problem("on_confirm", stale, 0.2, plan())


# -- the arrivals index --------------------------------------------------------------------------


def test_a_callback_given_up_is_late_if_it_comes_after_all_and_lost_if_not() -> None:
    async def scenario() -> dict[str, int]:
        transcript = Transcript()
        arrivals = Arrivals(asyncio.get_running_loop())
        arrivals.follow(transcript)

        def arrive(message_id: str) -> None:
            body = json.dumps({"context": {"action": "on_select", "transaction_id": "t",
                                           "message_id": message_id}}).encode()
            exchange = transcript.begin(INBOUND, "bap", "POST", "http://h/beckn/on_select",
                                        {}, body)
            transcript.finish(exchange, 200, {}, b"{}")
        assert await arrivals.wait("late", "on_select", 0.05) is None
        assert await arrivals.wait("lost", "on_select", 0.05) is None
        waiting = asyncio.create_task(arrivals.wait("on-time", "on_select", 5.0))
        await asyncio.sleep(0)
        arrive("on-time")
        arrive("late")
        found = await waiting
        assert found is not None and found.message_id == "on-time"
        await arrivals.drain(0.2, 0.01)
        return arrivals.counts()
    counts = asyncio.run(scenario())
    assert (counts["late"], counts["lost"], counts["accepted"]) == (1, 1, 2)


def test_the_arrivals_api_answers_only_with_its_token() -> None:
    loop = asyncio.new_event_loop()
    try:
        app = create_app(Arrivals(loop), Ledger(Quota(2), Quota(0)), "secret")
        with TestClient(app) as client:
            assert client.get("/load/progress").status_code == 401
            assert client.get("/load/progress",
                              headers={"Authorization": "Bearer wrong"}).status_code == 401
            auth = {"Authorization": "Bearer secret"}
            claims = [client.post("/load/claim?kind=session", headers=auth).json()["number"]
                      for _ in range(3)]
            assert claims == [1, 2, None]  # exactly the sessions asked for
            assert client.post("/load/claim?kind=race", headers=auth).json()["number"] is None
    finally:
        loop.close()
