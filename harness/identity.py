"""The harness's identity as a candidate is configured with it: the registry and CDS it must
use and every harness party's subscriber id, key id, public key and URI.

`ubc-cert run` and `serve` print it as a TOML block to paste into a stack's configuration, and
`--emit-config FILE` writes it for scripts as JSON (`.json`), TOML (`.toml`) or shell
variables (`.env`: `UBC_REGISTRY_URL`, `UBC_BAP_KEY_ID`, ...). Public keys only: the private
keys never leave the state folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
from pathlib import Path
from typing import Any

from harness.network import REGISTRY_TYPES, SUBSCRIBERS, MockNetwork

TYPES = {**REGISTRY_TYPES, "other-bap": "BAP", "other-bpp": "BPP"}
FORMATS = {".json": "json", ".toml": "toml", ".env": "env"}
_PLAIN = re.compile(r"[A-Za-z0-9_./:+=@%,-]*")


class ConfigFormatError(ValueError):
    pass


def config_format(path: str | Path) -> str:
    """The format `--emit-config` writes to `path`, from its extension."""
    found = FORMATS.get(Path(path).suffix.lower())
    if found is None:
        raise ConfigFormatError(f"--emit-config {path}: name a .json, .toml or .env file "
                                "(the extension chooses the format)")
    return found


def describe(network: MockNetwork) -> dict[str, Any]:
    """What the candidate must know of the harness, as plain data."""
    parties = network.participants
    document: dict[str, Any] = {"state_dir": str(network.state_dir)}
    if "registry" in parties:
        document["registry_url"] = parties["registry"].url
    if "cds" in parties:
        document["cds_uri"] = parties["cds"].uri
    document["participants"] = {
        role: {"subscriber_id": p.subscriber_id, "type": TYPES[role], "key_id": p.key_id,
               "signing_public_key": p.public_key, "uri": p.uri}
        for role, p in parties.items() if role in SUBSCRIBERS}
    return document


def _toml_value(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def as_toml(document: dict[str, Any]) -> str:
    lines = ["# The UBC conformance harness, as a candidate must be configured with it."]
    lines += [f"{name} = {_toml_value(value)}" for name, value in document.items()
              if isinstance(value, str)]
    for role, fields in document.get("participants", {}).items():
        lines += ["", f'[participants."{role}"]' if "-" in role else f"[participants.{role}]"]
        lines += [f"{name} = {_toml_value(value)}" for name, value in fields.items()]
    return "\n".join(lines) + "\n"


def as_env(document: dict[str, Any]) -> str:
    def line(name: str, value: str) -> str:
        shown = value if _PLAIN.fullmatch(value) else shlex.quote(value)
        return f"UBC_{name.upper().replace('-', '_')}={shown}"

    lines = [line(name, value) for name, value in document.items() if isinstance(value, str)]
    for role, fields in document.get("participants", {}).items():
        lines += [line(f"{role}_{name}", value) for name, value in fields.items()]
    return "\n".join(dict.fromkeys(lines)) + "\n"  # UBC_CDS_URI is both: say it once


def render(document: dict[str, Any], form: str) -> str:
    if form == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return as_toml(document) if form == "toml" else as_env(document)


def emit(network: MockNetwork, path: str | Path) -> Path:
    """Write the identity to `path` whole (a script polling for the file never reads half)."""
    target = Path(path)
    text = render(describe(network), config_format(target))
    staged = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, target)
    return target
