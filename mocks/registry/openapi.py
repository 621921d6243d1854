"""The request bodies of schemas/openapi/registry.yaml, compiled once, as the judge of what the
registry accepts: what the document declares is what the code enforces, by construction.

`RequestBodies.check(operation_id, body)` validates a body against the request-body schema of
that operation (JSON Schema 2020-12, the dialect of OpenAPI 3.1, with the document's
`#/components/...` references resolved) and refuses the first fault with InvalidField naming
the field at fault and saying what is wrong, or with InvalidBody when the body is not an object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness.paths import SCHEMAS_DIR
from mocks.registry.errors import InvalidBody, InvalidField

DOCUMENT = SCHEMAS_DIR / "openapi" / "registry.yaml"
_URI = "urn:ubc-conformance:openapi:registry.yaml"
_SHOWN = 80  # characters of a refused value quoted in a message
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml reads it ten times faster


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` with ECMA-262 semantics for `$`: the end of the text. Python's `$` also
    matches before a final newline, which would let "id\\n" through `^[^\\x00-\\x20]+$`."""
    translated: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            translated.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        translated.append(char)
        index += 1
    return re.compile("".join(translated))


def _pattern(
    validator: Any, pattern: str, instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with the one keyword whose Python reading differs from ECMA-262's.
_Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


class RequestBodies:
    """The request-body schema of every operation of an OpenAPI document, by operationId."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        registry: Registry[Any] = Registry().with_resource(_URI, resource)
        self._resolver = registry.resolver(_URI)
        self._validators: dict[str, Any] = {}
        for path, item in document.get("paths", {}).items():
            for method, operation in item.items():
                if not isinstance(operation, dict) or "requestBody" not in operation:
                    continue
                pointer = "/".join(_escape(part) for part in (
                    "paths", path, method, "requestBody", "content", "application/json",
                    "schema"))
                self._validators[operation["operationId"]] = _Validator(
                    {"$ref": f"{_URI}#/{pointer}"}, registry=registry)

    def _accepted(self, schema: Mapping[str, Any]) -> list[str]:
        """The properties an object schema accepts: not those it names only to refuse."""
        accepted = []
        for name, property_schema in schema.get("properties", {}).items():
            if isinstance(property_schema, dict) and "$ref" in property_schema:
                property_schema = self._resolver.lookup(property_schema["$ref"]).contents
            if not (isinstance(property_schema, dict) and "not" in property_schema):
                accepted.append(name)
        return accepted

    @classmethod
    def load(cls, path: Path = DOCUMENT) -> RequestBodies:
        with path.open(encoding="utf-8") as text:
            return cls(yaml.load(text, Loader=_LOADER))

    @property
    def operations(self) -> frozenset[str]:
        """The operationIds that take a JSON body."""
        return frozenset(self._validators)

    def check(self, operation_id: str, body: object) -> None:
        """Raise InvalidField (or InvalidBody) unless `body` is valid for `operation_id`."""
        errors = list(self._validators[operation_id].iter_errors(body))
        if not errors:
            return
        first = min(errors, key=lambda error: _precedence(error, body))
        field, problem = _fault(first, self._accepted)
        if field is None:
            raise InvalidBody(f"the body {problem}")
        raise InvalidField(field, problem)


@cache
def request_bodies(path: Path = DOCUMENT) -> RequestBodies:
    """The compiled request bodies of the registry's document, read once per process."""
    return RequestBodies.load(path)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _precedence(error: ValidationError, body: object) -> tuple[int, int]:
    """Unknown fields first, then missing ones, then bad values in the order of the body."""
    rank = {"additionalProperties": 0, "required": 1}.get(str(error.validator), 2)
    names = list(body) if isinstance(body, dict) else []
    top = error.absolute_path[0] if error.absolute_path else None
    return rank, names.index(top) if top in names else -1


def _fault(
    error: ValidationError, accepted: Callable[[Mapping[str, Any]], list[str]]
) -> tuple[str | None, str]:
    """The field at fault (None: the body itself) and what is wrong with it."""
    error, alternatives = _cause(error)
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return _field([*path, missing[0]]), "is required"
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        unknown = [name for name in instance if name not in known]
        fields = ", ".join(accepted(error.schema))
        return _field([*path, unknown[0]]), f"unknown field; accepted: {fields}"
    if alternatives:
        problem = f"must be {_types(alternatives)}, got {_json_type(instance)}"
    elif error.validator == "type":
        problem = f"must be {_types([error.validator_value])}, got {_json_type(instance)}"
    elif error.validator == "enum":
        choices = ", ".join(str(choice) for choice in error.validator_value)
        problem = f"is {_shown(instance)}; expected one of {choices}"
    elif error.validator == "minLength":
        limit = error.validator_value
        problem = "must not be empty" if limit == 1 else f"is shorter than {limit} characters"
    elif error.validator == "maxLength":
        problem = f"is longer than {error.validator_value} characters"
    elif error.validator == "not" and error.schema.get("description"):
        problem = error.schema["description"]
    elif error.validator == "pattern":
        description = error.schema.get("description")
        expected = description.rstrip(".") if description else f"matching {error.validator_value}"
        problem = f"is {_shown(instance)}; expected {expected}"
    else:
        problem = error.message
    return (_field(path) if path else None), problem


def _cause(error: ValidationError) -> tuple[ValidationError, list[object]]:
    """The error that says what is wrong. Inside oneOf/anyOf it is the fault within the branch
    whose type the value has; when the value has the type of no branch, the error itself with
    the types the branches accept."""
    while error.context:
        within = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
        if not within:
            return error, [e.validator_value for e in error.context]
        error = min(within, key=lambda e: -len(e.absolute_path))
    return error, []


def _field(path: Sequence[object]) -> str:
    """`network_memberships[1]` for the path ["network_memberships", 1]."""
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field


_NAMES = {"object": "a JSON object", "array": "an array", "integer": "an integer", "null": "null"}


def _types(accepted: Sequence[object]) -> str:
    """'a string or null' for the types ["string", "null"] (or [["string"], "null"])."""
    names: list[str] = []
    for item in accepted:
        for name in item if isinstance(item, list) else [item]:
            if str(name) not in names:
                names.append(str(name))
    return " or ".join(_NAMES.get(name, f"a {name}") for name in names)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string" if isinstance(value, str) else type(value).__name__
