"""Offline validation of captured messages: JSON files, folders, and NDJSON captures.

Every input becomes one result per message, in input order; a candidate's garbage becomes a
finding, and only a problem with the harness's own input (a path that does not exist, an
unreadable file) becomes an InputError, which the CLI reports as exit 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.beckn import signing
from harness.checks.consistency import order_value_adds_up
from harness.checks.schema import profile_findings
from harness.checks.signature import signature_findings
from harness.findings import Finding
from harness.schemas import SchemaSet

MAX_MESSAGE_BYTES = 1024 * 1024  # the mocks refuse larger bodies with 413 too
NDJSON_SUFFIXES = (".ndjson", ".jsonl")


class InputError(Exception):
    """A problem with the harness's input, not with a message: the CLI exits 2."""


@dataclass
class Result:
    source: str
    action: str | None = None
    message_id: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "action": self.action,
            "message_id": self.message_id,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class Item:
    """One message to validate: its raw bytes and, from a capture, its HTTP headers."""

    source: str
    body: bytes | None
    headers: Mapping[str, str] | None = None
    problem: Finding | None = None  # set when the input could not even yield a body


def load_keys(path: str) -> dict[str, str]:
    """A JSON map `"subscriber_id|key_id": "base64 public key"`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read keys file: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: keys file is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f'{path}: keys file must be a JSON object {{"subscriber|key_id": "key"}}')
    for name, key in data.items():
        if name.count("|") != 1 or not isinstance(key, str):
            raise InputError(
                f"{path}: entry {name!r} must be \"subscriber_id|key_id\": \"<base64 public key>\""
            )
        try:
            signing.load_public_key(key)
        except signing.InvalidKey as exc:
            raise InputError(f"{path}: entry {name!r}: {exc}") from None
    return data


class Validator:
    """Validates items against one profile's schemas and, given keys, their signatures."""

    def __init__(
        self,
        schemas: SchemaSet,
        keys: Mapping[str, str] | None = None,
        *,
        now: float | None = None,
        skew: float = signing.DEFAULT_SKEW_S,
    ) -> None:
        self.schemas = schemas
        self.keys = keys
        self.now = now
        self.skew = skew

    def _lookup(self, subscriber_id: str, key_id: str) -> Any:
        key = self.keys.get(f"{subscriber_id}|{key_id}") if self.keys is not None else None
        return key

    def check(self, item: Item) -> Result:
        result = Result(item.source)
        if item.problem is not None:
            result.findings.append(item.problem)
            return result
        assert item.body is not None
        doc, problem = parse_body(item.body)
        if problem is not None:
            result.findings.append(problem)
            return result
        context = doc.get("context") if isinstance(doc, dict) else None
        if isinstance(context, dict):
            action, message_id = context.get("action"), context.get("message_id")
            result.action = action if isinstance(action, str) else None
            result.message_id = message_id if isinstance(message_id, str) else None
        result.findings.extend(self.schemas.validate(doc))
        if isinstance(context, dict) and isinstance(doc.get("message"), dict):
            result.findings.extend(profile_findings(doc))
            result.findings.extend(order_value_adds_up(doc, result.action or "message", []))
        if item.headers is not None and self.keys is not None:
            result.findings.extend(
                signature_findings(
                    item.body, item.headers, self._lookup,
                    context if isinstance(context, dict) else None,
                    now=self.now, skew=self.skew,
                )
            )
        return result


def parse_body(body: bytes) -> tuple[Any, Finding | None]:
    """Parse raw bytes as UTF-8 JSON, or explain precisely why not (UBC-SCH-001/012)."""
    if len(body) > MAX_MESSAGE_BYTES:
        return None, Finding("UBC-SCH-012", f"body is {len(body):,} bytes; the limit is "
                             f"{MAX_MESSAGE_BYTES:,}", actual=len(body),
                             expected=f"<= {MAX_MESSAGE_BYTES}")
    try:
        return orjson.loads(body), None  # the hot path: strict, UTF-8-checking and fast
    except orjson.JSONDecodeError:
        pass  # explain precisely below, or accept what only the stdlib parser takes
    if not body.strip():
        return None, Finding("UBC-SCH-001", "body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Finding("UBC-SCH-001", f"body is not UTF-8: byte 0x{body[exc.start]:02x} "
                             f"at offset {exc.start}")
    try:
        # Integers beyond 64 bits and lone surrogates are JSON; NaN and Infinity are not.
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, Finding("UBC-SCH-001", f"body is not JSON: {exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}")
    except ValueError as exc:
        return None, Finding("UBC-SCH-001", f"body is not JSON: {exc}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _ndjson_items(path: Path, display: str) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield _capture_item(f"{display}:{number}", line)


def _capture_item(source: str, line: bytes) -> Item:
    """An NDJSON line: a bare message, or {"headers": {...}, "body": "<raw JSON string>"}."""
    doc, problem = parse_body(line)
    if problem is not None:
        return Item(source, None, problem=problem)
    if isinstance(doc, dict) and "body" in doc and "context" not in doc:
        body, headers = doc.get("body"), doc.get("headers", {})
        if not isinstance(body, str):
            return Item(source, None, problem=Finding(
                "UBC-SCH-001", 'capture record: "body" must be the raw JSON body as a string',
                path="/body"))
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            return Item(source, None, problem=Finding(
                "UBC-SCH-001", 'capture record: "headers" must map names to strings',
                path="/headers"))
        return Item(source, body.encode("utf-8"), headers)
    return Item(source, line)


def _file_item(path: Path, display: str) -> Item:
    try:
        size = path.stat().st_size
        if size > MAX_MESSAGE_BYTES:
            return Item(display, None, problem=Finding(
                "UBC-SCH-012", f"file is {size:,} bytes; a message may be at most "
                f"{MAX_MESSAGE_BYTES:,} (for a capture of many messages use .ndjson)",
                actual=size, expected=f"<= {MAX_MESSAGE_BYTES}"))
        return Item(display, path.read_bytes())
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None


def iter_items(paths: list[str]) -> Iterator[Item]:
    """Every message named by `paths`, in order: files, folders (recursive *.json), NDJSON."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and (p.suffix == ".json" or p.suffix in NDJSON_SUFFIXES)
            )
            if not files:
                raise InputError(f"{name}: folder holds no *.json or *.ndjson files")
            for file in files:
                yield from _path_items(file, str(file))
        elif path.exists():
            yield from _path_items(path, name)
        else:
            raise InputError(f"{name}: no such file or folder")


def _path_items(path: Path, display: str) -> Iterator[Item]:
    if path.suffix in NDJSON_SUFFIXES:
        yield from _ndjson_items(path, display)
    elif not os.access(path, os.R_OK):
        raise InputError(f"{display}: cannot read: permission denied")
    else:
        yield _file_item(path, display)
