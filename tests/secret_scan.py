"""What a certification held secret, and where in its run folders any of it shows.

Independent of harness/report/redaction.py on purpose: the secrets are read from the key files
and candidate files themselves and encoded here, so a form the redaction forgot is still found.
"""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path


def secrets_under(root: Path) -> dict[str, list[bytes]]:
    """Every private key kept in a harness state folder under `root` (the harness's parties
    and the operator) and every client API token of a candidate file under it: label -> the
    encodings searched (base64 of the 32-byte seed and of the 64-byte form, hex of both)."""
    found: dict[str, list[bytes]] = {}
    for path in sorted(root.rglob("*-keys.json")):
        full = base64.b64decode(json.loads(path.read_text())["signing_private_key"])
        seed = full[:32]
        found[f"private key of {path.relative_to(root)}"] = [
            base64.b64encode(full), base64.b64encode(seed), full.hex().encode(),
            seed.hex().encode()]
    for path in sorted(root.rglob("candidate.toml")):
        token = tomllib.loads(path.read_text()).get("client_api_token")
        if token:
            found[f"client_api_token of {path.relative_to(root)}"] = [token.encode()]
    return found


def run_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("report.json"))


def leaks(run_dir: Path, secrets: dict[str, list[bytes]]) -> list[str]:
    """`file at byte N: label` for every secret found in any file of the run folder."""
    found = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for label, forms in secrets.items():
            offsets = [data.find(form) for form in forms if form in data]
            if offsets:
                found.append(f"{path.relative_to(run_dir)} at byte {min(offsets)}: {label}")
    return found
