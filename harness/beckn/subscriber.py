"""Registry records as every reader must understand them: the one trust rule, the v1 names.

The registry applies the trust rule to what it stores, the parties' registry client to what a
lookup answered, the CDS to the publishers it fans out to. A participant's key is trusted only
while its record is SUBSCRIBED and now lies within valid_from..valid_until (bounds included).

Beckn v1 records name the subscriber URI `subscriber_url` (beckn/protocol-server,
src/schemas/subscriberDetails.schema.ts) or `url` (the v1 registry API, beckn-onix's
pkg/model Subscriber), and know four participant types only: BAP, BPP, BG and BREG
(protocol-server's NetworkPaticipantType; it drops a record of any other type). UBC's catalog
discovery service (CDS) does what the v1 gateway (BG) did: it takes discover requests from
BAPs, fans them out to BPPs and relays their answers, which v1 stacks send back to the
gateway's own URL. So a v1 record shows the CDS as type BG, and the registry as BREG.
"""

from __future__ import annotations

import base64
import binascii
import time as _clock
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from nacl.bindings import crypto_sign_ed25519_pk_to_curve25519
from nacl.exceptions import CryptoError

from harness.beckn import time

TRUSTED_STATUS = "SUBSCRIBED"
V1_TYPES = ("BAP", "BPP", "BG", "BREG")  # the participant types a v1 stack accepts
# What a v1 record calls the types v1 has no name for.
V1_TYPE_OF = {"CDS": "BG", "REGISTRY": "BREG"}


@lru_cache(maxsize=4096)
def _epoch(text: str) -> float | None:
    """A record's validity time in epoch seconds, None when it is no RFC 3339 date-time: read
    once per text (every signed request that arrives asks whether its sender is trusted)."""
    try:
        return time.parse(text).timestamp()
    except ValueError:
        return None


def trusted(status: object, valid_from: object, valid_until: object,
            now: float | datetime | None = None) -> bool:
    """SUBSCRIBED and `now` (epoch seconds or datetime; default: the real clock) within the
    record's validity. A record whose times cannot be read is not trusted."""
    if status != TRUSTED_STATUS or not isinstance(valid_from, str) \
            or not isinstance(valid_until, str):
        return False
    start, end = _epoch(valid_from), _epoch(valid_until)
    if start is None or end is None:
        return False
    moment = _clock.time() if now is None else (
        now.timestamp() if isinstance(now, datetime) else float(now))
    return start <= moment <= end


def record_trusted(record: object, now: float | datetime | None = None) -> bool:
    """`trusted` for a lookup record (a JSON object); anything else is not trusted."""
    if not isinstance(record, dict):
        return False
    return trusted(record.get("status"), record.get("valid_from"), record.get("valid_until"),
                   now)


def v1_type(kind: str) -> str:
    """The participant type a v1 record shows for `kind` (CDS is BG, REGISTRY is BREG)."""
    return V1_TYPE_OF.get(kind, kind)


def types_shown_as(v1_kind: str) -> tuple[str, ...]:
    """Every registry type whose v1 record shows `v1_kind`: "BG" is a BG or a CDS."""
    return (v1_kind, *(kind for kind, shown in V1_TYPE_OF.items() if shown == v1_kind))


def record_url(record: Mapping[str, object]) -> str | None:
    """The subscriber URI of a lookup record, whichever v1 name it goes by (`url` first)."""
    for name in ("url", "subscriber_url"):
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def encryption_public_key(signing_public_key: str) -> str:
    """The X25519 public key (base64, raw 32 bytes) of an ed25519 signing key: the record's
    `encr_public_key` for a participant that registers no other, whose private half the
    holder of the signing key can derive. ValueError when the key is not an ed25519 point."""
    try:
        raw = base64.b64decode(signing_public_key, validate=True)
        if len(raw) != 32:
            raise ValueError(f"decodes to {len(raw)} bytes; an ed25519 public key is 32")
        return base64.b64encode(crypto_sign_ed25519_pk_to_curve25519(raw)).decode()
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None
    except CryptoError:
        raise ValueError("not a point of the ed25519 curve") from None
