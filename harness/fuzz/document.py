"""The OpenAPI documents of the Beckn endpoints a candidate serves, built from the profile's
bundled JSON Schemas (schemas/ubc-2.0.0-rc/).

A BPP receives select, init, confirm, status, track, update, cancel, rating and support from
BAPs; a BAP receives their callbacks, on_select to on_support. Each action is one `POST
/{action}` below the subscriber URI, whose body is the envelope: the profile's context with
`action` fixed to the route's, and the action's message schema.

The schemas are the bundled files themselves, each put under `components/schemas` (a file as
`context`, `messages.select`; an entry of a file's `$defs` as `core.Order`,
`ev-charging.ChargingService`) with its `$ref`s rewritten to point there and `$id`/`$schema`
dropped, so the document stands alone: nothing is fetched, and the schemas cannot drift from
what the harness validates with (tests/test_fuzz.py regenerates both documents and compares).
Only the components an endpoint reaches are kept.

`python -m harness.fuzz.document` writes them to schemas/openapi/beckn-bpp.json and
beckn-bap.json after a change of the schemas.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.beckn import envelope
from harness.paths import SCHEMAS_DIR
from harness.schemas import DEFAULT_PROFILE

BPP_RECEIVES = ("select", "init", "confirm", "status", "track", "update", "cancel", "rating",
                "support")
RECEIVES = {"bpp": BPP_RECEIVES,
            "bap": tuple(envelope.CALLBACK_OF[action] for action in BPP_RECEIVES)}
# A CDS's endpoints are no candidate's: their document is built, never kept, for the long fuzz
# of the mock network's CDS (tests/test_long_signed.py).
CDS_RECEIVES = ("catalog_publish", "discover", "on_discover")
TITLES = {"bpp": "a BPP (a charge point operator platform) receives from BAPs",
          "bap": "a BAP (a driver's app) receives from BPPs",
          "cds": "a CDS receives: catalogs from BPPs, discover from BAPs"}
SENDERS = {"bpp": "a BAP", "bap": "a BPP", "cds": "a BPP or a BAP"}
OPENAPI_DIR = SCHEMAS_DIR / "openapi"
_REF = "#/components/schemas/"
_DEFS = re.compile(r"/\$defs/([^/]+)")
_DROPPED = frozenset({"$id", "$schema", "$defs"})


def path_of(role: str) -> Path:
    """Where the role's document is kept."""
    return OPENAPI_DIR / f"beckn-{role}.json"


def load(role: str) -> dict[str, Any]:
    """The kept document of the role's endpoints."""
    document: dict[str, Any] = json.loads(path_of(role).read_text(encoding="utf-8"))
    return document


def _component(file: str, definition: str | None = None) -> str:
    """The component name of a schema file ("messages/select.json") or of one of its $defs."""
    stem = file.removesuffix(".json").removeprefix("defs/").replace("/", ".")
    return f"{stem}.{definition}" if definition else stem


def _rewritten(node: Any, file: str) -> Any:
    """A schema of `file` with its $refs pointing into the document's components."""
    if isinstance(node, list):
        return [_rewritten(item, file) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "$ref":
            target, _, fragment = value.partition("#")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(file), target)) \
                if target else file
            found = _DEFS.fullmatch(fragment)
            if fragment and found is None:  # the bundled files refer to whole $defs only
                raise ValueError(f"{file}: cannot place $ref {value!r} in the document")
            out[key] = _REF + _component(resolved, found.group(1) if found else None)
        else:
            out[key] = _rewritten(value, file)
    return out


def _bundled(profile: str) -> dict[str, Any]:
    """Every schema of the profile as a component, by name."""
    folder = SCHEMAS_DIR / profile
    components: dict[str, Any] = {}
    for path in sorted(folder.rglob("*.json")):
        file = path.relative_to(folder).as_posix()
        schema = json.loads(path.read_text(encoding="utf-8"))
        source = f"schemas/{profile}/{file}"
        for name, definition in schema.get("$defs", {}).items():
            components[_component(file, name)] = {
                "x-source": f"{source}#/$defs/{name}", **_rewritten(definition, file)}
        components[_component(file)] = {"x-source": source, **_rewritten(schema, file)}
    return components


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
                yield value.removeprefix(_REF)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _reachable(components: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(components[name])
    return {name: components[name] for name in sorted(seen)}


def _request(action: str, bundled: dict[str, Any]) -> dict[str, Any]:
    """The body of `POST /{action}`: the envelope with the action's context and message."""
    envelope_schema = bundled["envelope"]
    return {
        "type": "object",
        "description": f"The {action} envelope (schemas/{DEFAULT_PROFILE}/envelope.json): the "
                       f"context with action {action!r}, and messages/{action}.json.",
        "required": ["context", "message"],
        "properties": {
            "context": {"allOf": [{"$ref": _REF + "context"},
                                  {"properties": {"action": {"const": action}}}]},
            "message": {"$ref": f"{_REF}messages.{action}"},
            "error": envelope_schema["properties"]["error"],
        },
    }


def _operation(role: str, action: str) -> dict[str, Any]:
    return {
        "operationId": action,
        "summary": f"Receive a signed {action} from {SENDERS[role]}",
        "description": "The body is checked, and refused with a 400 NACK carrying the error "
                       "(TSD §13) when it breaks the schema; what it asks for is answered "
                       f"later{' by a signed on_' + action if role == 'bpp' else ''}, never "
                       "in this answer.",
        "security": [{"becknSignature": []}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"{_REF}request.{action}"}}}},
        "responses": {
            "200": {"description": "Accepted (ACK).",
                    "content": {"application/json": {"schema": {"$ref": _REF + "ack"}}}},
            "400": {"description": "Not JSON, or the envelope, context or message breaks its "
                                   "schema: a NACK with the error's code and message.",
                    "content": {"application/json": {"schema": {"$ref": _REF + "ack"}}}},
            "401": {"description": "The signature is missing, malformed, expired, of a key "
                                   "the registry does not hold or not the context's sender's.",
                    "headers": {"WWW-Authenticate": {"required": True,
                                                     "schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {"$ref": _REF + "ack"}}}},
        },
    }


def build(role: str, profile: str = DEFAULT_PROFILE) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the Beckn endpoints a candidate of `role` serves (or the
    mock CDS, role "cds")."""
    actions = CDS_RECEIVES if role == "cds" else RECEIVES[role]
    bundled = _bundled(profile)
    components = {**bundled, **{f"request.{a}": _request(a, bundled) for a in actions}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"UBC Beckn endpoints: what {TITLES[role]}",
            "version": profile,
            "description": f"Generated by `python -m harness.fuzz.document` from the JSON "
                           f"Schemas of schemas/{profile}/ (each component's x-source names "
                           "its file); do not edit. " + (
                               f"`ubc-cert fuzz --role {role}` draws its requests from it."
                               if role in RECEIVES else "The long fuzz of the mock network "
                               "draws its requests from it."),
        },
        "servers": [{"url": "{subscriber_uri}",
                     "description": "The candidate's subscriber URI as the registry holds it.",
                     "variables": {"subscriber_uri": {"default": "http://127.0.0.1:9000/beckn"}}}],
        "paths": {f"/{action}": {"post": _operation(role, action)} for action in actions},
        "components": {
            "securitySchemes": {"becknSignature": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "BECKN-006: Signature keyId=\"{subscriber_id}|{key_id}|ed25519\""
                               ",algorithm=\"ed25519\",created,expires,headers=\"(created) "
                               "(expires) digest\",signature; the digest is BLAKE2b-512 of the "
                               "exact body bytes."}},
            "schemas": _reachable(components, [f"request.{a}" for a in actions] + ["ack"]),
        },
    }


def write(role: str) -> Path:
    path = path_of(role)
    path.write_text(json.dumps(build(role), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


if __name__ == "__main__":
    for each in RECEIVES:
        print(f"wrote {write(each)}", file=sys.stderr)
