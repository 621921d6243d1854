"""Secrets never leave in a run's artifacts: private keys and bearer tokens.

The evidence is written without them in the first place (the transcript redacts Authorization
headers, report.json the candidate's token). This is the last line: before a run is sealed,
every file of its folder is searched for every secret the harness held — the private keys of
its parties and of the operator (each in every encoding a key is written in: base64 of the
32-byte seed and of the 64-byte seed+public form, URL-safe, unpadded, hex) and the candidate's
client API token — and each occurrence is replaced by `<redacted>`. Finding one is a harness
bug, so the run says so.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass
from pathlib import Path

from harness.beckn import signing
from harness.beckn.keys import read_key_file

REDACTED = b"<redacted>"
# A token shorter than this could match evidence by chance; none the harness is given is.
MIN_TOKEN_LENGTH = 8
# 40 base64 characters are 30 bytes of a seed: they begin both base64 forms of a private key.
B64_PREFIX = 40


@dataclass(frozen=True)
class Secret:
    label: str  # names the secret in a warning, never shows it
    forms: tuple[bytes, ...]  # longest first: a longer form is replaced whole


def key_forms(private_key_b64: str) -> tuple[bytes, ...]:
    """Every encoding of an ed25519 private key the harness or a peer could write."""
    key = signing.load_private_key(private_key_b64)
    seed = bytes(key)
    forms: set[bytes] = set()
    for raw in (seed + bytes(key.verify_key), seed):
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            forms |= {encoded, encoded.rstrip(b"="), encoded[:B64_PREFIX]}
        forms |= {raw.hex().encode(), raw.hex().upper().encode()}
    return tuple(sorted(forms, key=len, reverse=True))


def private_key(label: str, private_key_b64: str) -> Secret:
    return Secret(label, key_forms(private_key_b64))


def token(label: str, value: str | None) -> list[Secret]:
    if not value or len(value) < MIN_TOKEN_LENGTH:
        return []
    return [Secret(label, (value.encode("utf-8"),))]


def kept_keys(state_dir: Path) -> list[Secret]:
    """The private key of every key file in a state folder (`<party>-keys.json`)."""
    found = []
    for path in sorted(state_dir.glob("*-keys.json")):
        with contextlib.suppress(signing.InvalidKey):  # unusable: the run refused it already
            found.append(private_key(f"private key of {path.name}",
                                     read_key_file(path).signing_private_key))
    return found


@dataclass(frozen=True)
class Leak:
    file: str  # relative to the run folder
    offset: int
    label: str

    def __str__(self) -> str:
        return f"{self.file} at byte {self.offset}: {self.label}"


def _files(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink())


def leaks(run_dir: Path, secrets: list[Secret]) -> list[Leak]:
    """Where any form of any secret occurs in any file of the run folder."""
    found = []
    for path in _files(run_dir):
        data = path.read_bytes()
        for secret in secrets:
            for form in secret.forms:
                offset = data.find(form)
                if offset >= 0:
                    found.append(Leak(str(path.relative_to(run_dir)), offset, secret.label))
                    break
    return found


def scrub(run_dir: Path, secrets: list[Secret]) -> list[Leak]:
    """Replace every occurrence of every secret in the run folder's files by `<redacted>`;
    the leaks it removed (none, unless the harness wrote a secret)."""
    found = leaks(run_dir, secrets)
    for name in sorted({leak.file for leak in found}):
        path = run_dir / name
        data = path.read_bytes()
        for secret in secrets:
            for form in secret.forms:
                data = data.replace(form, REDACTED)
        path.write_bytes(data)
    return found
