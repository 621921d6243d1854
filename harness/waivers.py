"""Waivers: a known defect of one candidate, accepted by a named person until a date.

`ubc-cert run --waivers FILE` reads a TOML file of entries:

```toml
[[waiver]]
rule = "UBC-API-007"                 # a rule of the catalogue (ubc-cert rules)
subscriber_id = "app.example.com"    # the candidate it is granted to
reason = "refund display fixed in release 4.2, due in March"
approved_by = "A. Operator <operator@example.com>"
expires = 2025-03-31                 # the last day it holds (UTC); a TOML date or "YYYY-MM-DD"
```

A failed finding of a waived rule for that candidate is kept, marked `waived` with its waiver,
and counts against nothing: neither its step nor the verdict. A waiver for another candidate
or past its date is ignored, with a warning in the run's output and report; a file that cannot
be read is refused naming the entry and the field, before anything runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from harness import rules, tomlfile
from harness.findings import WAIVED, Finding

FIELDS = ("rule", "subscriber_id", "reason", "approved_by", "expires")
TABLE = "waiver"


class WaiverError(ValueError):
    """The waiver file cannot be used; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Waiver:
    rule: str
    subscriber_id: str
    reason: str
    approved_by: str
    expires: date  # the last day the waiver holds, UTC
    entry: int  # its place in the file, from 1, as the warnings name it

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "subscriber_id": self.subscriber_id, "reason": self.reason,
                "approved_by": self.approved_by, "expires": self.expires.isoformat()}

    @property
    def label(self) -> str:
        return f"waiver {self.entry} ({self.rule} for {self.subscriber_id})"


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _expires(value: Any, where: str) -> date:
    if isinstance(value, datetime):  # a date-time is a date too: say which one is wanted
        raise WaiverError(f"{where}: field 'expires' = {value.isoformat()!r} is a date-time; "
                          "give a date (YYYY-MM-DD), the last day the waiver holds")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise WaiverError(f"{where}: field 'expires' = {value!r} is not a date (YYYY-MM-DD)")


def _entry(data: Any, number: int, source: str) -> Waiver:
    where = f"{source}: waiver {number}"
    if not isinstance(data, dict):
        raise WaiverError(f"{where}: is not a table of {', '.join(FIELDS)}")
    unknown = [name for name in data if name not in FIELDS]
    if unknown:
        raise WaiverError(f"{where}: unknown field {unknown[0]!r}{_suggest(unknown[0], FIELDS)}")
    missing = [name for name in FIELDS if name not in data]
    if missing:
        raise WaiverError(f"{where}: missing field {missing[0]!r}")
    for name in FIELDS[:-1]:
        if not isinstance(data[name], str) or not data[name].strip():
            raise WaiverError(f"{where}: field {name!r} must be a non-empty string, not "
                              f"{data[name]!r}")
    rule = data["rule"].strip()
    if rule not in rules.BY_ID:
        raise WaiverError(f"{where}: field 'rule' = {rule!r} is no rule of the catalogue"
                          f"{_suggest(rule, rules.BY_ID)} (ubc-cert rules lists them)")
    return Waiver(rule=rule, subscriber_id=data["subscriber_id"].strip(),
                  reason=data["reason"].strip(), approved_by=data["approved_by"].strip(),
                  expires=_expires(data["expires"], where), entry=number)


def parse(data: dict[str, Any], source: str = "waivers") -> list[Waiver]:
    """The waivers of a parsed TOML document; WaiverError names the entry and the field."""
    unknown = [name for name in data if name != TABLE]
    if unknown:
        raise WaiverError(f"{source}: unknown key {unknown[0]!r}{_suggest(unknown[0], [TABLE])}"
                          f": waivers are [[{TABLE}]] tables")
    entries = data.get(TABLE, [])
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: {TABLE!r} must be an array of tables ([[{TABLE}]])")
    return [_entry(entry, number, source) for number, entry in enumerate(entries, 1)]


def load(path: str | Path) -> list[Waiver]:
    try:
        data = tomlfile.read(path)
    except tomlfile.TomlFileError as exc:
        raise WaiverError(str(exc)) from None
    return parse(data, str(path))


@dataclass
class Waivers:
    """A run's waivers, sorted once into those that hold for its candidate and those ignored
    (with why); `apply` marks the findings they cover and counts what each one waived."""

    source: str
    active: list[Waiver] = field(default_factory=list)
    ignored: list[tuple[Waiver, str]] = field(default_factory=list)
    waived: dict[int, int] = field(default_factory=dict)  # entry -> findings it waived

    @classmethod
    def for_candidate(cls, waivers: list[Waiver], subscriber_id: str, today: date,
                      source: str = "") -> Waivers:
        chosen = cls(source)
        for waiver in waivers:
            if waiver.subscriber_id != subscriber_id:
                chosen.ignored.append((waiver, f"granted to {waiver.subscriber_id}, not to the "
                                       f"candidate {subscriber_id}"))
            elif waiver.expires < today:
                chosen.ignored.append((waiver, f"expired on {waiver.expires.isoformat()}"))
            else:
                chosen.active.append(waiver)
        return chosen

    def warnings(self) -> list[str]:
        """One line per ignored waiver, for the run's output and its report."""
        return [f"{waiver.label} ignored: {why}" for waiver, why in self.ignored]

    def apply(self, findings: Iterable[Finding]) -> None:
        """Mark every failed finding an active waiver covers as waived; idempotent, so the
        steps and the verdict may both apply it."""
        for finding in findings:
            if finding.status != "failed":
                continue  # not evaluated is never waived into a pass; waived already counted
            waiver = next((w for w in self.active if w.rule == finding.rule), None)
            if waiver is None:
                continue
            finding.status, finding.waiver = WAIVED, waiver.as_dict()
            self.waived[waiver.entry] = self.waived.get(waiver.entry, 0) + 1

    def used(self) -> list[dict[str, Any]]:
        """The waivers that waived a finding, with how many: what the certificate lists."""
        return [{**w.as_dict(), "findings": self.waived[w.entry]}
                for w in self.active if w.entry in self.waived]

    def as_report(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "used": self.used(),
            "unused": [w.as_dict() for w in self.active if w.entry not in self.waived],
            "ignored": [{**w.as_dict(), "why": why} for w, why in self.ignored],
            "warnings": self.warnings(),
        }
