"""Candidate files: valid ones load, every invalid one is refused naming field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import candidate
from harness.beckn import signing

KEY = signing.KeyPair.generate("cpo.example.com", "k1").signing_public_key
GOOD = f'''role = "bpp"
subscriber_id = "cpo.example.com"
key_id = "k1"
signing_public_key = "{KEY}"
uri = "http://127.0.0.1:9000/beckn/"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cand.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_loads_and_round_trips(tmp_path: Path) -> None:
    loaded = candidate.load(write(tmp_path, GOOD))
    assert (loaded.role, loaded.subscriber_id, loaded.uri) == (
        "bpp", "cpo.example.com", "http://127.0.0.1:9000/beckn")
    assert candidate.load(write(tmp_path, loaded.to_toml())) == loaded


def test_bap_with_client_api(tmp_path: Path) -> None:
    text = GOOD.replace('"bpp"', '"bap"') + (
        'client_api_url = "http://127.0.0.1:9001/v1"\nclient_api_token = "s3cret"\n')
    loaded = candidate.load(write(tmp_path, text))
    assert loaded.client_api_url == "http://127.0.0.1:9001/v1"
    assert loaded.as_dict()["client_api_token"] == "<redacted>"


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('role = "bpp"', 'role = "gateway"'), "role = 'gateway'"),
    (GOOD.replace('key_id = "k1"\n', ""), "missing field 'key_id'"),
    (GOOD.replace("subscriber_id", "subscriber-id"), "did you mean 'subscriber_id'"),
    (GOOD.replace(KEY, "AAAA"), "signing_public_key: public key decodes to 3 bytes"),
    (GOOD.replace("http://127.0.0.1:9000/beckn/", "127.0.0.1:9000"), "is not an http(s) URL"),
    (GOOD.replace('"k1"', '"a|b"'), "may not contain '|'"),
    (GOOD.replace('"k1"', "7"), "key_id must be a non-empty string"),
    (GOOD + 'client_api_url = "http://x"\n', "for a BAP only"),
    ("role = ", "not valid TOML"),
])
def test_invalid_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(candidate.CandidateError) as caught:
        candidate.load(write(tmp_path, text))
    assert message in str(caught.value)
    assert str(tmp_path / "cand.toml") in str(caught.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(candidate.CandidateError, match="cannot read"):
        candidate.load(tmp_path / "nope.toml")
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(candidate.CandidateError, match="not UTF-8"):
        candidate.load(path)
