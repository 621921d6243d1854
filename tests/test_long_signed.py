"""The long fuzz (`make test-long`) of the mock network's Beckn inboxes, signed: the reference
BPP, the reference BAP and the CDS fed requests drawn from the profile's schemas, each signed
over its exact bytes by a party the network's registry holds, so that the bodies reach the
handlers past the signature check.

The requests are drawn, addressed, signed, sent and judged as `ubc-cert fuzz` does
(harness/fuzz/: cases.draw, Session.one): half valid by the schemas, half broken, one body a
run that is not JSON at all. A BPP receives them from the harness's BAP, a BAP from the BPP;
the CDS takes discover from the BAP and catalog_publish and on_discover from the BPP. Every
answer must come within twice the ACK bound (a hang fails naming the request), never be a 5xx,
refuse what the schemas refuse, never refuse a valid request for its signature, and be an
answer the mock's own document (bpp.yaml, bap.yaml, cds.yaml) allows. Then a few valid bodies
go again unsigned, altered after signing, and signed by another registered party than the
context's sender: each is refused with 401. Last, nothing the mocks sent each other meanwhile
(the callbacks of those requests) met a 5xx. Each test reports how many requests it sent
(tests/conftest.py adds them up).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import schemas
from harness.beckn import signing
from harness.candidate import Candidate
from harness.findings import Finding
from harness.fuzz import cases, document
from harness.fuzz.session import SIGNATURE_REFUSALS, Request, Session
from harness.network import MockNetwork, NetworkConfig
from harness.transcript import Exchange
from tests.mock_fuzz import ANSWER_BOUND_S, REQUESTS_SENT, SCHEMAS, conforms

pytestmark = [pytest.mark.network, pytest.mark.long]

SEED = 12  # the number: any fixed seed draws the same requests on every run
DRAWS = 6  # requests an endpoint, half valid: the bodies are large, a second of CPU each to draw
BAD_SIGNATURES = ("unsigned", "altered after signing", "signed by another party")
ENDPOINTS = [(role, action) for role, actions in (
    ("bpp", document.RECEIVES["bpp"]), ("bap", document.RECEIVES["bap"]),
    ("cds", document.CDS_RECEIVES)) for action in actions]
_IN_A_CATALOG = re.compile(r"/message/catalogs/\d+/")
FROM_A_BAP = ("discover",)  # of the CDS's endpoints; catalog_publish and on_discover: a BPP's


@pytest.fixture(scope="module")
def signed_network() -> Iterator[MockNetwork]:
    """The whole network, its own: the long fuzz of the control APIs switches faults on."""
    network = MockNetwork(NetworkConfig(ttl="PT5S", send_timeout_s=ANSWER_BOUND_S)).start()
    try:
        yield network
    finally:
        network.stop()


def _session(network: MockNetwork, role: str, action: str) -> Session:
    """`ubc-cert fuzz`'s session with the mock as its candidate. The CDS receives a discover
    as a BPP receives a select (from a BAP: the session's candidate is a "bpp"), and a
    catalog_publish or on_discover as a BAP receives a callback (from a BPP)."""
    party = network.participants[role]
    plays = role if role != "cds" else "bpp" if action in FROM_A_BAP else "bap"
    session = Session(network, Candidate(plays, party.subscriber_id, party.key_id,
                                         party.public_key, party.uri),
                      schemas.load(), ttl="PT5S", ack_bound_s=ANSWER_BOUND_S / 2)
    session.who = f"the mock {role.upper()}"
    return session


def _operation(role: str, action: str) -> tuple[Any, dict[str, str]]:
    """The operation of the mock's own document that answers POST {uri}/{action}."""
    if role == "bpp":
        return SCHEMAS["bpp"]["/{action}"]["POST"], {"action": action}
    return SCHEMAS[role][f"/beckn/{action}"]["POST"], {}


def _another_signer(network: MockNetwork, session: Session) -> signing.Signer:
    """A registered party's key that is not the context's sender's."""
    if session.candidate.role == "bpp":  # sent as the BAP
        assert network.other_bap is not None
        return network.other_bap.config.identity.signer
    assert network.other_bpp is not None
    return network.other_bpp.signer


def _with_bad_signature(network: MockNetwork, session: Session, request: Request,
                        how: str) -> Exchange:
    if how == "unsigned":
        options: dict[str, Any] = {"sign": False}
    elif how == "altered after signing":
        options = {"tamper": lambda raw: raw.replace(b"{", b"{ ", 1)}
    else:
        options = {"signer": _another_signer(network, session)}
    sent = network.group.run(session.outbox.send(
        session.candidate.uri, request.action, request.raw, note=f"long fuzz: {how}",
        **options))
    return sent.exchange


def _judged_per_catalog(finding: Finding, request: Request) -> bool:
    """A catalog_publish the CDS acknowledged although a catalog in it breaks the schema: as
    cds.yaml says, each catalog is judged on its own and its errors come back in that
    catalog's on_catalog_publish result, not in a NACK of the whole publish."""
    return finding.rule == "UBC-SCH-011" and request.action == "catalog_publish" and all(
        _IN_A_CATALOG.match(problem.path or "") for problem in request.problems)


def _settled(network: MockNetwork, since: int) -> list[Exchange]:
    """The exchanges recorded from index `since` on, each waited for until answered or
    failed (the callbacks still under way), within ANSWER_BOUND_S in all."""
    entries = network.transcript.entries()[since:]
    for exchange in entries:
        if exchange.status is None and exchange.error is None:
            network.transcript.wait_for(
                lambda e, x=exchange: e is x and (e.status is not None or e.error is not None),
                ANSWER_BOUND_S)
    return entries


@pytest.mark.parametrize(("role", "action"), ENDPOINTS,
                         ids=[f"{role}:{action}" for role, action in ENDPOINTS])
def test_the_inbox_holds_under_signed_fuzz(role: str, action: str, signed_network: MockNetwork,
                                           record_property: Callable[[str, object], None],
                                           tmp_path: Path) -> None:
    network = signed_network
    session = _session(network, role, action)
    operation, path = _operation(role, action)
    since = len(network.transcript)
    drawn = cases.draw(document.build(role) if role == "cds" else document.load(role),
                       (action,), DRAWS, SEED, storage=tmp_path)
    assert len(drawn) >= DRAWS // 2, f"only {len(drawn)} requests drawn for {action}"
    digest = cases.digest(drawn)
    sent = [session.one(number, len(drawn), case, digest)
            for number, case in enumerate(drawn, 1)]
    for request in sent:
        findings = [f for f in request.findings if not _judged_per_catalog(f, request)]
        assert not findings, "\n".join(
            f"{f.rule}: {f.message} ({request.exchange.note})" for f in findings)
        if not request.problems:  # valid: past the signature check, whatever came after
            assert request.exchange.status not in SIGNATURE_REFUSALS, (
                request.exchange.note, request.exchange.response_body[:300])
        conforms(operation, request.exchange, path)
    valid = [request for request in sent if not request.problems]
    assert valid, f"no valid {action} among the {len(drawn)} drawn"
    refused = [_with_bad_signature(network, session, valid[n % len(valid)], how)
               for n, how in enumerate(BAD_SIGNATURES)]
    for how, exchange in zip(BAD_SIGNATURES, refused, strict=True):
        assert exchange.status == 401, (how, exchange.status, exchange.response_body[:300])
        conforms(operation, exchange, path)
    failed = [f"{e.id} {e.party} {e.method} {e.url}: HTTP {e.status} {e.error or ''}"
              for e in _settled(network, since)
              if (e.status is not None and e.status >= 500)
              or (e.error is not None and e.error.startswith("no answer"))]
    assert not failed, "the mocks met a server error or no answer:\n" + "\n".join(failed)
    record_property(REQUESTS_SENT, len(sent) + len(refused))
