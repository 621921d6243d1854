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

from harness.beckn import signing
from harness.checks.message import Message, Pipeline, capture_record_invalid, parse_body, too_large
from harness.checks.registry import judge_message
from harness.findings import Finding
from harness.schemas import SchemaSet

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
        self.keys = keys
        self.pipeline = Pipeline(schemas, self._lookup if keys is not None else None,
                                 now=now, skew=skew)

    def _lookup(self, subscriber_id: str, key_id: str) -> Any:
        return self.keys.get(f"{subscriber_id}|{key_id}") if self.keys is not None else None

    def check(self, item: Item) -> Result:
        result = Result(item.source)
        if item.problem is not None:
            result.findings.append(item.problem)
            return result
        assert item.body is not None
        message = Message(item.body, item.headers)
        result.findings = judge_message(self.pipeline, message)
        context = message.context
        if context is not None:
            action, message_id = context.get("action"), context.get("message_id")
            result.action = action if isinstance(action, str) else None
            result.message_id = message_id if isinstance(message_id, str) else None
        return result


def _ndjson_items(path: Path, display: str) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            yield capture_item(f"{display}:{number}", line)


def capture_item(source: str, line: bytes,
                 parsed: tuple[Any, Finding | None] | None = None) -> Item:
    """An NDJSON line: a bare message, or {"headers": {...}, "body": "<raw JSON string>"};
    `parsed`: what parse_body made of the line already, so a reader parses it once."""
    doc, problem = parsed if parsed is not None else parse_body(line)
    if problem is not None:
        return Item(source, None, problem=problem)
    if isinstance(doc, dict) and "body" in doc and "context" not in doc:
        body, headers = doc.get("body"), doc.get("headers", {})
        if not isinstance(body, str):
            return Item(source, None, problem=capture_record_invalid("body"))
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            return Item(source, None, problem=capture_record_invalid("headers"))
        return Item(source, body.encode("utf-8"), headers)
    return Item(source, line)


def _file_item(path: Path, display: str) -> Item:
    try:
        problem = too_large(path.stat().st_size, "file")
        if problem is not None:
            return Item(display, None, problem=problem)
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
