"""The candidate file: who is being certified and where its Beckn endpoints are.

```toml
role = "bpp"                      # "bap" or "bpp"
subscriber_id = "cpo.example.com"
key_id = "cpo.example.com-k1"
signing_public_key = "base64 of the 32-byte ed25519 public key"
uri = "http://127.0.0.1:9000/beckn"   # the action is appended: {uri}/select
control_url = "http://127.0.0.1:9000/_hooks"   # BPP only, optional: test hooks
# BAP only, optional:
client_api_url = "http://127.0.0.1:9001/v1"
client_api_token = "secret"
```

Every problem is reported with the file, the field and the reason.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import tomlfile
from harness.beckn import signing

ROLES = ("bap", "bpp")
REQUIRED = ("role", "subscriber_id", "key_id", "signing_public_key", "uri")
OPTIONAL = ("client_api_url", "client_api_token", "control_url")
BAP_ONLY = ("client_api_url", "client_api_token")


class CandidateError(ValueError):
    """The candidate file cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class Candidate:
    role: str
    subscriber_id: str
    key_id: str
    signing_public_key: str
    uri: str
    client_api_url: str | None = None
    client_api_token: str | None = None
    control_url: str | None = None  # test hooks of a BPP (see harness/beckn/hooks.py)
    source: str = ""

    def to_toml(self) -> str:
        lines = [f'{name} = "{value}"' for name, value in (
            ("role", self.role), ("subscriber_id", self.subscriber_id),
            ("key_id", self.key_id), ("signing_public_key", self.signing_public_key),
            ("uri", self.uri), ("client_api_url", self.client_api_url),
            ("client_api_token", self.client_api_token), ("control_url", self.control_url))
            if value is not None]
        return "\n".join(lines) + "\n"

    def as_dict(self, redact: bool = True) -> dict[str, Any]:
        data = {"role": self.role, "subscriber_id": self.subscriber_id, "key_id": self.key_id,
                "signing_public_key": self.signing_public_key, "uri": self.uri}
        if self.client_api_url:
            data["client_api_url"] = self.client_api_url
        if self.client_api_token:
            data["client_api_token"] = "<redacted>" if redact else self.client_api_token
        if self.control_url:
            data["control_url"] = self.control_url
        return data


def _url(value: str, where: str, field: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CandidateError(f"{where}: {field} = {value!r} is not an http(s) URL")
    return value.rstrip("/")


def parse(data: dict[str, Any], where: str = "candidate") -> Candidate:
    unknown = [name for name in data if name not in REQUIRED + OPTIONAL]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, REQUIRED + OPTIONAL, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CandidateError(f"{where}: unknown field {name!r}{hint}")
    for name in REQUIRED:
        if name not in data:
            raise CandidateError(f"{where}: missing field {name!r}")
    for name in REQUIRED + OPTIONAL:
        if name in data and (not isinstance(data[name], str) or not data[name].strip()):
            raise CandidateError(f"{where}: {name} must be a non-empty string")
    role = data["role"].strip().lower()
    if role not in ROLES:
        raise CandidateError(f"{where}: role = {data['role']!r}; expected \"bap\" or \"bpp\"")
    try:
        signing.load_public_key(data["signing_public_key"])
    except signing.InvalidKey as exc:
        raise CandidateError(f"{where}: signing_public_key: {exc}") from None
    if "|" in data["subscriber_id"] or "|" in data["key_id"]:
        raise CandidateError(f"{where}: subscriber_id and key_id may not contain '|' "
                             "(it separates them in the signature keyId)")
    if role == "bpp" and any(name in data for name in BAP_ONLY):
        raise CandidateError(f"{where}: client_api_url and client_api_token are for a BAP only")
    if role == "bap" and "control_url" in data:
        raise CandidateError(f"{where}: control_url (test hooks) is for a BPP only")
    return Candidate(
        role=role,
        subscriber_id=data["subscriber_id"].strip(),
        key_id=data["key_id"].strip(),
        signing_public_key=data["signing_public_key"].strip(),
        uri=_url(data["uri"].strip(), where, "uri"),
        client_api_url=_url(data["client_api_url"].strip(), where, "client_api_url")
        if "client_api_url" in data else None,
        client_api_token=data.get("client_api_token"),
        control_url=_url(data["control_url"].strip(), where, "control_url")
        if "control_url" in data else None,
        source=where,
    )


def load(path: str | Path) -> Candidate:
    try:
        data = tomlfile.read(path)
    except tomlfile.TomlFileError as exc:
        raise CandidateError(str(exc)) from None
    return parse(data, str(path))
