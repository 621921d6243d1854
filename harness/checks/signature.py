"""Signature checks: BECKN-006 verification outcomes as findings with rule ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.beckn import envelope, signing
from harness.beckn import time as wire_time
from harness.findings import Finding

REASON_RULES = {
    signing.MISSING_HEADER: "UBC-SIG-001",
    signing.MALFORMED_HEADER: "UBC-SIG-002",
    signing.UNSUPPORTED_ALGORITHM: "UBC-SIG-003",
    signing.BAD_HEADERS_LIST: "UBC-SIG-004",
    signing.BAD_KEY_ID: "UBC-SIG-005",
    signing.CREATED_IN_FUTURE: "UBC-SIG-006",
    signing.EXPIRED: "UBC-SIG-007",
    signing.DIGEST_MISMATCH: "UBC-SIG-008",
    signing.BAD_SIGNATURE: "UBC-SIG-009",
    signing.UNKNOWN_KEY: "UBC-SIG-010",
}
MAX_WINDOW_S = signing.MAX_VALIDITY_S


def verification_findings(
    header_name: str, verification: signing.Verification, evidence: list[str] | None = None
) -> list[Finding]:
    """Findings for one verified header (none when it is valid and its window is sane)."""
    header = verification.header
    evidence = evidence or []
    if verification.valid:
        assert header is not None
        window = header.expires - header.created
        if window > MAX_WINDOW_S:
            return [Finding("UBC-SIG-015", f"{header_name} is valid for {window} s",
                            expected=f"<= {MAX_WINDOW_S} s", actual=f"{window} s",
                            evidence=evidence)]
        return []
    assert verification.reason is not None
    rule = REASON_RULES[verification.reason]
    if header_name == signing.GATEWAY_AUTHORIZATION:
        rule = "UBC-SIG-012"
    return [Finding(rule, f"{header_name}: {verification.reason}: {verification.detail}",
                    evidence=evidence)]


def signature_findings(
    body: bytes,
    headers: Mapping[str, str],
    lookup: signing.KeyLookup,
    context: Mapping[str, Any] | None,
    *,
    now: float | None = None,
    skew: float = signing.DEFAULT_SKEW_S,
    evidence: list[str] | None = None,
) -> list[Finding]:
    """UBC-SIG-001..012, 015, 017: verify every signature header of one message against
    `lookup`, check that the Authorization keyId names the sender in the context, and that a
    valid signature is not valid much longer than the message's ttl."""
    findings: list[Finding] = []
    for name, verification in signing.verify_request(body, headers, lookup, now=now, skew=skew):
        findings.extend(verification_findings(name, verification, evidence))
        header = verification.header
        if verification.valid and header is not None and context is not None:
            findings += window_within_ttl(name, header, context, skew, evidence or [])
        if name == signing.AUTHORIZATION and header is not None and context is not None:
            expected = envelope.sender_of(context)
            if expected is not None and header.subscriber_id != expected:
                findings.append(Finding(
                    "UBC-SIG-011",
                    f"signed by {header.subscriber_id!r} but the context names {expected!r} "
                    "as the sender",
                    expected=expected, actual=header.subscriber_id, evidence=evidence or [],
                ))
    return findings


def window_within_ttl(header_name: str, header: signing.SignatureHeader,
                      context: Mapping[str, Any], skew: float, evidence: list[str]
                      ) -> list[Finding]:
    """UBC-SIG-017: BECKN-006 ties a signature's window to the message's ttl; one valid much
    longer can be replayed long after the message lost its meaning."""
    try:
        ttl = wire_time.duration_seconds(context.get("ttl"))  # type: ignore[arg-type]
    except ValueError:
        return []  # an unreadable ttl is the context checks' finding
    window = header.expires - header.created
    if ttl <= 0 or window <= ttl + skew:
        return []
    return [Finding("UBC-SIG-017", f"{header_name} is valid for {window} s, the message's ttl "
                    f"is {context.get('ttl')} ({ttl:g} s)", expected=f"<= {ttl + skew:g} s",
                    actual=f"{window} s", evidence=evidence)]
