"""What the transcript learns of a request's context, and that a party that parsed the body
already does not have it parsed a second time (mocks/stack/inbox.py, outbox.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from harness import transcript as transcript_module
from harness.transcript import INBOUND, Transcript

BODY = orjson.dumps({"context": {"action": "select", "transaction_id": "t-1",
                                 "message_id": "m-1"}, "message": {}})


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    parsed: list[bytes] = []
    loads = orjson.loads

    def counted(raw: Any) -> Any:
        parsed.append(raw)
        return loads(raw)
    monkeypatch.setattr(transcript_module.orjson, "loads", counted)
    return parsed


def test_the_context_is_read_from_the_bytes_when_nobody_parsed_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting_loads(monkeypatch)
    exchange = Transcript().begin(INBOUND, "bpp", "POST", "http://x/select", {}, BODY)
    assert (exchange.action, exchange.transaction_id, exchange.message_id) == \
        ("select", "t-1", "m-1")
    assert parsed == [BODY]


def test_a_parsed_body_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting_loads(monkeypatch)
    transcript = Transcript()
    exchange = transcript.begin(INBOUND, "bpp", "POST", "http://x/select", {}, BODY,
                                doc=orjson.loads(BODY))
    assert parsed == [BODY]  # only the test's own parse
    assert (exchange.action, exchange.transaction_id, exchange.message_id) == \
        ("select", "t-1", "m-1")
    assert transcript.transaction("t-1") == [exchange]


@pytest.mark.parametrize("doc", [None, [], {"context": "no"}, {"message": {}}])
def test_a_parsed_body_without_a_context_leaves_it_unknown(doc: Any) -> None:
    exchange = Transcript().begin(INBOUND, "bpp", "POST", "http://x/select", {}, BODY, doc=doc)
    assert (exchange.action, exchange.transaction_id, exchange.message_id) == (None, None, None)
