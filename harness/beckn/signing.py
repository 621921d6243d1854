"""Beckn HTTP message signing (BECKN-006): digest, signing string, header build/parse, verify.

Pure functions, no I/O. The digest is always taken over the raw body bytes as they travel on the
wire; a body that was parsed and re-serialised no longer matches its signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

ALGORITHM = "ed25519"
SIGNED_HEADERS = "(created) (expires) digest"
DIGEST_PREFIX = "BLAKE-512="
DEFAULT_VALIDITY_S = 300  # the window beckn-onix uses
DEFAULT_SKEW_S = 5.0  # beckn-onix's allowed clock skew
MAX_VALIDITY_S = 3600  # UBC-SIG-015: a signature is valid for at most one hour

AUTHORIZATION = "Authorization"
GATEWAY_AUTHORIZATION = "X-Gateway-Authorization"

# Reason codes returned by verify(); the CLI prints them and the rule catalogue maps them.
MISSING_HEADER = "missing-header"
MALFORMED_HEADER = "malformed-header"
UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
BAD_HEADERS_LIST = "bad-headers-list"
BAD_KEY_ID = "bad-key-id"
CREATED_IN_FUTURE = "created-in-future"
EXPIRED = "expired"
DIGEST_MISMATCH = "digest-mismatch"
BAD_SIGNATURE = "bad-signature"
UNKNOWN_KEY = "unknown-key"

REASON_CODES = (
    MISSING_HEADER,
    MALFORMED_HEADER,
    UNSUPPORTED_ALGORITHM,
    BAD_HEADERS_LIST,
    BAD_KEY_ID,
    CREATED_IN_FUTURE,
    EXPIRED,
    DIGEST_MISMATCH,
    BAD_SIGNATURE,
    UNKNOWN_KEY,
)


class InvalidKey(ValueError):
    """A key that cannot be decoded into an ed25519 key."""


def digest(body: bytes) -> str:
    """`BLAKE-512=<base64 of blake2b-512(body)>`, as it appears in the signing string."""
    return DIGEST_PREFIX + base64.b64encode(hashlib.blake2b(body, digest_size=64).digest()).decode()


def signing_string(created: int, expires: int, body_digest: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: {body_digest}".encode()


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidKey(f"{what} is not valid base64: {exc}") from None


def load_private_key(b64: str) -> SigningKey:
    """Accept a 32-byte seed (ONIX) or a 64-byte seed+public key (libsodium, ONDC SDK)."""
    raw = _b64decode(b64, "private key")
    if len(raw) == 64:
        key = SigningKey(raw[:32])
        if bytes(key.verify_key) != raw[32:]:
            raise InvalidKey("64-byte private key: the last 32 bytes are not the seed's public key")
        return key
    if len(raw) == 32:
        return SigningKey(raw)
    raise InvalidKey(
        f"private key decodes to {len(raw)} bytes; expected 32 (seed) or 64 (seed+public)"
    )


_PUBLIC_KEYS: dict[str, VerifyKey] = {}  # decoded once: verification is the hot path


def load_public_key(b64: str) -> VerifyKey:
    key = _PUBLIC_KEYS.get(b64)
    if key is not None:
        return key
    raw = _b64decode(b64, "public key")
    if len(raw) != 32:
        raise InvalidKey(f"public key decodes to {len(raw)} bytes; expected 32")
    key = VerifyKey(raw)
    if len(_PUBLIC_KEYS) < 4096:
        _PUBLIC_KEYS[b64] = key
    return key


@dataclass(frozen=True)
class KeyPair:
    subscriber_id: str
    key_id: str
    signing_private_key: str  # base64, 64-byte seed+public form
    signing_public_key: str  # base64, 32 bytes

    @classmethod
    def generate(cls, subscriber_id: str, key_id: str) -> KeyPair:
        key = SigningKey.generate()
        public = bytes(key.verify_key)
        return cls(
            subscriber_id=subscriber_id,
            key_id=key_id,
            signing_private_key=base64.b64encode(bytes(key) + public).decode(),
            signing_public_key=base64.b64encode(public).decode(),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "subscriber_id": self.subscriber_id,
            "key_id": self.key_id,
            "signing_private_key": self.signing_private_key,
            "signing_public_key": self.signing_public_key,
        }


class Signer:
    """Signs bodies for one subscriber key; the key is decoded once."""

    def __init__(self, subscriber_id: str, key_id: str, private_key_b64: str) -> None:
        self.subscriber_id = subscriber_id
        self.key_id = key_id
        self._key = load_private_key(private_key_b64)
        self.public_key = base64.b64encode(bytes(self._key.verify_key)).decode()

    @classmethod
    def from_keypair(cls, keys: KeyPair) -> Signer:
        return cls(keys.subscriber_id, keys.key_id, keys.signing_private_key)

    @property
    def key_id_field(self) -> str:
        return f"{self.subscriber_id}|{self.key_id}|{ALGORITHM}"

    def sign(
        self, body: bytes, created: int | None = None, expires: int | None = None
    ) -> str:
        """The `Authorization` (or `X-Gateway-Authorization`) header value for `body`."""
        created = int(time.time()) if created is None else created
        expires = created + DEFAULT_VALIDITY_S if expires is None else expires
        signature = self._key.sign(signing_string(created, expires, digest(body))).signature
        return build_header(
            self.key_id_field, created, expires, base64.b64encode(signature).decode()
        )


def build_header(key_id: str, created: int, expires: int, signature_b64: str) -> str:
    return (
        f'Signature keyId="{key_id}",algorithm="{ALGORITHM}",created="{created}",'
        f'expires="{expires}",headers="{SIGNED_HEADERS}",signature="{signature_b64}"'
    )


@dataclass(frozen=True)
class SignatureHeader:
    key_id: str
    algorithm: str
    created: int
    expires: int
    headers: str
    signature: str
    subscriber_id: str
    unique_key_id: str


class HeaderError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
# The canonical layout every conforming signer emits, matched in one step (hot path).
_CANONICAL = re.compile(
    r'Signature keyId="([^"|]+)\|([^"|]+)\|ed25519",algorithm="ed25519",created="(\d{1,15})",'
    r'expires="(\d{1,15})",headers="\(created\) \(expires\) digest",signature="([^"]*)"'
)
# Unix seconds: 15 digits reach thirty million years. Longer numbers are no times, and would
# cost a 4,300-digit integer conversion or overflow a float comparison.
_SECONDS = re.compile(r"[0-9]{1,15}")
# Explaining a bad signature re-serialises the body five ways: bounded, so a large or deeply
# nested body with a known keyId and a bad signature costs no more than it must.
EXPLAIN_LIMIT_BYTES = 64 * 1024
_REQUIRED_PARAMS = ("keyId", "algorithm", "created", "expires", "headers", "signature")


def parse_header(value: str) -> SignatureHeader:
    """Parse a `Signature keyId=...,...` header value; raise HeaderError with a reason code."""
    canonical = _CANONICAL.fullmatch(value)
    if canonical is not None:
        subscriber, key_id, created_s, expires_s, signature = canonical.groups()
        created, expires = int(created_s), int(expires_s)
        if expires >= created:
            return SignatureHeader(f"{subscriber}|{key_id}|{ALGORITHM}", ALGORITHM, created,
                                   expires, SIGNED_HEADERS, signature, subscriber, key_id)
    text = value.strip()
    if not text.startswith("Signature "):
        raise HeaderError(MALFORMED_HEADER, 'header does not start with "Signature "')
    rest = text[len("Signature ") :].strip()
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match:
            raise HeaderError(
                MALFORMED_HEADER,
                f'cannot parse parameters at character {pos}: "{rest[pos : pos + 30]}"',
            )
        name, val = match.group(1), match.group(2)
        if name in params:
            raise HeaderError(MALFORMED_HEADER, f"parameter {name} appears twice")
        params[name] = val
        pos = match.end()
    missing = [p for p in _REQUIRED_PARAMS if p not in params]
    if missing:
        raise HeaderError(MALFORMED_HEADER, f"missing parameter(s): {', '.join(missing)}")
    if not (_SECONDS.fullmatch(params["created"]) and _SECONDS.fullmatch(params["expires"])):
        raise HeaderError(
            MALFORMED_HEADER,
            f'created="{params["created"][:40]}" / expires="{params["expires"][:40]}" '
            "must be integer seconds (at most 15 digits)",
        )
    created, expires = int(params["created"]), int(params["expires"])
    if params["algorithm"] != ALGORITHM:
        raise HeaderError(
            UNSUPPORTED_ALGORITHM, f'algorithm="{params["algorithm"]}"; only "ed25519" is allowed'
        )
    if " ".join(params["headers"].split()) != SIGNED_HEADERS:
        raise HeaderError(
            BAD_HEADERS_LIST, f'headers="{params["headers"]}"; expected "{SIGNED_HEADERS}"'
        )
    parts = params["keyId"].split("|")
    if len(parts) != 3 or not parts[0] or not parts[1] or parts[2] != ALGORITHM:
        raise HeaderError(
            BAD_KEY_ID,
            f'keyId="{params["keyId"]}"; expected "subscriber_id|unique_key_id|ed25519"',
        )
    if expires < created:
        raise HeaderError(MALFORMED_HEADER, f"expires ({expires}) is before created ({created})")
    return SignatureHeader(
        key_id=params["keyId"],
        algorithm=params["algorithm"],
        created=created,
        expires=expires,
        headers=params["headers"],
        signature=params["signature"],
        subscriber_id=parts[0],
        unique_key_id=parts[1],
    )


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying one signature header; `reason` is None when valid."""

    reason: str | None
    detail: str
    header: SignatureHeader | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None

    def __str__(self) -> str:
        return "valid" if self.valid else f"invalid: {self.reason}: {self.detail}"


# A key lookup takes (subscriber_id, unique_key_id) and returns a base64 public key or None.
KeyLookup = Callable[[str, str], str | None]


def _reserialisations(body: bytes) -> list[tuple[str, bytes]]:
    """Common re-serialisations of a JSON body, to explain a digest that does not match."""
    if len(body) > EXPLAIN_LIMIT_BYTES:
        return []
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return []
    layouts = [
        ("compact JSON (no spaces)", {"separators": (",", ":")}),
        ("JSON with ', ' and ': ' separators", {}),
        ("JSON indented by 2 spaces", {"indent": 2}),
        ("JSON indented by 4 spaces", {"indent": 4}),
        ("compact JSON with sorted keys", {"separators": (",", ":"), "sort_keys": True}),
    ]
    forms = []
    for name, options in layouts:
        forms.append((name, json.dumps(doc, ensure_ascii=False, **options)))  # type: ignore[arg-type]
        forms.append((f"{name}, non-ASCII escaped",
                      json.dumps(doc, ensure_ascii=True, **options)))  # type: ignore[arg-type]
    return [(name, text.encode()) for name, text in forms if text.encode() != body]


def verify(
    body: bytes,
    header_value: str | None,
    public_key: str | VerifyKey | KeyLookup | None,
    *,
    now: float | None = None,
    skew: float = DEFAULT_SKEW_S,
    claimed_digest: str | None = None,
) -> Verification:
    """Verify a BECKN-006 signature over the raw `body`.

    `public_key` is a base64 key, a VerifyKey, or a lookup by (subscriber_id, key_id).
    `claimed_digest` is a `Digest` header the sender may have sent; when it disagrees with the
    body the reason is digest-mismatch.
    """
    if not header_value:
        return Verification(MISSING_HEADER, "no signature header")
    try:
        header = parse_header(header_value)
    except HeaderError as exc:
        return Verification(exc.reason, exc.detail)
    now = time.time() if now is None else now
    if header.created > now + skew:
        return Verification(
            CREATED_IN_FUTURE,
            f"created={header.created} is {header.created - now:.0f} s after now={now:.0f} "
            f"(allowed skew {skew:g} s)",
            header,
        )
    if now > header.expires + skew:
        return Verification(
            EXPIRED,
            f"expires={header.expires} is {now - header.expires:.0f} s before now={now:.0f}",
            header,
        )
    key: VerifyKey | None
    try:
        if isinstance(public_key, VerifyKey):
            key = public_key
        elif isinstance(public_key, str):
            key = load_public_key(public_key)
        elif public_key is None:
            key = None
        else:
            found = public_key(header.subscriber_id, header.unique_key_id)
            key = load_public_key(found) if found else None
    except InvalidKey as exc:
        return Verification(UNKNOWN_KEY, f"key for {header.key_id} is unusable: {exc}", header)
    if key is None:
        return Verification(
            UNKNOWN_KEY,
            f"no trusted public key for subscriber {header.subscriber_id!r}, "
            f"key {header.unique_key_id!r}",
            header,
        )
    actual_digest = digest(body)
    if claimed_digest is not None and claimed_digest.strip() != actual_digest:
        return Verification(
            DIGEST_MISMATCH,
            f"the body's digest is {actual_digest}, the sender claimed {claimed_digest.strip()}",
            header,
        )
    try:
        signature = binascii.a2b_base64(header.signature, strict_mode=True)
    except (binascii.Error, ValueError):
        return Verification(MALFORMED_HEADER, "signature is not valid base64", header)
    if len(signature) != 64:
        return Verification(
            MALFORMED_HEADER, f"signature decodes to {len(signature)} bytes; expected 64", header
        )
    try:
        key.verify(signing_string(header.created, header.expires, actual_digest), signature)
        return Verification(None, "valid", header)
    except BadSignatureError:
        pass
    # The signature is bad for these bytes. Say so precisely if it was made over other bytes.
    for name, other in _reserialisations(body):
        try:
            key.verify(signing_string(header.created, header.expires, digest(other)), signature)
        except BadSignatureError:
            continue
        return Verification(
            DIGEST_MISMATCH,
            f"the signature matches the same JSON serialised differently ({name}), not the "
            f"{len(body)} bytes received: the body was re-serialised after signing",
            header,
        )
    return Verification(
        BAD_SIGNATURE,
        f"ed25519 signature does not verify for key {header.key_id} over digest {actual_digest}",
        header,
    )


def verify_request(
    body: bytes,
    headers: Mapping[str, str],
    lookup: KeyLookup,
    *,
    now: float | None = None,
    skew: float = DEFAULT_SKEW_S,
) -> list[tuple[str, Verification]]:
    """Verify `Authorization` and, when present, `X-Gateway-Authorization` of one request."""
    lowered = {k.lower(): v for k, v in headers.items()}
    claimed = lowered.get("digest")
    results = [
        (
            AUTHORIZATION,
            verify(body, lowered.get("authorization"), lookup, now=now, skew=skew,
                   claimed_digest=claimed),
        )
    ]
    gateway = lowered.get("x-gateway-authorization")
    if gateway is not None:
        results.append(
            (GATEWAY_AUTHORIZATION,
             verify(body, gateway, lookup, now=now, skew=skew, claimed_digest=claimed))
        )
    return results
