"""`ubc-cert audit` of a run that certified a BAP (harness/checks/app_flow.py): the candidate is
the app that sends the requests and answers the harness's callbacks, so its requests are judged
across each order and its answers against what each callback deserved; the harness's calls to
its /v1 client API (or its operator) are counted, never read as Beckn.

The checks are fed the official walk-in seen from the app (TSD §11.1, the examples in order:
requests arriving at the harness's CDS and BPP, callbacks sent to the app) and variants that
each break one promise; the reading of a BAP run's transcript beside its report.json is tested
on a small signed transcript. tests/test_bap_certification.py audits the reference BAP's own
runs, clean and with each fault switch.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness import audit, schemas
from harness.beckn import envelope, signing
from harness.checks import app_flow
from harness.checks.flow import AppRun, Flow
from harness.cli import main
from harness.findings import Finding
from harness.transcript import INBOUND, OUTBOUND, Exchange
from tests.test_audit import (
    ACK,
    NACK,
    WALL,
    answered,
    discovery,
    errors,
    judge,
    record,
    transcript,
    walk_in,
)

BAP_ID, BAP_URI = "example-bap.com", "https://example-bap.com/pilot/bap/energy/v2"
BPP_ID, BPP_URI = "example-bpp.com", "https://example-bpp.com/pilot/bpp/energy/v2"
CDS_ID = "example-cds.com"
HARNESS = "http://127.0.0.1:7400/beckn"  # where the harness's CDS and BPP listen
APP = AppRun("run", (BAP_ID, BAP_URI), ((BPP_ID, BPP_URI),))
CHALLENGE = {"content-type": "application/json", "www-authenticate": 'Signature realm="bap"'}
BAD_SIGNATURE = [Finding("UBC-SIG-009", "Authorization: bad-signature")]


def as_app_sees_it() -> list[dict[str, Any]]:
    """Discover, on_discover listing the BPP's catalog, then the walk-in. Seen from the app, the
    examples have two defects more than test_audit.walk_in mends: most requests name the BPP
    at another bpp_uri than its callbacks give, and status reuses confirm's message_id."""
    discover, shown = discovery()
    discover["context"]["bap_uri"] = shown["context"]["bap_uri"] = BAP_URI
    for catalog in shown["message"]["catalogs"]:
        catalog["beckn:bppId"] = BPP_ID
    docs = [discover, shown, *walk_in()]
    for doc in docs[2:]:
        doc["context"]["bpp_uri"] = BPP_URI
    for doc in docs[9:11]:  # status and its on_status
        doc["context"]["message_id"] = "5a7c0de0-0000-4000-8000-000000000009"
    return docs


def is_request(doc: dict[str, Any]) -> bool:
    return doc["context"]["action"] in envelope.CALLBACK_OF


def app_flow_of(docs: list[dict[str, Any]]) -> Flow:
    """The app's requests as they arrived at the harness (discover at the CDS, the rest at the
    BPP), the harness's callbacks to the app ACKed, one a second; each callback judged valid."""
    found = []
    for i, doc in enumerate(docs):
        action = doc["context"]["action"]
        party = "cds" if action in ("discover", "on_discover") else "bpp"
        if is_request(doc):
            exchange = Exchange(f"m{i + 1}", INBOUND, party, "POST", f"{HARNESS}/{action}", {},
                                json.dumps(doc).encode(), wall_time=WALL + i, mono_time=i)
        else:
            exchange = answered(Exchange(f"m{i + 1}", OUTBOUND, party, "POST",
                                         f"{BAP_URI}/{action}", {}, json.dumps(doc).encode(),
                                         wall_time=WALL + i, mono_time=i), 200, ACK)
        found.append(exchange)
    ids = frozenset(e.id for e in found)
    requests = frozenset(e.id for e, d in zip(found, docs, strict=True) if is_request(d))
    return Flow(found, requests, ids - requests, ids, {i: WALL for i in ids},
                judged_requests={i: [] for i in ids - requests}, apps=dict.fromkeys(ids, APP))


def at(flow: Flow, action: str, nth: int = 0) -> Exchange:
    return [e for e in flow.exchanges if e.action == action][nth]


def context(docs: list[dict[str, Any]], action: str, nth: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = [d for d in docs if d["context"]["action"] == action][nth]["context"]
    return found


# -- the app's requests across an order -------------------------------------------------------


def test_the_official_walk_in_seen_from_the_app_has_no_finding() -> None:
    flow = app_flow_of(as_app_sees_it())
    assert judge(flow) == []
    assert [len(order) for order in app_flow.orders(
        [e for e in flow.exchanges if e.id in flow.sent_by_audited])] == [10]


def test_a_reused_message_id_is_reported() -> None:
    docs = as_app_sees_it()
    context(docs, "init")["message_id"] = context(docs, "select")["message_id"]
    context(docs, "on_init")["message_id"] = context(docs, "select")["message_id"]
    assert errors(judge(app_flow_of(docs))) == ["UBC-CTX-023"]


def test_an_order_continued_in_another_transaction_is_reported_and_stays_in_its_order() -> None:
    docs = as_app_sees_it()
    for action in ("init", "on_init"):
        context(docs, action)["transaction_id"] = "b0c1d2e3-another-transaction"
    found = judge(app_flow_of(docs))
    # init carries another transaction_id, in which no on_select came before it; and the
    # confirm, in the order's transaction, came before any on_init of it
    assert [(f.rule, f.evidence) for f in found] == [
        ("UBC-CTX-024", ["m3", "m5"]), ("UBC-STATE-012", ["m5"]), ("UBC-STATE-012", ["m8"])]


def test_a_confirm_before_init_is_reported() -> None:
    docs = as_app_sees_it()
    del docs[4:6]  # init and on_init: select, on_select, then confirm
    assert errors(judge(app_flow_of(docs))) == ["UBC-STATE-012"]


def test_a_request_naming_another_bap_uri_or_bpp_uri_is_reported() -> None:
    docs = as_app_sees_it()
    context(docs, "select")["bap_uri"] = "http://localhost:8080/beckn"
    context(docs, "confirm")["bpp_uri"] = "https://elsewhere.example/beckn"
    found = [f for f in judge(app_flow_of(docs)) if f.is_error]
    assert [(f.rule, f.path) for f in found] == [("UBC-CTX-027", "/context/bap_uri"),
                                                 ("UBC-CTX-027", "/context/bpp_uri")]


def test_a_select_outside_the_catalog_the_app_was_shown_is_reported() -> None:
    docs = as_app_sees_it()
    order = docs[2]["message"]["order"]
    order["beckn:orderItems"][0]["beckn:acceptedOffer"]["beckn:price"]["value"] = 22.5
    assert errors(judge(app_flow_of(docs))) == ["UBC-CONS-005"]
    order["beckn:orderItems"][0]["beckn:orderedItem"] = "NOT-IN-THE-CATALOG"
    assert errors(judge(app_flow_of(docs))) == ["UBC-CONS-005", "UBC-CONS-005"]
    del docs[:2]  # no catalog shown to the app in the capture: nothing to hold the select to
    assert errors(judge(app_flow_of(docs))) == []


def test_a_capture_or_a_bpp_run_is_not_judged_as_an_app() -> None:
    docs = as_app_sees_it()
    context(docs, "init")["message_id"] = context(docs, "select")["message_id"]
    flow = app_flow_of(docs)
    flow.apps = {}
    assert "UBC-CTX-023" not in errors(judge(flow))


# -- the app's answers to the harness's callbacks ---------------------------------------------


def with_probes(*probes: tuple[dict[str, Any], int, bytes, dict[str, str] | None]) -> Flow:
    """The walk-in up to on_confirm, then each (callback, status, answer, headers) sent to the
    app as the hostile BPP does (party bpp-probe)."""
    docs = as_app_sees_it()[:9]
    flow = app_flow_of(docs)
    for n, (doc, status, body, headers) in enumerate(probes, start=1):
        probe = answered(Exchange(f"p{n}", OUTBOUND, "bpp-probe", "POST",
                                  f"{BAP_URI}/{doc['context']['action']}", {},
                                  json.dumps(doc).encode(), wall_time=WALL + 20 + n,
                                  mono_time=20.0 + n), status, body, headers=headers)
        flow.exchanges.append(probe)
        flow.sent_to_audited |= {probe.id}
        flow.timed |= {probe.id}
        flow.apps = {**flow.apps, probe.id: APP}
        flow.judged_requests = {**flow.judged_requests, probe.id: []}
    return flow


def restated(transaction_id: str | None = None) -> dict[str, Any]:
    """An unsolicited on_status restating the order, with a fresh message id."""
    doc = copy.deepcopy(as_app_sees_it()[8])  # on_confirm
    doc["context"] = envelope.callback_context(doc["context"], unsolicited=True,
                                               action="on_status")
    if transaction_id:
        doc["context"]["transaction_id"] = transaction_id
    return doc


def test_the_control_must_be_acknowledged() -> None:
    assert errors(judge(with_probes((restated(), 200, ACK, None)))) == []
    found = judge(with_probes((restated(), 400, NACK, None)))
    assert errors(found) == ["UBC-SCH-013"] and found[0].evidence == ["p1"]


def test_a_callback_with_a_bad_signature_must_be_refused_with_401_and_a_challenge() -> None:
    flow = with_probes((restated(), 401, NACK, CHALLENGE))
    flow.judged_requests = {**flow.judged_requests, "p1": BAD_SIGNATURE}
    assert errors(judge(flow)) == []
    answered(flow.exchanges[-1], 401, NACK)
    assert errors(judge(flow)) == ["UBC-SIG-014"]
    answered(flow.exchanges[-1], 200, ACK)
    found = judge(flow)
    assert errors(found) == ["UBC-SIG-013"] and "the app accepted" in found[0].message


def test_a_callback_for_a_transaction_the_app_never_started_must_be_refused() -> None:
    flow = with_probes((restated("0f0f0f0f-never-started"), 400, NACK, None))
    assert errors(judge(flow)) == []
    answered(flow.exchanges[-1], 200, ACK)
    assert errors(judge(flow)) == ["UBC-CTX-025"]


def test_a_callback_about_the_order_from_another_bpp_must_be_refused() -> None:
    foreign = restated()
    foreign["context"].update(bpp_id="other-bpp.example", bpp_uri="http://other-bpp/beckn")
    flow = with_probes((foreign, 400, NACK, None))
    assert errors(judge(flow)) == []
    answered(flow.exchanges[-1], 200, ACK)
    found = judge(flow)
    assert errors(found) == ["UBC-CTX-030"], found
    assert "from 'other-bpp.example', though the order is with" in found[0].message
    # the order's own BPP restating it is the control, to be taken
    assert errors(judge(with_probes((restated(), 200, ACK, None)))) == []


def test_a_second_copy_of_a_callback_the_app_took_must_be_refused() -> None:
    again = as_app_sees_it()[8]  # on_confirm, as the BPP sent it
    flow = with_probes((again, 409, NACK, None))
    assert errors(judge(flow)) == []
    answered(flow.exchanges[-1], 200, ACK)
    assert errors(judge(flow)) == ["UBC-TIME-004"]
    answered(at(flow, "on_confirm"), 400, NACK)  # the first was refused: the second is owed
    assert errors(judge(flow)) == ["UBC-SCH-013"]


def test_a_callback_with_problems_of_its_own_need_be_neither_taken_nor_refused() -> None:
    """The harness echoes the app's context: the app's ttl of zero is in its callbacks too."""
    flow = app_flow_of(as_app_sees_it()[:4])
    flow.judged_requests = {**flow.judged_requests,
                            "m4": [Finding("UBC-CTX-021", "context.ttl 'PT0S'")]}
    answered(at(flow, "on_select"), 400, NACK)
    assert errors(judge(flow)) == []


# -- a BAP run's transcript beside its report.json --------------------------------------------


def test_a_bap_run_transcript_judges_the_app_and_counts_its_client_api_calls(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app_keys = signing.KeyPair.generate(BAP_ID, f"{BAP_ID}-k1")
    bpp_keys = signing.KeyPair.generate(BPP_ID, f"{BPP_ID}-k1")
    app, bpp = signing.Signer.from_keypair(app_keys), signing.Signer.from_keypair(bpp_keys)
    docs = as_app_sees_it()
    select, on_select = docs[2], docs[3]

    def client(exchange_id: str, party: str, url: str, mono: float) -> str:
        """The harness driving the app: no Beckn, though a URL may end in an action name."""
        return record(exchange_id, OUTBOUND, party, url, {"rating": 5}, mono,
                      answer=b'{"order": {"id": "o1", "status": "COMPLETED"}}')

    def refused(line: str) -> str:
        doc = json.loads(line)
        doc["response_headers"] = CHALLENGE
        return json.dumps(doc)

    transcript(tmp_path, [
        client("x1", "client-api", "http://127.0.0.1:7410/v1/estimate", 0.5),
        record("x2", INBOUND, "bpp", f"{HARNESS}/select", select, 1.0, signer=app),
        record("x3", OUTBOUND, "bpp", f"{BAP_URI}/on_select", on_select, 1.2, signer=bpp),
        record("x4", OUTBOUND, "bpp-probe", f"{BAP_URI}/on_status", restated(), 2.0,
               signer=bpp),  # the control, ACKed
        refused(record("x5", OUTBOUND, "bpp-probe", f"{BAP_URI}/on_status", restated(), 3.0,
                       status=401, answer=NACK)),  # unsigned, refused as it must be
        record("x6", OUTBOUND, "bpp-probe", f"{BAP_URI}/on_status",
               restated("0f0f0f0f-never-started"), 4.0, signer=bpp),  # ACKed: the finding
        client("x7", "client-api", "http://127.0.0.1:7410/v1/orders/o1/rating", 5.0),
        client("x8", "operator", "operator:/v1/orders/o1/support", 6.0),
    ])
    report = {"role": "bap", "candidate": {
        "role": "bap", "subscriber_id": BAP_ID, "key_id": app_keys.key_id,
        "signing_public_key": app_keys.signing_public_key, "uri": BAP_URI},
        "network": [{"role": "bpp", "subscriber_id": BPP_ID, "uri": BPP_URI,
                     "public_key": bpp_keys.signing_public_key}]}
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    found = audit.audit([str(tmp_path)], schemas.load())
    entries = [e for t in found.transactions for e in t.entries]
    assert [(e.source.rsplit(":", 1)[1], e.judged, e.owed) for e in entries] == [
        ("2", True, False), ("3", False, True), ("4", False, True), ("5", False, True),
        ("6", False, True)]  # the client-API calls are no messages at all
    assert found.client_calls == 3
    assert errors([f for t in found.transactions for f in t.findings]) == ["UBC-CTX-025"]
    assert [f for e in entries for f in e.findings if f.is_error] == []

    assert main(["audit", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "3 client-API call(s)" in out and "not Beckn messages, not judged" in out
    assert "UBC-SCH-009" not in out and "UBC-SCH-013" not in out
    assert main(["audit", "--format", "json", str(tmp_path)]) == 1
    assert json.loads(capsys.readouterr().out)["client_api_calls"] == 3
