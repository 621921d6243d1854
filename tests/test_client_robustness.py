"""The checks on how a BAP's client API answers a careless or hostile client
(harness/checks/client_robustness.py): each made to fire by a violating exchange, and quiet on
a conforming one. No server: the exchanges are made by hand."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from harness.beckn import envelope
from harness.checks import client_robustness as robustness
from harness.transcript import INBOUND, OUTBOUND, Exchange

_ids = itertools.count(1)
ORDER = "http://app/v1/orders/o1"
REFUSED = {"error": {"code": "UNAUTHORIZED", "message": "a Bearer token is required",
                     "details": {"timestamp": "2026-11-29T10:00:00.000Z"}}}


def call(method: str, url: str, status: int | None, body: Any = b"", *,
         headers: dict[str, str] | None = None, sent: bytes = b"") -> Exchange:
    exchange = Exchange(f"x8{next(_ids):05d}", OUTBOUND, "client-api", method, url, {}, sent,
                        0.0, 1.0)
    exchange.status = status
    exchange.response_headers = headers or {}
    exchange.response_body = body if isinstance(body, bytes) else orjson.dumps(body)
    return exchange


def upstream(action: str, status: int, answer: dict[str, Any]) -> Exchange:
    """A Beckn request of the app as the harness's BPP received and answered it."""
    body = orjson.dumps({"context": {"action": action, "transaction_id": "t1"}})
    request = Exchange(f"x7{next(_ids):05d}", INBOUND, "bpp", "POST", f"http://bpp/{action}",
                       {}, body, 0.0, 1.1)
    request.status, request.response_body = status, orjson.dumps(answer)
    return request


ACKED = envelope.ack()
NACKED = envelope.nack("30004", "no such item")


# -- UBC-API-010: no server error ---------------------------------------------------------------

def test_a_refusal_or_an_answer_is_no_server_error() -> None:
    for status in (200, 400, 404, 409, 422):
        assert robustness.no_server_error(call("POST", f"{ORDER}/rating", status), []) == []
    assert robustness.no_server_error(call("GET", ORDER, None), []) == []  # unanswered


def test_a_server_error_is_api_010_naming_the_call_and_the_answer() -> None:
    crashed = call("POST", f"{ORDER}/rating", 500, {"error": {"code": "INTERNAL_ERROR"}},
                   sent=b'{"value": "five"}')
    [finding] = robustness.no_server_error(crashed, [])
    assert finding.rule == "UBC-API-010" and finding.actual == 500
    assert finding.evidence == [crashed.id]
    assert "POST /v1/orders/o1/rating" in finding.message
    assert "Submit Rating" in finding.message and "five" in finding.message
    assert "INTERNAL_ERROR" in finding.message
    [unavailable] = robustness.no_server_error(call("GET", ORDER, 503), [])
    assert unavailable.rule == "UBC-API-010"


def test_an_upstream_failure_with_nothing_sent_upstream_is_api_010() -> None:
    [finding] = robustness.no_server_error(call("GET", ORDER, 502), [])
    assert finding.rule == "UBC-API-010" and "its own" in finding.message


def test_forwarding_what_the_bpp_refuses_is_api_010() -> None:
    refused = upstream("select", 400, NACKED)
    [finding] = robustness.no_server_error(call("POST", "http://app/v1/estimate", 502),
                                           [upstream("discover", 200, ACKED), refused])
    assert finding.rule == "UBC-API-010" and refused.id in finding.evidence
    assert "forwarded" in finding.message and "select" in finding.message


def test_an_upstream_failure_behind_an_acknowledged_request_stands() -> None:
    """The BPP took the request and then failed (no callback, or an error one): the contract's
    502 and 504 are the app's honest answers."""
    for status in (502, 504):
        answer = call("GET", f"{ORDER}/support", status)
        assert robustness.no_server_error(answer, [upstream("support", 200, ACKED)]) == []


# -- UBC-API-011: refused without the token -----------------------------------------------------

def test_a_401_with_a_bearer_challenge_passes() -> None:
    refused = call("GET", ORDER, 401, REFUSED,
                   headers={"WWW-Authenticate": 'Bearer realm="app"'})
    assert robustness.refused_without_token(refused, "no token") == []
    assert robustness.refused_without_token(call("GET", ORDER, None), "no token") == []


def test_a_call_without_the_token_served_is_api_011() -> None:
    served = call("GET", ORDER, 200, {"order": {"id": "o1"}})
    [finding] = robustness.refused_without_token(served, "no token")
    assert finding.rule == "UBC-API-011" and (finding.expected, finding.actual) == (401, 200)
    assert "served it" in finding.message and "made with no token" in finding.message
    [looked_up] = robustness.refused_without_token(call("GET", ORDER, 404), "another token")
    assert looked_up.rule == "UBC-API-011" and looked_up.actual == 404


def test_a_401_without_a_challenge_is_api_011() -> None:
    [finding] = robustness.refused_without_token(call("GET", ORDER, 401, REFUSED), "no token")
    assert finding.rule == "UBC-API-011" and finding.actual is None
    basic = call("GET", ORDER, 401, REFUSED, headers={"www-authenticate": "Basic"})
    [other] = robustness.refused_without_token(basic, "another token")
    assert other.rule == "UBC-API-011" and other.actual == "Basic"


# -- UBC-API-003: a status the contract gives the operation -------------------------------------

def test_a_documented_status_passes() -> None:
    for status in (200, 400, 401, 404, 409, 502, 504):
        assert robustness.status_documented(call("GET", ORDER, status)) == []
    assert robustness.status_documented(call("GET", "http://app/v1/wallet", 418)) == []
    assert robustness.status_documented(call("GET", ORDER, 500)) == []  # UBC-API-010's


def test_an_undocumented_status_is_api_003() -> None:
    [finding] = robustness.status_documented(call("GET", ORDER, 418, b"teapot"))
    assert finding.rule == "UBC-API-003" and finding.actual == 418
    assert "getOrder" in finding.message and "404" in finding.expected
    # search has no order to miss: a 404 is not among its answers
    [not_found] = robustness.status_documented(call("POST", "http://app/v1/search", 404))
    assert not_found.rule == "UBC-API-003"
