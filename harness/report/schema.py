"""The published shape of report.json: schemas/report.schema.json (JSON Schema draft 2020-12).

Scripts and CI read report.json by this schema; the test suite holds every report it makes to
it (harness/selftest.py), so the schema and the reports cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from harness.paths import SCHEMAS_DIR

SCHEMA_PATH = SCHEMAS_DIR / "report.schema.json"


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(report: Any) -> list[str]:
    """Where `report` breaks the schema, one line each ("/verdict: 'passed' is not one of
    [...]"); empty when it conforms."""
    return [f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
            for error in sorted(validator().iter_errors(report), key=lambda e: e.json_path)]


class NonConforming(ValueError):
    """A report.json that breaks its published schema: a harness bug."""


def load_checked(path: Path) -> dict[str, Any]:
    """The report at `path`, read; NonConforming naming where it breaks the schema."""
    report = json.loads(path.read_text(encoding="utf-8"))
    wrong = problems(report)
    if wrong:
        raise NonConforming(f"{path} breaks {SCHEMA_PATH.name}: " + "; ".join(wrong[:10]))
    return dict(report)
