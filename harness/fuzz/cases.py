"""The requests of a fuzz run, drawn by schemathesis from the role's OpenAPI document
(harness/fuzz/document.py) with a seed.

Each endpoint gets its share of `max_examples`, half with bodies valid by the document
(schemathesis's positive mode) and half with bodies that break it (negative mode: a wrong type,
a missing field, a value out of its enum ...). Negative mode also sends bytes that are not JSON
at all, and with the few examples of a run, for the larger messages, little else: one such body
per run is kept, and the other negative draws are held to JSON. What schemathesis meant a body
to be is only how it was drawn: whether the body sent is schema-invalid is judged afterwards,
on the exact bytes (harness/checks/malformed.py).

The same seed draws the same requests, in the same order, on any machine and in any process:
Hypothesis's example database is off, and so is its habit of mixing constants found in
whatever local code is loaded into what it draws (which would make the draw depend on the
harness's own source and on what a test runner imported).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODES = ("positive", "negative")  # schemathesis's generation modes, in the order drawn
HOW_CHARS = 160  # of schemathesis's description of a case, which may quote a whole body


class DrawError(Exception):
    """schemathesis is not installed, or could not read the document: the run cannot go on."""


@dataclass(frozen=True)
class Drawn:
    """One generated request, as schemathesis drew it."""

    action: str
    mode: str  # "positive": meant valid by the document; "negative": meant to break it
    body: Any  # a JSON value, or bytes for a body that is not JSON at all
    how: str  # schemathesis's word for how the case was made ("Invalid syntax: random bytes")

    def as_record(self) -> dict[str, Any]:
        body = self.body.hex() if isinstance(self.body, bytes) else self.body
        return {"action": self.action, "mode": self.mode, "how": self.how,
                "body" if not isinstance(self.body, bytes) else "body_hex": body}


def shares(actions: Sequence[str], max_examples: int) -> list[tuple[str, str, int]]:
    """How many requests each (action, mode) gets: `max_examples` spread evenly, the first
    slots taking the remainder."""
    slots = [(action, mode) for action in actions for mode in MODES]
    each, extra = divmod(max_examples, len(slots))
    return [(action, mode, each + (index < extra)) for index, (action, mode) in enumerate(slots)
            if each + (index < extra)]


def digest(drawn: Sequence[Drawn]) -> str:
    """Names a draw: the same requests, the same digest."""
    text = json.dumps([d.as_record() for d in drawn], sort_keys=True, ensure_ascii=True,
                      default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def draw(document: dict[str, Any], actions: Sequence[str], max_examples: int,
         seed: int, storage: Path | None = None) -> list[Drawn]:
    """Up to `max_examples` requests for `actions` of `document`, in the order to send them
    (Hypothesis may draw fewer when it finds no new body). Hypothesis keeps its caches in
    `storage` (default: .hypothesis/ in the working directory)."""
    try:
        import schemathesis
        from schemathesis.config import SchemathesisConfig
        from schemathesis.core.result import Ok
    except ImportError as exc:
        raise DrawError(f"ubc-cert fuzz needs schemathesis ({exc}): pip install "
                        "'ubc-conformance[fuzz]'") from None
    # Explicit, so that no schemathesis.toml of the working directory changes the draw; the
    # harness signs each request itself, so no Authorization is generated.
    config = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})
    try:
        schema = schemathesis.openapi.from_dict(document, config=config)
        operations = {}
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                raise DrawError(f"the OpenAPI document: {result.err()}")
            operation = result.ok()
            operations[operation.path.lstrip("/")] = operation
    except DrawError:
        raise
    except Exception as exc:  # schemathesis refused the document: a harness bug
        raise DrawError(f"schemathesis cannot read the OpenAPI document: "
                        f"{type(exc).__name__}: {exc}") from None
    drawn: list[Drawn] = []
    not_json_drawn = False
    with hypothesis_home(storage), no_local_constants():
        for action, mode, count in shares(actions, max_examples):
            found: list[Any] = []
            if mode == "negative" and not not_json_drawn:
                # Negative mode's first draw: bytes that are not JSON at all, once a run.
                found += seeded_cases(operations[action], mode, 1, seed)
                not_json_drawn = True
            if count > len(found):
                # Then bodies that are JSON and break the schema: left to itself, negative
                # mode mostly sends more bytes, which the first already stands for.
                found += seeded_cases(operations[action], mode, count - len(found), seed,
                                      json_only=mode == "negative")
            drawn += _distinct((Drawn(action, mode, _body(case), _how(case)) for case in found),
                               count)
    return drawn


def _distinct(drawn: Iterable[Drawn], count: int) -> list[Drawn]:
    """Up to `count` different bodies, in the order drawn."""
    unique: dict[str, Drawn] = {}
    for each in drawn:
        unique.setdefault(json.dumps(each.as_record(), sort_keys=True, default=repr), each)
    return list(unique.values())[:count]


def seeded_cases(operation: Any, mode: str, count: int, seed: int, *,
                 json_only: bool = False) -> list[Any]:
    """`count` cases of one operation in one generation mode, from the seeded generator;
    with `json_only`, none whose body is bytes that are not JSON."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded
    from hypothesis.errors import HypothesisException
    from schemathesis import GenerationMode

    found: list[Any] = []
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
    if json_only:
        strategy = strategy.filter(lambda case: not isinstance(case.body, bytes))

    @seeded(seed)
    @settings(max_examples=count, database=None, deadline=None, derandomize=False,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def collect(case: Any) -> None:
        found.append(case)

    # Hypothesis gives up when nothing more can be drawn (unsatisfiable): keep what came.
    with contextlib.suppress(HypothesisException):
        collect()
    return found[:count]


@contextlib.contextmanager
def hypothesis_home(folder: Path | None) -> Iterator[None]:
    """Hypothesis's caches (Unicode tables, constants) in `folder` for the while, not in the
    working directory of whoever runs the harness."""
    if folder is None:
        yield
        return
    from hypothesis import configuration

    previous = getattr(configuration, "__hypothesis_home_directory", None)
    configuration.set_hypothesis_home_dir(folder)
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


@contextlib.contextmanager
def no_local_constants() -> Iterator[None]:
    """Hypothesis now and then draws a constant found in the local code loaded (within a time
    limit): with none, what it draws depends on the seed alone."""
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    original = providers._get_local_constants
    providers.CONSTANTS_CACHE.cache.clear()
    providers._get_local_constants = Constants
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def _body(case: Any) -> Any:
    """The drawn body; a case drawn without one is sent with an empty body."""
    from schemathesis.core import NotSet

    return b"" if isinstance(case.body, NotSet) else case.body


def _how(case: Any) -> str:
    try:
        how = str(case.meta.phase.data.description)
    except AttributeError:  # schemathesis keeps no description for this kind of case
        return ""
    return how if len(how) <= HOW_CHARS else how[:HOW_CHARS - 1] + "…"
