"""Registry records as every reader must understand them: the one trust rule.

The registry applies it to what it stores, the parties' registry client to what a lookup
answered, the CDS to the publishers it fans out to. A participant's key is trusted only while
its record is SUBSCRIBED and now lies within valid_from..valid_until (bounds included).
"""

from __future__ import annotations

import time as _clock
from datetime import datetime

from harness.beckn import time

TRUSTED_STATUS = "SUBSCRIBED"


def trusted(status: object, valid_from: object, valid_until: object,
            now: float | datetime | None = None) -> bool:
    """SUBSCRIBED and `now` (epoch seconds or datetime; default: the real clock) within the
    record's validity. A record whose times cannot be read is not trusted."""
    if status != TRUSTED_STATUS or not isinstance(valid_from, str) \
            or not isinstance(valid_until, str):
        return False
    try:
        start, end = time.parse(valid_from).timestamp(), time.parse(valid_until).timestamp()
    except ValueError:
        return False
    moment = _clock.time() if now is None else (
        now.timestamp() if isinstance(now, datetime) else float(now))
    return start <= moment <= end


def record_trusted(record: object, now: float | datetime | None = None) -> bool:
    """`trusted` for a lookup record (a JSON object); anything else is not trusted."""
    if not isinstance(record, dict):
        return False
    return trusted(record.get("status"), record.get("valid_from"), record.get("valid_until"),
                   now)
