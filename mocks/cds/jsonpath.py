"""Discover's JSONPath: RFC 9535 through `python-jsonpath`, plus the spellings UBC adds.

Beckn core's beckn.yaml says a discover's `filters.expression` is RFC 9535 JSONPath. We read
it with python-jsonpath in its strict (RFC 9535) mode, so operators, literals, escapes,
functions (`length`, `count`, `match`, `search`, `value`) and comparison semantics are the
RFC's. A filter is a filter selector over the list of one catalog's items, as the official
01_discover examples write it:

    $[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 50)]

It keeps the items it selects; `$` inside it is that item list.

Extensions beyond RFC 9535, each because UBC's own documents need it:
- Member names with `:` in dot shorthand (`@.beckn:itemAttributes.connectorType`,
  `@.schema:startTime`). RFC 9535 allows only letters, digits, `_` and non-ASCII there, so
  strictly one must write `@['beckn:itemAttributes']`; but every official UBC discover
  example, and the harness's own filters (harness/bpp_story.py), use the dot form for Beckn's
  prefixed names. Our lexer's name pattern is the library's with `:` added (the library's
  already admits `-`, as the hand-written reader this replaced did).
- Dotted keys in spatial targets (`compile_query(..., dotted_keys=True)`): a bracketed name
  absent from an object is read as a dotted path, because the examples' `targets` write
  `$['beckn:itemAttributes.chargingStation.serviceLocation.geo']` for what RFC 9535 spells
  `$['beckn:itemAttributes']['chargingStation']['serviceLocation']['geo']`.
`&&`, `||` and `!` need nothing: they are RFC 9535's own spellings.

Corrections, where the library strays from RFC 9535 §2.3.5.2.2 (`_Environment.compare`):
booleans are not ordered (Python says false < true), and arrays and objects are equal only as
JSON values (Python says [1] == [true]).

Limits, so that what a BAP sends never takes the CDS down:
- at most MAX_NESTING levels of parentheses, brackets and negations (checked before parsing);
- a filter is `$[?...]`, one bracketed filter selector (or several, comma-separated): a
  discover selects items, and any other query is refused with what to write instead;
- evaluation never raises: an item on which the library gives up (a descendant segment deeper
  than its recursion bound) is not selected.
Every refusal is a FilterSyntaxError naming the position and the problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from jsonpath import UNDEFINED, JSONPath, JSONPathEnvironment, JSONPathError, Lexer, NodeList
from jsonpath.segments import JSONPathChildSegment
from jsonpath.selectors import Filter as FilterSelector

Query = Callable[[Any], list[Any]]  # a node -> the nodes a path selects from it

MAX_NESTING = 64
_TOKEN_NAME = re.compile(r"'?TOKEN_([A-Z_]+)'?")
_AT_INDEX = re.compile(r" at index -?[0-9]+")
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_TOKEN_TEXT = {"ROOT": "'$'", "SELF": "'@'", "EOF": "the end of the expression",
               "LPAREN": "'('", "RPAREN": "')'", "LBRACKET": "'['", "RBRACKET": "']'",
               "COMMA": "','", "EQ": "'=='", "NE": "'!='", "LT": "'<'", "LE": "'<='",
               "GT": "'>'", "GE": "'>='", "DOT": "'.'", "FILTER": "'?'", "NOT": "'!'"}


class FilterSyntaxError(ValueError):
    """A filter or query we cannot read: where, and what is wrong there."""

    def __init__(self, expression: str, position: int, problem: str) -> None:
        self.expression = expression
        self.position = position
        self.problem = problem
        super().__init__(f"at position {position}: {problem}")


class _BecknLexer(Lexer):
    """RFC 9535's shorthand names, plus `:` (see the module docstring)."""

    key_pattern = r"[\u0080-\uFFFFa-zA-Z_][\u0080-\uFFFFa-zA-Z0-9_:-]*"


def _json_equal(a: Any, b: Any) -> bool:
    """RFC 9535 equality of two values: booleans apart from numbers, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _value(operand: object) -> bool:
    """A JSON value, not the library's empty node list or Nothing."""
    return not isinstance(operand, NodeList) and operand is not UNDEFINED


class _Environment(JSONPathEnvironment):
    lexer_class = _BecknLexer

    def compare(self, left: object, operator: str, right: object) -> bool:
        """The library's comparison, with the corrections of the module docstring."""
        if operator in _COMPARISONS and _value(left) and _value(right) and (
                isinstance(left, bool | list | dict) or isinstance(right, bool | list | dict)):
            if operator in ("<", ">"):
                return False  # only numbers and strings are ordered
            equal = _json_equal(left, right)
            return not equal if operator == "!=" else equal  # <= and >= reduce to ==
        return bool(super().compare(left, operator, right))


class _DottedKeysEnvironment(_Environment):
    """Reads an absent key `a.b.c` as the path a -> b -> c (spatial targets only)."""

    def getitem(self, obj: Any, key: Any) -> Any:
        try:
            return obj[key]
        except KeyError:
            if not isinstance(key, str) or "." not in key:
                raise
        node = obj
        for part in key.split("."):
            if not isinstance(node, Mapping):
                raise KeyError(key)
            node = node[part]  # KeyError when the dotted path is not there either
        return node


_RFC9535 = _Environment(strict=True)
_DOTTED_KEYS = _DottedKeysEnvironment(strict=True)


def _readable(message: object) -> str:
    """The library's message with its token names said as a reader would."""
    text = _TOKEN_NAME.sub(lambda m: _TOKEN_TEXT.get(m.group(1), m.group(1).lower()),
                           str(message))
    return _AT_INDEX.sub("", text)  # we give the position ourselves


def _check_nesting(text: str) -> None:
    """Refuse deeper nesting than MAX_NESTING before the recursive parser meets it."""
    open_groups = 0
    negations = 0  # a run of `!` nests like parentheses do
    position = 0
    while position < len(text):
        char = text[position]
        if char in "'\"":  # a string literal: skip to its closing quote
            position += 1
            while position < len(text) and text[position] != char:
                position += 2 if text[position] == "\\" else 1
        elif char in "([":
            open_groups += 1
            negations = 0
        elif char in ")]":
            open_groups -= 1
        elif char == "!" and not text.startswith("!=", position):
            negations += 1
        elif not char.isspace():
            negations = 0
        if open_groups + negations > MAX_NESTING:
            raise FilterSyntaxError(text, position,
                                    f"at most {MAX_NESTING} levels of nesting are read")
        position += 1


def _compile(environment: JSONPathEnvironment, text: str) -> JSONPath:
    _check_nesting(text)
    try:
        path = environment.compile(text)
    except JSONPathError as exc:  # RecursionError too: the library's is a JSONPathError
        index = exc.token.index if exc.token is not None else -1
        raise FilterSyntaxError(text, index if index >= 0 else len(text),
                                _readable(exc.message)) from None
    if not isinstance(path, JSONPath):  # unions and intersections are not RFC 9535
        raise FilterSyntaxError(text, 0, "one query is expected")
    return path


class Filter:
    """A compiled discover filter; `select` keeps items in order, calling it tests one item."""

    def __init__(self, expression: str) -> None:
        path = _compile(_RFC9535, expression)
        segments = path.segments
        if len(segments) != 1 or not isinstance(segments[0], JSONPathChildSegment) or \
                not all(isinstance(s, FilterSelector) for s in segments[0].selectors):
            position = segments[0].token.index if segments else len(expression)
            raise FilterSyntaxError(expression, position,
                                    "a discover filter selects items: write it as $[?(...)]")
        self.expression = expression
        self._path = path

    def _chosen(self, items: list[Any]) -> set[int] | None:
        """Identities of the items selected; None when the library gave up."""
        try:
            return {id(node) for node in self._path.findall(items)}
        except (JSONPathError, RecursionError):
            return None

    def select(self, items: Iterable[Any]) -> list[Any]:
        listed = list(items)
        chosen = self._chosen(listed)
        if chosen is None:  # judge each item alone, so one pathological item costs only itself
            return [item for item in listed if self._chosen([item])]
        return [item for item in listed if id(item) in chosen]

    def __call__(self, item: Any) -> bool:
        return bool(self._chosen([item]))


@lru_cache(maxsize=256)
def compile_filter(expression: str) -> Filter:
    """The filter a `$[?...]` expression describes; raises FilterSyntaxError."""
    return Filter(expression)


def select(expression: str, items: Iterable[Any]) -> list[Any]:
    """The items a `$[?...]` filter keeps, in order."""
    return compile_filter(expression).select(items)


@lru_cache(maxsize=256)
def compile_query(pointer: str, *, dotted_keys: bool = False) -> Query:
    """The nodes a `$...` path selects from a document, e.g. `$['beckn:availableAt'][*]['geo']`;
    raises FilterSyntaxError. With `dotted_keys`, `$['a.b']` falls back to `$.a.b`."""
    path = _compile(_DOTTED_KEYS if dotted_keys else _RFC9535, pointer)

    def query(node: Any) -> list[Any]:
        if isinstance(node, str):  # the library would parse a string document as JSON text
            return [] if path.segments else [node]
        try:
            return path.findall(node)
        except (JSONPathError, RecursionError):
            return []
    return query


def to_literal(value: Any) -> str:
    """A literal as a filter would write it (for building expressions in tests and tools)."""
    if isinstance(value, str):  # JSON escapes, but RFC 9535 wants `'` escaped and `"` bare
        body = json.dumps(value, ensure_ascii=False)[1:-1]
        return "'" + body.replace('\\"', '"').replace("'", "\\'") + "'"
    return json.dumps(value)

