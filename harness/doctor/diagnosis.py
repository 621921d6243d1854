"""What `ubc-cert doctor` concludes from what it saw: one `Check` per question, each PASS, FAIL,
WARN or SKIP with what was seen and, when something is wrong, a hint at the usual cause.

Pure functions over the probe's observations (transcript exchanges, the registry's lookups):
no I/O, so each verdict can be tested on its own. These are not conformance findings and
carry no rule id: a run judges conformance, the doctor only says whether a run can work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.beckn.order import dig
from harness.candidate import Candidate
from harness.transcript import STRAY, Exchange

PASS, FAIL, WARN, SKIP = "PASS", "FAIL", "WARN", "SKIP"
CLOCK_TOLERANCE_S = signing.DEFAULT_SKEW_S  # the skew a verifier usually allows


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    hint: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass(frozen=True)
class Reach:
    """The TCP connection to the candidate's URI: `error` is None when it was accepted."""

    host: str
    port: int
    error: str | None
    elapsed_s: float


@dataclass(frozen=True)
class Lookup:
    """One request the registry received while the doctor watched."""

    method: str
    path: str
    body: bytes
    status: int | None

    def asks_for(self, subscriber_id: str) -> bool:
        if subscriber_id in unquote(self.path).split("/"):
            return True
        try:
            doc = orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return False
        return isinstance(doc, dict) and doc.get("subscriber_id") == subscriber_id

    def __str__(self) -> str:
        body = f" {self.body.decode(errors='replace')[:120]}" if self.body else ""
        return f"{self.method} {self.path}{body}"


def skipped(name: str, why: str) -> Check:
    return Check(name, SKIP, why)


# -- reaching it --------------------------------------------------------------------------------


def tcp_reachable(reach: Reach) -> Check:
    where = f"{reach.host}:{reach.port}"
    if reach.error is None:
        return Check("reachable", PASS, f"{where} accepts TCP connections "
                     f"({reach.elapsed_s * 1000:.0f} ms)")
    return Check("reachable", FAIL, f"{where}: {reach.error}",
                 "start the candidate before the doctor or the run, and check `uri` in the "
                 "candidate file: it is where its Beckn endpoints listen ({uri}/{action}), as "
                 "seen from this machine")


def http_answered(request: Exchange) -> Check:
    if request.status is not None:
        latency = request.latency or 0.0
        return Check("HTTP", PASS, f"POST {request.url} answered HTTP {request.status} in "
                     f"{latency * 1000:.0f} ms")
    return Check("HTTP", FAIL, f"POST {request.url}: no HTTP answer ({request.error})",
                 "something accepts connections there but gives no HTTP answer in time: a "
                 "TLS port behind an http:// URI, another service on that port, or a stack "
                 "that blocks before answering (it must ACK first, then call back)")


def _preview(body: bytes) -> str:
    text = body[:80].decode("utf-8", errors="replace").replace("\n", " ").strip()
    return text + ("…" if len(body) > 80 else "")


def answers_json(request: Exchange) -> Check:
    content_type = next((v for k, v in request.response_headers.items()
                         if k.lower() == "content-type"), "no content type")
    body = request.response_body
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if doc is None:
        what = "an empty body" if not body else f"{content_type}: {_preview(body)!r}"
        looks_html = b"<" in body[:100] or "html" in content_type.lower()
        return Check("JSON", FAIL, f"HTTP {request.status} with {what}",
                     ("an HTML page means a web server, a proxy's error page or a login page "
                      "answered instead of the Beckn stack: `uri` must reach its endpoints "
                      "themselves (with beckn-onix, the receiver module's path, e.g. "
                      "http://host:8081/bpp/receiver)") if looks_html else
                     "every Beckn answer is a JSON ACK or NACK (TSD §13)")
    status = envelope.ack_status(doc)
    shape = status or "JSON, but neither an ACK nor a NACK"
    return Check("JSON", PASS if status else WARN, f"{content_type}: {shape}",
                 "" if status else 'a Beckn answer is {"message": {"ack": {"status": '
                 '"ACK"}}} or a NACK with an error; the run will flag this one')


def signature_accepted(request: Exchange, bap_id: str, registry_url: str) -> Check:
    doc = request.response_json()
    status = envelope.ack_status(doc)
    if status == "ACK" and request.status is not None and request.status < 300:
        return Check("our signature", PASS,
                     f"it ACKed a status signed by the harness BAP {bap_id}")
    error = dig(doc, "error", "message") or dig(doc, "error", "code") or "no error given"
    if request.status == 401:
        return Check("our signature", FAIL,
                     f"it refused the harness BAP's signature: HTTP 401, {error}",
                     f"it must take {bap_id}'s key from the registry at {registry_url}: check "
                     "its registry URL, and that it does not keep a key cached from an earlier "
                     "run (give doctor and run the same --state-dir to keep the harness's "
                     "keys)")
    return Check("our signature", WARN,
                 f"it answered a valid, signed status for an unknown order with HTTP "
                 f"{request.status} {status or ''}: {error}".replace("  ", " "),
                 "a request it cannot serve is ACKed and answered with an error in the "
                 "callback (TSD §13); the run's requests may be refused the same way")


# -- its callback -------------------------------------------------------------------------------


def callback_arrived(request: Exchange, callback: Exchange | None, ttl_s: float,
                     bap_uri: str) -> Check:
    expected = f"{bap_uri}/on_status"
    if callback is None:
        return Check("callback", FAIL, f"no on_status within the ttl ({ttl_s:g} s)",
                     f"it must POST the on_status to bap_uri + /on_status ({expected}), "
                     "signed, within the request's ttl; a stack whose outbound calls cannot "
                     "reach 127.0.0.1 (a container) needs the harness on a reachable address")
    after = callback.mono_time - request.mono_time
    answer = f"; the harness BAP answered it HTTP {callback.status}" \
        if callback.status and callback.status >= 300 else ""
    if callback.note == STRAY:
        return Check("callback", FAIL, f"its callback went to {callback.url}, no endpoint of "
                     f"the BAP ({after:.2f} s after the request)",
                     f"callbacks go to the context's bap_uri + /{{action}}: {expected}")
    if callback.action != "on_status":
        return Check("callback", FAIL, f"it answered with {callback.action}, not on_status "
                     f"({after:.2f} s after the request){answer}")
    return Check("callback", PASS, f"on_status arrived {after:.2f} s after the request, at "
                 f"{callback.url}{answer}")


def _signature(callback: Exchange) -> tuple[signing.SignatureHeader | None, str]:
    value = callback.header(signing.AUTHORIZATION)
    if not value:
        return None, "its on_status carries no Authorization header"
    try:
        return signing.parse_header(value), ""
    except signing.HeaderError as exc:
        return None, f"its Authorization header is malformed ({exc.reason}): {exc.detail}"


KEY_HINT = ("`signing_public_key` in the candidate file (and in the registry) must be the "
            "public half of the private key the stack signs with: beckn-onix keyManager "
            "signingPublicKey/signingPrivateKey, protocol-server app.publicKey/privateKey")


def signed_with_declared_key(callback: Exchange, candidate: Candidate) -> Check:
    header, problem = _signature(callback)
    if header is None:
        return Check("signing key", FAIL, problem, "every callback is signed (BECKN-006)")
    # Verified at its own `created`, so that a wrong clock is the clock check's business.
    result = signing.verify(callback.request_body, callback.header(signing.AUTHORIZATION),
                            candidate.signing_public_key, now=float(header.created))
    declared = f"{candidate.subscriber_id}|{candidate.key_id}|ed25519"
    if header.subscriber_id != candidate.subscriber_id:
        return Check("signing key", FAIL,
                     f"signed as keyId {header.key_id!r}: subscriber {header.subscriber_id!r}, "
                     f"but the candidate file says {candidate.subscriber_id!r}",
                     "the keyId names the subscriber id the stack is configured with; it "
                     "must be the one in the candidate file and the registry")
    verifies = "the signature does verify" if result.valid else \
        "and the signature does not verify"
    if header.unique_key_id != candidate.key_id:
        return Check("signing key", FAIL,
                     f"signed with keyId {header.key_id!r}, the candidate file declares "
                     f"{declared!r} ({verifies} with the declared signing_public_key)",
                     "peers look the key up by the keyId's key id: it must be `key_id` of the "
                     "candidate file" + ("" if result.valid else "; " + KEY_HINT))
    if result.reason == signing.BAD_SIGNATURE:
        return Check("signing key", FAIL,
                     f"signed by keyId {header.key_id!r} with another private key than the one "
                     f"of signing_public_key {candidate.signing_public_key} "
                     f"({candidate.source or 'the candidate file'})", KEY_HINT)
    if not result.valid:
        return Check("signing key", FAIL, f"its signature does not verify: {result.reason}: "
                     f"{result.detail}", "sign the exact bytes sent (BECKN-006)")
    return Check("signing key", PASS, f"on_status signed by keyId {header.key_id!r}; it "
                 "verifies with the declared signing_public_key")


def _offset(moment: float, earliest: float, latest: float) -> float:
    """How far `moment` lies outside [earliest, latest] (negative: before), 0 inside."""
    return moment - latest if moment > latest else moment - earliest if moment < earliest \
        else 0.0


def _behind_or_ahead(seconds: float) -> str:
    return f"{abs(seconds):.1f} s {'ahead of' if seconds > 0 else 'behind'} ours"


def clock_agrees(request: Exchange, callback: Exchange) -> Check:
    """The candidate's clock against ours: its on_status was built and signed after our
    request left (`request.wall_time`) and before it arrived (`callback.wall_time`), so its
    context.timestamp and its signature's `created` belong in that interval, give or take the
    usual skew; and its signature must still be valid when it arrives."""
    sent, arrived = request.wall_time, callback.wall_time
    header, _ = _signature(callback)
    stamp = wire_time.epoch(dig(callback.json(), "context", "timestamp"))
    stamp_off = None if stamp is None else _offset(stamp, sent, arrived)
    # `created` is whole seconds, cut down: the second the request left counts.
    created_off = None if header is None else _offset(header.created, math.floor(sent), arrived)
    if stamp_off is None and created_off is None:
        return skipped("clock", "its on_status has neither a context.timestamp nor a signature "
                       "to read its clock from")
    hint = ("set its clock by NTP: verifiers refuse a signature created in the future or "
            f"expired, with about {CLOCK_TOLERANCE_S:g} s of tolerance")
    if stamp_off is not None and abs(stamp_off) > CLOCK_TOLERANCE_S:
        return Check("clock", FAIL, f"its clock is {_behind_or_ahead(stamp_off)}: context."
                     f"timestamp {dig(callback.json(), 'context', 'timestamp')} of its "
                     "on_status lies outside the round trip of our request"
                     + ("" if created_off is None else
                        f" (signature created {_behind_or_ahead(created_off)})"), hint)
    if header is not None:
        window = signing.verify(callback.request_body, callback.header(signing.AUTHORIZATION),
                                None, now=arrived)
        if window.reason in (signing.CREATED_IN_FUTURE, signing.EXPIRED):
            return Check("clock", FAIL, f"its signature was refused on arrival: "
                         f"{window.reason}: {window.detail}", hint)
    if created_off is not None and abs(created_off) > CLOCK_TOLERANCE_S:
        if stamp_off is None:
            return Check("clock", FAIL, f"its clock is {_behind_or_ahead(created_off)}: its "
                         "signature's created lies outside the round trip of our request", hint)
        return Check("clock", WARN, f"its context.timestamp agrees with our clock but its "
                     f"signature's created is {_behind_or_ahead(created_off)}: the signer "
                     "backdates created (protocol-server does, by 60 s) or runs on another "
                     "clock", "harmless while expires is still ahead when the message "
                     "arrives; a signer on a wrong clock is not")
    measured = stamp_off if stamp_off is not None else created_off
    return Check("clock", PASS, f"its clock agrees with ours (offset {measured or 0.0:.1f} s "
                 "beyond the round trip; signature valid on arrival)")


# -- the registry, from its side ----------------------------------------------------------------


def registry_reached(lookups: Sequence[Lookup] | None, request: Exchange, bap_id: str,
                     registry_url: str) -> Check:
    if lookups is None:
        return skipped("registry", "could not observe the registry's requests")
    mine = [lookup for lookup in lookups if lookup.asks_for(bap_id)]
    if mine:
        found = [lookup for lookup in mine if lookup.status is not None and lookup.status < 300]
        if found:
            return Check("registry", PASS, f"it looked {bap_id} up at the registry: {found[0]}")
        return Check("registry", FAIL, f"it asked the registry for {bap_id} and got HTTP "
                     f"{mine[-1].status}: {mine[-1]}",
                     "beckn-onix's dediregistry asks GET {url}/lookup/{subscriber_id}/"
                     "subscribers.beckn.one/{key_id}: its `url` must be the registry's base "
                     f"URL, {registry_url}")
    if request.status == 401:
        return Check("registry", FAIL, f"it refused our signature and never asked the registry "
                     f"at {registry_url} for {bap_id}",
                     "its registry URL points elsewhere, or it cannot reach this address from "
                     "where it runs (a container reaches the host by another name)")
    if envelope.ack_status(request.response_json()) == "ACK":
        return Check("registry", WARN, f"it accepted our signature without asking the "
                     f"registry at {registry_url} for {bap_id}",
                     "it holds the key from an earlier lookup (a cache) or asks another "
                     "registry; if the harness's keys change between runs (no --state-dir), "
                     "a cached key makes it refuse the run's requests")
    return skipped("registry", f"it did not ask the registry for {bap_id}, and its answer "
                   "says nothing about why")
