"""The one per-message pipeline: every check that judges a single message on its own.

`ubc-cert validate` runs it on captured messages, and a certification run on every callback
the candidate sends, so a rule cannot hold in one path and be forgotten in the other. In order:
size and UTF-8 JSON (UBC-SCH-001/012), schema (UBC-SCH-002..008, 105, CTX-001..011), the
profile's compatibility warnings, what the message says about itself (harness/checks/
semantics.py with the quote arithmetic UBC-CONS-001/007/009, readings.py, chronology.py and
state.py: UBC-MSG-*, CTX-021/022, STATE-010/011), and signatures when a key lookup is given
(UBC-SIG-001..012, 015). The checks and their order are the "message" scope of registry.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from harness.beckn import signing
from harness.checks.schema import PROFILE_CHECKS
from harness.checks.signature import signature_findings
from harness.findings import Finding
from harness.schemas import SchemaSet

MAX_MESSAGE_BYTES = 1024 * 1024  # TSD §13; the mocks refuse larger bodies with 413 too


def too_large(size: int, what: str = "body") -> Finding | None:
    """UBC-SCH-012: a message over 1 MB."""
    if size <= MAX_MESSAGE_BYTES:
        return None
    hint = " (for a capture of many messages use .ndjson)" if what == "file" else ""
    return Finding("UBC-SCH-012", f"{what} is {size:,} bytes; a message may be at most "
                   f"{MAX_MESSAGE_BYTES:,}{hint}", actual=size, expected=f"<= {MAX_MESSAGE_BYTES}")


def parse_body(body: bytes) -> tuple[Any, Finding | None]:
    """Parse raw bytes as UTF-8 JSON, or explain precisely why not (UBC-SCH-001/012)."""
    problem = too_large(len(body))
    if problem is not None:
        return None, problem
    try:
        return orjson.loads(body), None  # the hot path: strict, UTF-8-checking and fast
    except orjson.JSONDecodeError:
        pass  # explain precisely below, or accept what only the stdlib parser takes
    if not body.strip():
        return None, Finding("UBC-SCH-001", "body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Finding("UBC-SCH-001", f"body is not UTF-8: byte 0x{body[exc.start]:02x} "
                             f"at offset {exc.start}")
    try:
        # Integers beyond 64 bits and lone surrogates are JSON; NaN and Infinity are not.
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, Finding("UBC-SCH-001", f"body is not JSON: {exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}")
    except ValueError as exc:
        return None, Finding("UBC-SCH-001", f"body is not JSON: {exc}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def capture_record_invalid(field_name: str) -> Finding:
    """UBC-SCH-001: an NDJSON capture record whose `body` or `headers` has the wrong shape."""
    what = ('"body" must be the raw JSON body as a string' if field_name == "body"
            else '"headers" must map names to strings')
    return Finding("UBC-SCH-001", f"capture record: {what}", path=f"/{field_name}")


@dataclass
class Message:
    """One message to judge: its exact bytes, and what is known about how it travelled."""

    raw: bytes
    headers: Mapping[str, str] | None = None  # None: captured without headers, not signed
    expected_action: str | None = None  # the endpoint it reached, when known
    evidence: list[str] = field(default_factory=list)
    doc: Any = None  # filled by the pipeline once parsed
    # context and order of `_read`, read once: every message check asks for them
    _read: Any = field(default=None, init=False, repr=False, compare=False)
    _parts: tuple[Any, Any] = field(default=(None, None), init=False, repr=False, compare=False)

    def _parts_of_doc(self) -> tuple[Any, Any]:
        doc = self.doc
        if doc is not self._read:
            context = message = None
            if isinstance(doc, dict):
                context, message = doc.get("context"), doc.get("message")
            order = message.get("order") if isinstance(message, dict) else None
            self._parts = (context if isinstance(context, dict) else None,
                           order if isinstance(order, dict) else None)
            self._read = doc
        return self._parts

    @property
    def context(self) -> dict[str, Any] | None:
        return self._parts_of_doc()[0]

    @property
    def order(self) -> dict[str, Any] | None:
        """`message.order` when the message carries an order object."""
        return self._parts_of_doc()[1]

    @property
    def is_envelope(self) -> bool:
        return self.context is not None and isinstance(self.doc.get("message"), dict)


@dataclass
class Pipeline:
    """What the message checks need: the profile's schemas and, to verify signatures, keys.
    The checks themselves, in order, are the "message" scope of harness/checks/registry.py."""

    schemas: SchemaSet
    lookup: signing.KeyLookup | None = None
    now: float | None = None
    skew: float = signing.DEFAULT_SKEW_S


def signatures_verify(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-SIG-001..012, 015, when the message came with headers and keys are known."""
    if pipeline.lookup is None or message.headers is None:
        return []
    return signature_findings(message.raw, message.headers, pipeline.lookup, message.context,
                              now=pipeline.now, skew=pipeline.skew, evidence=message.evidence)


def schema_valid(message: Message, pipeline: Pipeline) -> list[Finding]:
    """UBC-SCH-002..008 and UBC-CTX-001..011: envelope, context and message schemas."""
    return pipeline.schemas.validate(message.doc, expected_action=message.expected_action)


def profile_warnings(message: Message, pipeline: Pipeline) -> list[Finding]:
    """The profile's compatibility warnings (UBC-SCH-101..104, UBC-CTX-019/020)."""
    if not message.is_envelope:
        return []
    findings: list[Finding] = []
    for check in PROFILE_CHECKS:
        findings.extend(check(message.doc))
    return findings
