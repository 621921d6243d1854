"""The JSONPath subset UBC discover uses, compiled once into plain Python predicates.

A discover's `filters.expression` is a filter over the list of catalog items (RFC 9535
filter-selector syntax, as the official 01_discover examples write it):

    $[?(@.beckn:itemAttributes.connectorType == 'CCS2' && @.beckn:itemAttributes.maxPowerKW >= 50)]

Supported:
- paths from the current item `@`: `.name` (names may contain `:` and `-`, as in
  `@.beckn:provider.beckn:id`), `['name']`, `[0]` / `[-1]`, `[*]` / `.*`, and nested filters
  `[?(...)]` that keep the array elements (or object members) matching them;
- literals: single- or double-quoted strings (JSON escapes), numbers, `true`, `false`, `null`;
- comparisons `==  !=  <  <=  >  >=`, logical `&&  ||  !` and parentheses;
- a bare path is an existence test: `@.beckn:availabilityWindow[?(@.schema:endTime >= '...')]`
  is true when at least one window matches.

Semantics, chosen so that a filter never raises on any item:
- a comparison is false when either side selects nothing (a missing path), whatever the
  operator, `!=` included; when a side selects several nodes it is true if any pair compares;
- `<`, `>` compare numbers with numbers and strings with strings (code-point order, so ISO 8601
  timestamps of the same format compare chronologically); other pairs are not ordered;
- `==` is deep JSON equality; `true` never equals `1`.

`compile_query` reads the spatial `targets` pointers (`$['beckn:availableAt'][*]['geo']`); with
`dotted_keys`, a bracketed key absent from an object is read as a dotted path, because the UBC
examples write `$['beckn:itemAttributes.chargingStation.serviceLocation.geo']`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, NoReturn

Query = Callable[[Any], list[Any]]  # a node -> the nodes a path selects from it
Predicate = Callable[[Any], bool]

MAX_NESTING = 64  # parentheses, negations and nested filters; deeper input is refused
_NAME_CHAR = re.compile(r"[A-Za-z0-9_:\-]|[^\x00-\x7f]")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INDEX = re.compile(r"-?[0-9]+")
_COMPARATORS = ("==", "!=", "<=", ">=", "<", ">")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
            "r": "\r", "t": "\t"}  # fmt: skip
_MISSING = object()


class FilterSyntaxError(ValueError):
    """A filter or query the evaluator cannot read: where, and what it expected there."""

    def __init__(self, expression: str, position: int, expected: str) -> None:
        self.expression = expression
        self.position = position
        self.expected = expected
        if position >= len(expression):
            found = "the end of the expression"
        else:
            found = repr(expression[position:position + 16])
        super().__init__(f"at position {position}: expected {expected}, found {found}")


# --- evaluation -----------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, booleans apart from numbers, containers deeply."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _less(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a < b)
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return False


def _compare_values(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op == "<":
        return _less(a, b)
    if op == ">":
        return _less(b, a)
    if op == "<=":
        return _less(a, b) or _equal(a, b)
    return _less(b, a) or _equal(a, b)  # ">="


def _comparison(op: str, left: Query, right: Query) -> Predicate:
    def compare(node: Any) -> bool:
        lefts = left(node)
        if not lefts:
            return False
        rights = right(node)
        try:
            return any(_compare_values(op, a, b) for a in lefts for b in rights)
        except RecursionError:  # two absurdly deep documents compared with each other
            return False
    return compare


def _literal(value: Any) -> Query:
    nodes = [value]
    return lambda node: nodes


def _children(node: Any) -> Iterable[Any]:
    if isinstance(node, dict):
        return node.values()
    if isinstance(node, list):
        return node
    return ()


def _member(name: str, dotted: bool) -> Callable[[Any], list[Any]]:
    parts = name.split(".") if dotted and "." in name else None

    def select(node: Any) -> list[Any]:
        if not isinstance(node, dict):
            return []
        value = node.get(name, _MISSING)
        if value is not _MISSING:
            return [value]
        if parts is None:
            return []
        for part in parts:  # the UBC examples' `$['a.b.c']` meaning `$.a.b.c`
            if not isinstance(node, dict) or part not in node:
                return []
            node = node[part]
        return [node]
    return select


def _index(position: int) -> Callable[[Any], list[Any]]:
    def select(node: Any) -> list[Any]:
        if isinstance(node, list) and -len(node) <= position < len(node):
            return [node[position]]
        return []
    return select


def _wildcard(node: Any) -> list[Any]:
    return list(_children(node))


def _filtered(predicate: Predicate) -> Callable[[Any], list[Any]]:
    return lambda node: [child for child in _children(node) if predicate(child)]


def _path(segments: list[Callable[[Any], list[Any]]]) -> Query:
    def query(node: Any) -> list[Any]:
        nodes = [node]
        for segment in segments:
            nodes = [child for current in nodes for child in segment(current)]
            if not nodes:
                break
        return nodes
    return query


# --- parsing --------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the expression text; every method leaves `pos` after what it
    read, and errors carry the position where reading stopped."""

    def __init__(self, text: str, *, dotted_keys: bool = False) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.dotted_keys = dotted_keys

    # low level

    def fail(self, expected: str, position: int | None = None) -> NoReturn:
        raise FilterSyntaxError(self.text, self.pos if position is None else position, expected)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def at(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        self.skip_space()
        if self.at(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str, what: str | None = None) -> None:
        if not self.take(token):
            self.fail(what or repr(token))

    def end(self) -> None:
        self.skip_space()
        if self.pos != len(self.text):
            self.fail("the end of the expression")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail(f"at most {MAX_NESTING} levels of nesting")

    # grammar

    def top_filter(self) -> Predicate:
        """`$[?<logical expression>]`, the whole expression."""
        self.expect("$", "'$' (a filter is written $[?(...)])")
        self.expect("[", "'[' after '$'")
        self.expect("?", "'?' (a filter selector [?(...)])")
        predicate = self.logical()
        self.expect("]", "']' closing the filter selector, or '&&' / '||'")
        self.end()
        return predicate

    def logical(self) -> Predicate:
        terms = [self.conjunction()]
        while self.take("||"):
            terms.append(self.conjunction())
        if len(terms) == 1:
            return terms[0]
        return lambda node: any(term(node) for term in terms)

    def conjunction(self) -> Predicate:
        terms = [self.unary()]
        while self.take("&&"):
            terms.append(self.unary())
        if len(terms) == 1:
            return terms[0]
        return lambda node: all(term(node) for term in terms)

    def unary(self) -> Predicate:
        self.skip_space()
        if self.at("!") and not self.at("!="):
            self.pos += 1
            self.nest()
            inner = self.unary()
            self.depth -= 1
            return lambda node: not inner(node)
        return self.primary()

    def primary(self) -> Predicate:
        self.skip_space()
        if self.at("("):
            self.pos += 1
            self.nest()
            inner = self.logical()
            self.expect(")", "')' or '&&' / '||'")
            self.depth -= 1
            return inner
        left, is_path = self.comparable()
        self.skip_space()
        op = next((c for c in _COMPARATORS if self.at(c)), None)
        if op is None:
            if self.at("="):
                self.fail("'==' (equality is written with two '=')")
            if not is_path:
                self.fail("a comparison operator (==, !=, <, <=, >, >=) after a literal")
            return lambda node: bool(left(node))  # existence test
        self.pos += len(op)
        right, _ = self.comparable()
        return _comparison(op, left, right)

    def comparable(self) -> tuple[Query, bool]:
        """A relative path or a literal; the flag says which."""
        self.skip_space()
        if self.at("@"):
            self.pos += 1
            return self.segments(), True
        if self.at("$"):
            self.fail("'@' (paths inside a filter start at the current item)")
        return _literal(self.literal()), False

    def literal(self) -> Any:
        self.skip_space()
        if self.at("'") or self.at('"'):
            return self.string()
        match = _NUMBER.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            text = match.group()
            return float(text) if any(c in text for c in ".eE") else int(text)
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.at(word) and not self.name_char_at(self.pos + len(word)):
                self.pos += len(word)
                return value
        self.fail("a path starting with '@', a quoted string, a number, true, false or null")

    def name_char_at(self, position: int) -> bool:
        return position < len(self.text) and bool(_NAME_CHAR.match(self.text, position))

    def string(self) -> str:
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                chars.append(self.escape())
                continue
            chars.append(char)
            self.pos += 1
        self.fail(f"{quote} closing the string opened at position {start}")

    def escape(self) -> str:
        code = self.text[self.pos + 1:self.pos + 2]
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        if code == "u":
            digits = self.text[self.pos + 2:self.pos + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                self.pos += 6
                return chr(int(digits, 16))
        self.fail("an escape: \\' \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX")

    def segments(self) -> Query:
        """Child segments after a root `@` or `$`, up to the first thing that is not one."""
        segments: list[Callable[[Any], list[Any]]] = []
        while True:
            if self.at(".."):
                self.fail("a member name after '.' (descendant segments '..' are not supported)")
            if self.at("."):
                self.pos += 1
                if self.at("*"):
                    self.pos += 1
                    segments.append(_wildcard)
                    continue
                segments.append(_member(self.name(), dotted=False))
                continue
            if self.at("["):
                self.pos += 1
                segments.append(self.bracket())
                continue
            return _path(segments)

    def name(self) -> str:
        start = self.pos
        while self.name_char_at(self.pos):
            self.pos += 1
        if self.pos == start:
            self.fail("a member name (letters, digits, '_', ':' or '-') or '*'")
        return self.text[start:self.pos]

    def bracket(self) -> Callable[[Any], list[Any]]:
        """After `[`: `'name'`, `*`, an index, or a nested filter `?...`, then `]`."""
        self.skip_space()
        if self.at("'") or self.at('"'):
            segment = _member(self.string(), dotted=self.dotted_keys)
        elif self.at("*"):
            self.pos += 1
            segment = _wildcard
        elif self.at("?"):
            self.pos += 1
            self.nest()
            segment = _filtered(self.logical())
            self.depth -= 1
        else:
            match = _INDEX.match(self.text, self.pos)
            if not match:
                self.fail("a quoted name, '*', an index or a filter '?(...)' inside '[...]'")
            self.pos = match.end()
            segment = _index(int(match.group()))
        self.expect("]", "']'")
        return segment


@lru_cache(maxsize=256)
def compile_filter(expression: str) -> Predicate:
    """A predicate over one catalog item for a `$[?(...)]` filter; raises FilterSyntaxError.

    The compiled predicate never raises, whatever JSON it is given."""
    return _Parser(expression).top_filter()


def select(expression: str, items: Iterable[Any]) -> list[Any]:
    """The items a `$[?(...)]` filter keeps, in order."""
    matches = compile_filter(expression)
    return [item for item in items if matches(item)]


@lru_cache(maxsize=256)
def compile_query(pointer: str, *, dotted_keys: bool = False) -> Query:
    """The nodes a `$...` path selects from a document, e.g. `$['beckn:availableAt'][*]['geo']`;
    raises FilterSyntaxError. With `dotted_keys`, `$['a.b']` falls back to `$.a.b`."""
    parser = _Parser(pointer, dotted_keys=dotted_keys)
    parser.expect("$", "'$' starting the path")
    query = parser.segments()
    parser.end()
    return query


def to_literal(value: Any) -> str:
    """A literal as a filter would write it (for building expressions in tests and tools)."""
    if isinstance(value, str):
        return "'" + json.dumps(value, ensure_ascii=False)[1:-1].replace("'", "\\'") + "'"
    return json.dumps(value)
