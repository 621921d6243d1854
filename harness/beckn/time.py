"""Time on the wire: RFC 3339 date-times and ISO 8601 durations, read and written in one place.

Every party of the mock network and every check reads times through these functions, so two
parts of the harness can never disagree about whether a timestamp is valid or when it is.

Reading: RFC 3339 allows any number of fractional digits (Python takes six) and a lower-case
`t`/`z`; both are accepted. A date-time without a zone is not RFC 3339; where a reader must
still place one (catalog windows, lenient context comparison) it is read as UTC.
Writing: UTC with a `Z`, milliseconds by default, as the official examples write it.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")
# ISO 8601 durations of fixed length: weeks, or days and a time; any part may carry a decimal
# fraction with a point or a comma (PT0.5S, PT0,5S). Years and months have no fixed length.
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"^P(?:{_NUMBER}W|(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?)$")
# The whole ISO 8601 duration grammar, for schemas: years and months too.
DURATION_PATTERN = (r"^P(?=\d|T\d)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?"
                    r"(?:\d+(?:[.,]\d+)?W)?(?:\d+(?:[.,]\d+)?D)?"
                    r"(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?$")
_EXCESS_FRACTION = re.compile(r"(\.[0-9]{6})[0-9]+")


def parse(text: str, *, zone_required: bool = True) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime; ValueError when it is not one.
    With `zone_required=False` a date-time without offset is read as UTC."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    if zone_required and not RFC3339.fullmatch(text):
        raise ValueError("not an RFC 3339 date-time with a time zone, e.g. 2025-01-31T10:00:00Z")
    normalised = _EXCESS_FRACTION.sub(r"\1", text.upper().replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(normalised)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid date-time: {exc}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # an offset that pushes it past year 1 or 9999
        raise ValueError(f"not a valid date-time: {exc}") from None


def epoch(value: object, *, zone_required: bool = True) -> float | None:
    """Epoch seconds of an RFC 3339 date-time, None when `value` is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        return parse(value, zone_required=zone_required).timestamp()
    except ValueError:
        return None


def format(moment: float | datetime, *, timespec: str = "milliseconds",
           clamp: bool = False) -> str:
    """UTC date-time with a `Z`. Epoch seconds beyond year 9999 raise OverflowError (or
    ValueError/OSError), unless `clamp` pins them to the last or first representable second."""
    if isinstance(moment, datetime):
        utc = moment.astimezone(UTC)
    else:
        try:
            utc = datetime.fromtimestamp(moment, UTC)
        except (OverflowError, ValueError, OSError):
            if not clamp:
                raise
            utc = (datetime.max if moment > 0 else datetime.min).replace(tzinfo=UTC)
    return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def now() -> str:
    """The current UTC time with milliseconds and a Z, as the examples write it."""
    return format(datetime.now(UTC))


def duration_seconds(text: str) -> float:
    """Seconds in an ISO 8601 duration of weeks, or of days, hours, minutes and seconds, with
    decimal fractions (PT30S -> 30, PT0.5S -> 0.5, PT0S -> 0); ValueError for anything else,
    years and months included (they have no fixed length)."""
    if not isinstance(text, str):
        raise ValueError(f"unsupported duration {text!r}; use e.g. PT30S")
    seconds = _duration_of(text)
    if seconds is None:
        raise ValueError(f"unsupported duration {text!r}; use e.g. PT30S")
    return seconds


@functools.lru_cache(maxsize=512)
def _duration_of(text: str) -> float | None:
    """Cached: a capture repeats a handful of ttls over thousands of messages."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (
        float(g.replace(",", ".")) if g else 0.0 for g in match.groups())
    return weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds


def duration_or(text: object, default: float) -> float:
    """`duration_seconds`, or `default` when `text` is not a duration we can read."""
    try:
        return duration_seconds(text)  # type: ignore[arg-type]
    except ValueError:
        return default
