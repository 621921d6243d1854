"""The mock network as `ubc-cert serve` runs it: real sockets, signed flows end to end, and the
commands that start it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import schemas
from harness.beckn import signing
from harness.beckn.order import Order, Payment
from harness.network import MockNetwork
from harness.selftest import free_port_base
from harness.transcript import INBOUND

pytestmark = pytest.mark.network


def registry_key(net: MockNetwork, subscriber_id: str, key_id: str) -> str | None:
    answer = httpx.post(f"{net.participants['registry'].url}/lookup",
                        json={"subscriber_id": subscriber_id, "key_id": key_id}, timeout=5)
    records = [r for r in answer.json() if r["status"] == "SUBSCRIBED"]
    return records[0]["signing_public_key"] if records else None


def verified_and_valid(net: MockNetwork, callback: Any) -> dict[str, Any]:
    """The callback's signature verifies against the registry key and its body is valid."""
    header = signing.parse_header(callback.header("authorization"))
    key = registry_key(net, header.subscriber_id, header.unique_key_id)
    assert signing.verify(callback.request_body, callback.header("authorization"), key).valid
    doc = callback.json()
    errors = [f.as_dict() for f in schemas.load().validate(doc) if f.is_error]
    assert errors == [], errors
    return doc  # type: ignore[no-any-return]


def test_signed_walk_in_through_the_served_network(network: MockNetwork) -> None:
    bap = network.bap
    assert bap is not None
    run = network.group.run
    found = run(bap.discover(text="charging"))
    assert found.sent.acked
    catalog_answer = network.transcript.wait_for(
        lambda e: e.direction == INBOUND and e.party == "bap" and e.action == "on_discover"
        and e.transaction_id == found.transaction_id and b"beckn:items" in e.request_body, 5)
    assert catalog_answer is not None
    catalog = verified_and_valid(network, catalog_answer)["message"]["catalogs"][0]
    item, offer = catalog["beckn:items"][0], catalog["beckn:offers"][0]
    order = Order(seller=item["beckn:provider"]["beckn:id"], item_id=item["beckn:id"],
                  quantity_kwh=2.0, offer=offer, unit_price=offer["beckn:price"]["value"])
    to = {"bpp_uri": catalog["beckn:bppUri"], "bpp_id": catalog["beckn:bppId"]}
    selected = run(bap.select(order, **to))
    quote = verified_and_valid(network, selected.callback_exchange)
    order.components = Order.from_beckn(quote["message"]["order"]).components
    tx = {"transaction_id": selected.transaction_id, **to}
    initialised = run(bap.init(order, **tx))
    assert verified_and_valid(network, initialised.callback_exchange)
    order.payment = Payment(status="COMPLETED", amount=order.total)
    confirmed = run(bap.confirm(order, **tx))
    confirmation = verified_and_valid(network, confirmed.callback_exchange)["message"]["order"]
    assert confirmation["beckn:orderStatus"] == "CONFIRMED"
    order.id, order.status = confirmation["beckn:id"], "CONFIRMED"
    for action in ("status", "track"):
        call = run(getattr(bap, action)(order, **tx))
        assert verified_and_valid(network, call.callback_exchange)


@pytest.mark.parametrize("options, reason", [
    ({"sign": False}, "missing-header"),
    ({"tamper": lambda raw: raw.replace(b"2.0", b"3.0")}, "bad-signature"),
    ({"created": 1_000_000, "expires": 1_000_300}, "expired"),
    ({"signer": signing.Signer.from_keypair(signing.KeyPair.generate("bap.mock.ubc", "x"))},
     "unknown-key"),
])
def test_bad_signatures_get_401(network: MockNetwork, options: dict[str, Any],
                                reason: str) -> None:
    bap = network.bap
    assert bap is not None
    order = Order(seller="ecopower-charging", item_id="any", quantity_kwh=2.0)
    bpp = network.participants["bpp"]
    call = network.group.run(bap.select(order, bpp_uri=bpp.uri, bpp_id=bpp.subscriber_id,
                                        wait=False, **options))
    assert call.sent.status == 401
    assert call.sent.exchange.response_headers["www-authenticate"].startswith("Signature ")
    assert call.ack["message"]["ack"]["status"] == "NACK"
    assert reason in call.ack["error"]["message"]


def test_schema_invalid_gets_400_with_the_error(network: MockNetwork) -> None:
    bap = network.bap
    assert bap is not None
    bpp = network.participants["bpp"]
    order = Order(seller="ecopower-charging", item_id="any", quantity_kwh=2.0).to_beckn()
    order["beckn:orderItems"] = "not a list"
    call = network.group.run(bap.send("select", {"order": order}, bpp_uri=bpp.uri,
                                      bpp_id=bpp.subscriber_id, wait=False))
    assert call.sent.status == 400
    assert call.ack["error"]["code"] == "30000"
    assert "UBC-SCH-005" in call.ack["error"]["message"]
    assert call.ack["error"]["paths"] == "/message/order/beckn:orderItems"


def test_reservation_slot_and_start(network: MockNetwork) -> None:
    bap = network.bap
    assert bap is not None
    bpp = network.participants["bpp"]
    item = network.bpp.catalog()["beckn:items"][0]
    order = Order(seller="ecopower-charging", item_id=item["beckn:id"], quantity_kwh=1.0,
                  start_time="2030-01-01T10:00:00Z", end_time="2030-01-01T11:00:00Z")
    selected = network.group.run(bap.select(order, bpp_uri=bpp.uri, bpp_id=bpp.subscriber_id))
    quote = verified_and_valid(network, selected.callback_exchange)
    assert quote["message"]["order"]["beckn:orderStatus"] == "CREATED"
    overlapping = network.group.run(bap.select(order, bpp_uri=bpp.uri,
                                               bpp_id=bpp.subscriber_id))
    # Only a confirmed slot blocks another: a second quote for the same slot is fine.
    assert verified_and_valid(network, overlapping.callback_exchange)


def _serve(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_serve_prints_the_table_registers_candidates_and_stops_on_sigterm(tmp_path: Path) -> None:
    keys = signing.KeyPair.generate("cand.example", "k1")
    (tmp_path / "cand.toml").write_text(
        f'role = "bpp"\nsubscriber_id = "cand.example"\nkey_id = "k1"\n'
        f'signing_public_key = "{keys.signing_public_key}"\nuri = "http://127.0.0.1:9/b"\n')
    base = free_port_base()
    process = _serve(["--port-base", str(base), "--candidate", "cand.toml", "--state-dir",
                      "state"], tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Ctrl-C or SIGTERM" in line or not line:
                break
        text = "".join(lines)
        for role, offset in (("registry", 0), ("cds", 1), ("bpp", 2), ("bap", 3),
                             ("charger", 4)):
            assert f"127.0.0.1:{base + offset}" in text, (role, text)
        assert "cand.example" in text
        records = httpx.post(f"http://127.0.0.1:{base}/lookup",
                             json={"subscriber_id": "cand.example"}, timeout=5).json()
        assert records[0]["signing_public_key"] == keys.signing_public_key
        # The admin API is closed to whoever does not hold the token serve printed.
        admin = f"http://127.0.0.1:{base}/admin/subscribers"
        [token] = [line.rsplit("Bearer token ", 1)[1].strip() for line in lines
                   if line.startswith("registry admin API:")]
        assert httpx.get(admin, timeout=5).status_code == 401
        assert httpx.get(admin, headers={"Authorization": "Bearer guess"},
                         timeout=5).status_code == 401
        listed = httpx.get(admin, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert listed.status_code == 200 and "cand.example" in listed.text
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "mock network stopped" in out
    assert json.loads((tmp_path / "state" / "bap-keys.json").read_text())["subscriber_id"] == (
        "bap.mock.ubc")


def test_serve_refuses_a_bad_candidate_file(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('role = "bpp"\n')
    done = subprocess.run([sys.executable, "-m", "harness.cli", "serve", "--candidate",
                           str(tmp_path / "bad.toml")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert "missing field 'subscriber_id'" in done.stderr


def test_reference_lists_its_faults() -> None:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "reference", "--list-faults"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(rows) >= 12 and all(len(r) == 3 and r[1].startswith("UBC-") for r in rows)
