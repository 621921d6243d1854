"""`ubc-cert keys new`, `sign` and `verify-signature`, driven as a user would."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.beckn import signing
from harness.cli import main

from .test_signing import (
    VECTOR_AUTHORIZATION,
    VECTOR_BODY,
    VECTOR_CREATED,
    VECTOR_EXPIRES,
    VECTOR_KEY_ID,
    VECTOR_PRIVATE_64,
    VECTOR_PUBLIC,
    VECTOR_SUBSCRIBER,
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_new_prints_a_usable_pair(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "new", "--subscriber-id", "cpo.example.com",
                       "--key-id", "k7")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"subscriber_id", "key_id", "signing_private_key", "signing_public_key"}
    assert (data["subscriber_id"], data["key_id"]) == ("cpo.example.com", "k7")
    import base64

    assert len(base64.b64decode(data["signing_private_key"])) == 64
    signer = signing.Signer("cpo.example.com", "k7", data["signing_private_key"])
    assert signer.public_key == data["signing_public_key"]


def test_keys_new_writes_a_0600_file_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "bpp.json"
    code, _, err = run(capsys, "keys", "new", "--subscriber-id", "bpp.example", "--out",
                       str(target))
    assert code == 0 and "mode 0600" in err
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    first = target.read_text()
    code, _, err = run(capsys, "keys", "new", "--subscriber-id", "bpp.example", "--out",
                       str(target))
    assert code == 2 and "already exists" in err
    assert target.read_text() == first


def test_sign_reproduces_the_published_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(VECTOR_BODY)
    code, out, _ = run(capsys, "sign", "--private-key", VECTOR_PRIVATE_64, "--subscriber-id",
                       VECTOR_SUBSCRIBER, "--key-id", VECTOR_KEY_ID, "--created",
                       str(VECTOR_CREATED), "--expires", str(VECTOR_EXPIRES), str(body))
    assert code == 0
    assert out.strip() == VECTOR_AUTHORIZATION


def test_sign_with_a_key_file_then_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "k.json"
    run(capsys, "keys", "new", "--subscriber-id", "bap.example", "--out", str(key_file))
    keys = json.loads(key_file.read_text())
    body = tmp_path / "body.json"
    body.write_bytes('{"context":{},"message":{"रुपये":18}}'.encode())
    code, header, _ = run(capsys, "sign", "--key", str(key_file), str(body))
    assert code == 0 and header.startswith('Signature keyId="bap.example|bap.example-k1|ed25519"')
    parsed = signing.parse_header(header.strip())
    assert parsed.expires - parsed.created == 300
    code, out, _ = run(capsys, "verify-signature", "--public-key", keys["signing_public_key"],
                       "--header", header.strip(), str(body))
    assert (code, out.strip()) == (0, "valid")


def test_verify_reports_reason_code_and_explanation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(VECTOR_BODY.replace(b"Kochi", b"Kochy"))
    code, out, _ = run(capsys, "verify-signature", "--public-key", VECTOR_PUBLIC, "--header",
                       VECTOR_AUTHORIZATION, "--now", str(VECTOR_CREATED + 5), str(body))
    assert code == 1
    assert out.startswith("invalid: bad-signature: ")
    assert len(out.strip().splitlines()) == 1


def test_verify_explains_a_re_serialised_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps(json.loads(VECTOR_BODY), indent=2))
    code, out, _ = run(capsys, "verify-signature", "--public-key", VECTOR_PUBLIC, "--header",
                       VECTOR_AUTHORIZATION, "--now", str(VECTOR_CREATED + 5), str(body))
    assert code == 1
    assert out.startswith("invalid: digest-mismatch: the signature matches the same JSON "
                          "serialised differently (compact JSON")


def test_verify_expired_uses_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(VECTOR_BODY)
    code, out, _ = run(capsys, "verify-signature", "--public-key", VECTOR_PUBLIC, "--header",
                       VECTOR_AUTHORIZATION, str(body))
    assert code == 1 and out.startswith("invalid: expired: ")
    code, out, _ = run(capsys, "verify-signature", "--public-key", VECTOR_PUBLIC, "--header",
                       VECTOR_AUTHORIZATION, "--now", str(VECTOR_CREATED - 100), "--skew", "200",
                       str(body))
    assert (code, out.strip()) == (0, "valid")


@pytest.mark.parametrize("argv, message", [
    (["sign", "--subscriber-id", "x", "body"], "missing --private-key, --key-id"),
    (["sign", "--private-key", "AAAA", "--subscriber-id", "x", "--key-id", "k", "{body}"],
     "private key decodes to 3 bytes"),
    (["sign", "--key", "/nonexistent/key.json", "{body}"], "cannot read key file"),
    (["verify-signature", "--public-key", "!!", "--header", "x", "{body}"], "not valid base64"),
    (["verify-signature", "--public-key", VECTOR_PUBLIC, "--header", "x", "/nonexistent"],
     "cannot read body"),
])
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "b.json"
    body.write_text("{}")
    code, _, err = run(capsys, *[a.replace("{body}", str(body)) for a in argv])
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_console_script_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "rules", "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    ids = [rule["id"] for rule in json.loads(done.stdout)]
    assert "UBC-SIG-009" in ids and len(ids) == len(set(ids))


def test_key_files_round_trip_and_bad_ones_name_the_file(tmp_path: Path) -> None:
    from harness.beckn.keys import read_key_file, write_key_file

    pair = signing.KeyPair.generate("bpp.example", "k1")
    write_key_file(pair, tmp_path / "k.json")
    assert read_key_file(tmp_path / "k.json") == pair
    with pytest.raises(FileExistsError):
        write_key_file(pair, tmp_path / "k.json")
    other = signing.KeyPair.generate("bpp.example", "k1")
    (tmp_path / "mixed.json").write_text(json.dumps(
        {**pair.as_dict(), "signing_public_key": other.signing_public_key}))
    for name, content in (("mixed.json", None), ("torn.json", '{"subscriber_id": "x"')):
        if content is not None:
            (tmp_path / name).write_text(content)
        with pytest.raises(signing.InvalidKey, match=name):
            read_key_file(tmp_path / name)
