"""BECKN-006 signing: the published vector byte for byte, round trips, and every reason code."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.beckn import signing

# The published BECKN-006 example, reproduced independently (values are facts, not prose).
VECTOR_SUBSCRIBER = "example-bap.com"
VECTOR_KEY_ID = "ae3ea24b-cfec-495e-81f8-044aaef164ac"
VECTOR_PRIVATE_64 = (
    "lP3sHA+9gileOkXYJXh4Jg8tK0gEEMbf9yCPnFpbldhrAY+NErqL9WD+Vav7TE5tyVXGXBle9ONZi2W7o144eQ=="
)
VECTOR_PUBLIC = "awGPjRK6i/Vg/lWr+0xObclVxlwZXvTjWYtlu6NeOHk="
VECTOR_BODY = (
    b'{"context":{"domain":"nic2004:60212","country":"IND","city":"Kochi","action":"search",'
    b'"core_version":"0.9.1","bap_id":"bap.stayhalo.in",'
    b'"bap_uri":"https://8f9f-49-207-209-131.ngrok.io/protocol/",'
    b'"transaction_id":"e6d9f908-1d26-4ff3-a6d1-3af3d3721054",'
    b'"message_id":"a2fe6d52-9fe4-4d1a-9d0b-dccb8b48522d","timestamp":"2022-01-04T09:17:55.971Z",'
    b'"ttl":"P1M"},"message":{"intent":{"fulfillment":{"start":{"location":'
    b'{"gps":"10.108768, 76.347517"}},"end":{"location":{"gps":"10.102997, 76.353480"}}}}}}'
)
VECTOR_CREATED = 1641287875
VECTOR_EXPIRES = 1641291475
VECTOR_DIGEST = (
    "BLAKE-512=b6lf6lRgOweajukcvcLsagQ2T60+85kRh/Rd2bdS+TG/5ALebOEgDJfyCrre/1+BMu5nA94o4DT3pTFXuUg7sw=="
)
VECTOR_SIGNATURE = (
    "cjbhP0PFyrlSCNszJM1F/YmHDVAWsZqJUPzojnE/7TJU3fJ/rmIlgaUHEr5E0/2PIyf0tpSnWtT6cyNNlpmoAQ=="
)
VECTOR_AUTHORIZATION = (
    'Signature keyId="example-bap.com|ae3ea24b-cfec-495e-81f8-044aaef164ac|ed25519",'
    'algorithm="ed25519",created="1641287875",expires="1641291475",'
    'headers="(created) (expires) digest",'
    f'signature="{VECTOR_SIGNATURE}"'
)
FOX_DIGEST = (
    "BLAKE-512=qK3Uvd39k+SHfSdG5igXsRY2Sh+nvBSNlQkLxzM7NnP4JAHPeqLkyx7NkCluPxTLVBP47Xe+cwRbE5FM3NapGA=="
)
VECTOR_NOW = VECTOR_CREATED + 10


def test_digest_of_plain_string_matches_vector() -> None:
    assert signing.digest(b"The quick brown fox jumps over the lazy dog") == FOX_DIGEST


def test_published_vector_reproduces_byte_for_byte() -> None:
    assert signing.digest(VECTOR_BODY) == VECTOR_DIGEST
    signer = signing.Signer(VECTOR_SUBSCRIBER, VECTOR_KEY_ID, VECTOR_PRIVATE_64)
    assert signer.public_key == VECTOR_PUBLIC
    assert signer.sign(VECTOR_BODY, VECTOR_CREATED, VECTOR_EXPIRES) == VECTOR_AUTHORIZATION


def test_published_vector_signs_the_same_from_the_32_byte_seed() -> None:
    seed = base64.b64encode(base64.b64decode(VECTOR_PRIVATE_64)[:32]).decode()
    signer = signing.Signer(VECTOR_SUBSCRIBER, VECTOR_KEY_ID, seed)
    assert signer.sign(VECTOR_BODY, VECTOR_CREATED, VECTOR_EXPIRES) == VECTOR_AUTHORIZATION


def test_published_vector_verifies() -> None:
    result = signing.verify(VECTOR_BODY, VECTOR_AUTHORIZATION, VECTOR_PUBLIC, now=VECTOR_NOW)
    assert result.valid, str(result)
    assert result.header is not None
    assert result.header.subscriber_id == VECTOR_SUBSCRIBER
    assert result.header.unique_key_id == VECTOR_KEY_ID


def test_signing_string_has_the_three_lines() -> None:
    assert signing.signing_string(1, 2, "BLAKE-512=x") == (
        b"(created): 1\n(expires): 2\ndigest: BLAKE-512=x"
    )


def test_64_byte_key_with_wrong_public_half_is_refused() -> None:
    raw = base64.b64decode(VECTOR_PRIVATE_64)
    bad = base64.b64encode(raw[:32] + bytes(32)).decode()
    with pytest.raises(signing.InvalidKey, match="not the seed's public key"):
        signing.load_private_key(bad)


@pytest.mark.parametrize("value, match", [
    ("not base64!!", "not valid base64"),
    (base64.b64encode(b"short").decode(), "expected 32"),
])
def test_bad_private_keys_say_why(value: str, match: str) -> None:
    with pytest.raises(signing.InvalidKey, match=match):
        signing.load_private_key(value)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    ),
    ascii_only=st.booleans(),
)
def test_round_trip_over_random_bodies(payload: object, ascii_only: bool) -> None:
    keys = signing.KeyPair.generate("bap.example.com", "k1")
    signer = signing.Signer.from_keypair(keys)
    body = json.dumps({"context": {"note": "चार्जिंग ⚡ ₹18/kWh"}, "message": payload},
                      ensure_ascii=ascii_only).encode()
    header = signer.sign(body, 1000, 1300)
    assert signing.verify(body, header, keys.signing_public_key, now=1100).valid


# -- every reason code ---------------------------------------------------------------------------

KEYS = signing.KeyPair.generate("bap.example.com", "k1")
SIGNER = signing.Signer.from_keypair(KEYS)
BODY = '{"context":{"action":"select"},"message":{"note":"ಚಾರ್ಜ್"}}'.encode()
NOW = 1_700_000_000
GOOD = SIGNER.sign(BODY, NOW - 10, NOW + 290)


def _reason(header: str | None, body: bytes = BODY, key: object = KEYS.signing_public_key,
            now: float = NOW, **kwargs: object) -> str | None:
    return signing.verify(body, header, key, now=now, **kwargs).reason  # type: ignore[arg-type]


def test_good_signature_is_valid() -> None:
    assert _reason(GOOD) is None


def test_missing_header() -> None:
    assert _reason(None) == signing.MISSING_HEADER
    assert _reason("") == signing.MISSING_HEADER


@pytest.mark.parametrize("header", [
    "Bearer abc",
    'Signature keyId="a|b|ed25519"',
    GOOD.replace('created="', 'created="x'),
    GOOD + ',created="1"',
    GOOD.replace(",", ";"),
    GOOD.replace('signature="', 'signature="!!'),
])
def test_malformed_header(header: str) -> None:
    assert _reason(header) == signing.MALFORMED_HEADER


def test_unsupported_algorithm() -> None:
    assert _reason(GOOD.replace('algorithm="ed25519"', 'algorithm="rsa-sha256"')) == (
        signing.UNSUPPORTED_ALGORITHM)


def test_headers_list_must_be_the_three() -> None:
    header = GOOD.replace('headers="(created) (expires) digest"', 'headers="(created) digest"')
    assert _reason(header) == signing.BAD_HEADERS_LIST


@pytest.mark.parametrize("key_id", ["bap.example.com|k1", "bap.example.com|k1|rsa", "|k1|ed25519"])
def test_key_id_must_have_three_parts(key_id: str) -> None:
    header = GOOD.replace('keyId="bap.example.com|k1|ed25519"', f'keyId="{key_id}"')
    assert _reason(header) == signing.BAD_KEY_ID


def test_created_in_the_future_beyond_skew() -> None:
    ahead = SIGNER.sign(BODY, NOW + 6, NOW + 300)
    assert _reason(ahead) == signing.CREATED_IN_FUTURE
    assert _reason(ahead, skew=10) is None
    assert _reason(SIGNER.sign(BODY, NOW + 4, NOW + 300)) is None


def test_expired() -> None:
    old = SIGNER.sign(BODY, NOW - 7200, NOW - 3600)
    assert _reason(old) == signing.EXPIRED
    assert _reason(SIGNER.sign(BODY, NOW - 400, NOW - 6)) == signing.EXPIRED
    assert _reason(SIGNER.sign(BODY, NOW - 400, NOW - 4)) is None


def test_digest_mismatch_from_a_claimed_digest() -> None:
    assert _reason(GOOD, claimed_digest=signing.digest(b"other")) == signing.DIGEST_MISMATCH
    assert _reason(GOOD, claimed_digest=signing.digest(BODY)) is None


def test_digest_mismatch_when_the_signer_re_serialised_the_body() -> None:
    pretty = json.dumps(json.loads(BODY), indent=2, ensure_ascii=False).encode()
    signed_over_pretty = SIGNER.sign(pretty, NOW - 10, NOW + 290)
    result = signing.verify(BODY, signed_over_pretty, KEYS.signing_public_key, now=NOW)
    assert result.reason == signing.DIGEST_MISMATCH
    assert "re-serialised after signing" in result.detail


def test_tampered_body_is_a_bad_signature() -> None:
    assert _reason(GOOD, body=BODY.replace(b"select", b"selecT")) == signing.BAD_SIGNATURE


def test_wrong_key_is_a_bad_signature() -> None:
    other = signing.KeyPair.generate("bap.example.com", "k1")
    assert _reason(GOOD, key=other.signing_public_key) == signing.BAD_SIGNATURE


def test_unknown_key() -> None:
    assert _reason(GOOD, key=lambda subscriber, key_id: None) == signing.UNKNOWN_KEY
    assert _reason(GOOD, key=None) == signing.UNKNOWN_KEY
    known = {("bap.example.com", "k1"): KEYS.signing_public_key}
    assert _reason(GOOD, key=lambda s, k: known.get((s, k))) is None


def test_gateway_header_is_verified_too() -> None:
    gateway = signing.Signer.from_keypair(signing.KeyPair.generate("cds.example.com", "g1"))
    keys = {("bap.example.com", "k1"): KEYS.signing_public_key,
            ("cds.example.com", "g1"): gateway.public_key}
    headers = {"Authorization": GOOD,
               "X-Gateway-Authorization": gateway.sign(BODY + b" ", NOW - 10, NOW + 290)}
    results = signing.verify_request(BODY, headers, lambda s, k: keys.get((s, k)), now=NOW)
    assert [(name, v.reason) for name, v in results] == [
        ("Authorization", None), ("X-Gateway-Authorization", signing.BAD_SIGNATURE)]


def test_every_reason_code_is_covered_by_a_rule() -> None:
    from harness.checks.signature import REASON_RULES

    assert set(REASON_RULES) == set(signing.REASON_CODES)


@pytest.mark.parametrize("seconds", ["9" * 5000, "1" + "0" * 400, "1e400", "-5", "12.5"])
def test_a_time_that_is_no_unix_second_is_a_malformed_header_not_a_crash(seconds: str) -> None:
    header = (f'Signature keyId="a.example|k1|ed25519",algorithm="ed25519",created="{seconds}",'
              f'expires="{seconds}",headers="(created) (expires) digest",signature="AAAA"')
    result = signing.verify(b'{"a": 1}', header, signing.KeyPair.generate("a.example", "k1")
                            .signing_public_key)
    assert result.reason == signing.MALFORMED_HEADER
    assert "at most 15 digits" in result.detail and len(result.detail) < 200


def test_a_bad_signature_over_a_deeply_nested_or_large_body_is_explained_cheaply() -> None:
    keys = signing.KeyPair.generate("a.example", "k1")
    signer = signing.Signer.from_keypair(keys)
    for body in (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                 b'{"pad": "' + b"x" * 900_000 + b'"}'):
        header = signer.sign(b"something else entirely")  # a signature of other bytes
        result = signing.verify(body, header, keys.signing_public_key)
        assert result.reason in (signing.DIGEST_MISMATCH, signing.BAD_SIGNATURE)
