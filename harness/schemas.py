"""Loads the profile's JSON Schemas once, compiles them, and turns schema errors into findings.

A message is checked in three layers, each mapped to its own rule family: the envelope
(UBC-SCH-002), the context (UBC-CTX-*, with one rule per field so an operator sees exactly which
field is wrong) and the action's message (UBC-SCH-004..008 by kind of error).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from harness.findings import Finding, pointer
from harness.paths import SCHEMAS_DIR

DEFAULT_PROFILE = "ubc-2.0.0-rc"
BASE_URI = "https://ubc-conformance.example/schemas"

ACTIONS: tuple[str, ...] = (
    "discover", "on_discover", "select", "on_select", "init", "on_init",
    "confirm", "on_confirm", "status", "on_status", "track", "on_track",
    "update", "on_update", "cancel", "on_cancel", "rating", "on_rating",
    "support", "on_support", "catalog_publish", "on_catalog_publish",
)  # fmt: skip

# Context field -> rule for a format or type error in that field.
_CONTEXT_FIELD_RULES = {
    "version": "UBC-CTX-002",
    "domain": "UBC-CTX-003",
    "transaction_id": "UBC-CTX-004",
    "message_id": "UBC-CTX-005",
    "timestamp": "UBC-CTX-006",
    "ttl": "UBC-CTX-007",
    "bap_uri": "UBC-CTX-010",
    "bpp_uri": "UBC-CTX-010",
    "bap_id": "UBC-CTX-008",
    "bpp_id": "UBC-CTX-009",
    "action": "UBC-SCH-003",
}
_REQUIRED_CONTEXT_RULES = {
    "bap_id": "UBC-CTX-008",
    "bap_uri": "UBC-CTX-008",
    "bpp_id": "UBC-CTX-009",
    "bpp_uri": "UBC-CTX-009",
}
_MESSAGE_KIND_RULES = {
    "Required": "UBC-SCH-004",
    "Type": "UBC-SCH-005",
    "Enum": "UBC-SCH-006",
    "Constant": "UBC-SCH-006",
    "Format": "UBC-SCH-007",
}


class SchemaSetError(RuntimeError):
    """The profile's schema files are missing or broken: a harness installation fault."""


def _kind(error: Any) -> str:
    return type(error.kind).__name__


class SchemaSet:
    """Every validator of one profile, compiled once."""

    def __init__(self, profile: str = DEFAULT_PROFILE, root: Path = SCHEMAS_DIR) -> None:
        self.profile = profile
        folder = root / profile
        if not folder.is_dir():
            raise SchemaSetError(f"no schemas for profile {profile!r} in {folder}")
        resources: dict[str, Any] = {}
        for path in sorted(folder.rglob("*.json")):
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SchemaSetError(f"{path}: cannot load schema: {exc}") from exc
            uri = schema.get("$id") or f"{BASE_URI}/{profile}/{path.relative_to(folder).as_posix()}"
            resources[uri] = schema
        self._resources = resources
        registry = jsonschema_rs.Registry(list(resources.items()))

        def compile_(relative: str) -> Any:
            uri = f"{BASE_URI}/{profile}/{relative}"
            if uri not in resources:
                raise SchemaSetError(f"profile {profile!r} has no schema {relative}")
            try:
                return jsonschema_rs.validator_for(
                    resources[uri], registry=registry, validate_formats=True
                )
            except Exception as exc:  # a broken schema file is a harness fault
                raise SchemaSetError(f"{relative}: does not compile: {exc}") from exc

        self.envelope = compile_("envelope.json")
        self.context = compile_("context.json")
        self.ack = compile_("ack.json")
        self.ack_ubc = jsonschema_rs.validator_for(
            {"$ref": f"{BASE_URI}/{profile}/ack.json#/$defs/ubc"}, registry=registry
        )
        self.messages = {action: compile_(f"messages/{action}.json") for action in ACTIONS}

    # -- messages -----------------------------------------------------------------------------

    def validate(self, doc: Any, expected_action: str | None = None) -> list[Finding]:
        """All schema and context findings for one parsed message."""
        if not _plain_envelope(doc) and not (
            isinstance(doc, dict) and self.envelope.is_valid(doc)
        ):
            return list(self._envelope_findings(doc))
        context = doc["context"]
        action = context.get("action")
        if (
            expected_action is None or action == expected_action
        ) and self.context.is_valid(context):
            findings: list[Finding] = []
        else:
            findings = list(self._context_findings(context, expected_action))
        validator = self.messages.get(action) if isinstance(action, str) else None
        if validator is not None and not validator.is_valid(doc["message"]):
            errors = _message_errors(validator, doc["message"])
            error = doc.get("error")
            if isinstance(error, dict) and error.get("code"):
                # A callback that reports an error (TSD §13) may omit the message's payload.
                errors = (f for f in errors
                          if not (f.rule == "UBC-SCH-004" and f.path.count("/") == 2))
            findings.extend(errors)
        return findings

    def _envelope_findings(self, doc: Any) -> Iterable[Finding]:
        if not isinstance(doc, dict):
            yield Finding("UBC-SCH-002", f"body is a JSON {type(doc).__name__}, not an object",
                          expected="object", actual=type(doc).__name__)
            return
        for error in self.envelope.iter_errors(doc):
            yield Finding("UBC-SCH-002", f"envelope: {error.message}",
                          path=pointer(list(error.instance_path)))

    def _context_findings(self, context: dict[str, Any], expected: str | None) -> Iterable[Finding]:
        action = context.get("action")
        if expected is not None and action != expected:
            yield Finding("UBC-CTX-011",
                          f"context.action is {action!r} but the message was sent to /{expected}",
                          path="/context/action", expected=expected, actual=action)
        for error in self.context.iter_errors(context):
            path = list(error.instance_path)
            kind = _kind(error)
            if kind == "Required":
                field = error.kind.property
                rule = _REQUIRED_CONTEXT_RULES.get(field, "UBC-CTX-001")
                reason = ""
                if rule == "UBC-CTX-008":
                    reason = " (required on every BAP-BPP call)"
                elif rule == "UBC-CTX-009":
                    reason = " (required on every call after discover)"
                yield Finding(rule, f"context.{field} is missing{reason}",
                              path=pointer(["context", field]), expected=field)
                continue
            field = str(path[0]) if path else ""
            rule = _CONTEXT_FIELD_RULES.get(field, "UBC-SCH-008")
            if field == "action":
                message = f"context.action {context.get('action')!r} is not a UBC action"
            else:
                message = f"context.{'.'.join(map(str, path))}: {error.message}"
            yield Finding(rule, message, path=pointer(["context", *path]),
                          actual=_short(context.get(field)) if field else None)

    # -- ACK / NACK ---------------------------------------------------------------------------

    def validate_ack(self, doc: Any) -> list[Finding]:
        """Findings for a synchronous answer: invalid (error) or valid but not UBC's shape."""
        if not self.ack.is_valid(doc):
            return [
                Finding("UBC-SCH-009", f"not an ACK or NACK in any known shape: {e.message}",
                        path=pointer(list(e.instance_path)))
                for e in list(self.ack.iter_errors(doc))[:5]
            ]
        if not self.ack_ubc.is_valid(doc):
            return [Finding("UBC-SCH-010",
                            'answer is a valid ACK/NACK but not in the UBC shape '
                            '{"message":{"ack":{"status":...}}}')]
        return []


def _plain_envelope(doc: Any) -> bool:
    """The common case decided without the envelope validator: dict context and message, and
    no error object or an empty one (validate is hot; the validator handles the rest)."""
    return (
        type(doc) is dict
        and type(doc.get("context")) is dict
        and type(doc.get("message")) is dict
        and doc.get("error", {}) == {}
    )


def _message_errors(validator: Any, message: dict[str, Any]) -> Iterable[Finding]:
    for error in validator.iter_errors(message):
        yield _message_finding(error, ["message"])


def _message_finding(error: Any, prefix: list[Any]) -> Finding:
    path = [*prefix, *error.instance_path]
    kind = _kind(error)
    if kind == "Required":
        field = error.kind.property
        where = pointer(path) or "/"
        return Finding("UBC-SCH-004", f"{where}: required field {field!r} is missing",
                       path=pointer([*path, field]), expected=field)
    if kind in ("AnyOf", "OneOfNotValid"):
        branches = [list(b) for b in (getattr(error.kind, "context", None) or []) if b]
        if branches and all(
            len(b) == 1 and _kind(b[0]) == "Required" and not list(b[0].instance_path)
            for b in branches
        ):
            options = [b[0].kind.property for b in branches]
            return Finding("UBC-SCH-004",
                           f"{pointer(path) or '/'}: needs one of {', '.join(options)}",
                           path=pointer(path), expected=options)
        if branches:
            # Explain by the alternative that came closest: its first error, by its own rule.
            # A type mismatch at the alternative's own root means that form does not apply.
            closest = min(branches, key=lambda b: (
                _kind(b[0]) == "Type" and list(b[0].instance_path) == list(error.instance_path),
                len(b)))[0]
            inner = _message_finding(closest, prefix)
            inner.message = f"{inner.message} (closest of {len(branches)} allowed forms)"
            return inner
    if kind == "AdditionalProperties":  # only the objects core closes are closed here
        names = list(error.kind.unexpected)
        listed = ", ".join(repr(n) for n in names)
        return Finding("UBC-SCH-105", f"{pointer(path) or '/'}: {listed} "
                       f"{'is no property' if len(names) == 1 else 'are no properties'} core "
                       "defines for this object, and core closes it",
                       path=pointer([*path, names[0]]), actual=names)
    rule = _MESSAGE_KIND_RULES.get(kind, "UBC-SCH-008")
    return Finding(rule, f"{pointer(path)}: {error.message}", path=pointer(path),
                   actual=_short(error.instance))


def _short(value: Any, limit: int = 120) -> Any:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return value if len(text) <= limit else text[:limit] + "…"


@lru_cache(maxsize=4)
def load(profile: str = DEFAULT_PROFILE) -> SchemaSet:
    """The compiled schema set of a profile, built once per process."""
    return SchemaSet(profile)
