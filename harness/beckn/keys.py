"""Key files: the JSON `ubc-cert keys new` writes, read back by every command that signs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.beckn.signing import InvalidKey, KeyPair, Signer


def write_key_file(pair: KeyPair, path: str | Path, *, overwrite: bool = False) -> None:
    """Write `pair` as JSON, mode 0600 from the first byte (it holds a private key). Without
    `overwrite` an existing file is never replaced (FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(pair.as_dict(), indent=2) + "\n")


def read_key_file(path: str | Path) -> KeyPair:
    """A key pair from a key file; InvalidKey names the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        pair = KeyPair(subscriber_id=data["subscriber_id"], key_id=data["key_id"],
                       signing_private_key=data["signing_private_key"],
                       signing_public_key=data["signing_public_key"])
        if Signer.from_keypair(pair).public_key != pair.signing_public_key:
            raise InvalidKey("signing_public_key is not the private key's public key")
    except OSError as exc:
        raise InvalidKey(f"{path}: cannot read key file: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidKey(f"{path}: not a usable key file: {exc!r}") from None
    return pair
