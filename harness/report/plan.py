"""The plan of a run: the features a candidate of one role is held to and the rule catalogue,
named by one hash, so that a report (and a certificate) says which plan it certified and two
runs can be seen to have used the same one.

The hash is SHA-256 over, for each feature file of the role in sorted path order: its path
relative to `features/` (POSIX, e.g. `bpp/walk_in.feature`), a NUL, its size in decimal, a
NUL, its bytes; then `rules`, a NUL, and the rule catalogue (`ubc-cert rules --format json`)
as canonical JSON: keys sorted, no whitespace, UTF-8. The framing keeps two plans whose files
concatenate to the same bytes apart. Tags do not enter it: a run limited by tags is never a
certification, and the report records its tags beside the plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import rules
from harness.paths import FEATURES_DIR


@dataclass(frozen=True)
class Plan:
    role: str
    features: tuple[str, ...]  # paths relative to the features folder, sorted
    rules: int  # how many rules the catalogue holds
    sha256: str  # hex

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "role": self.role, "features": list(self.features),
                "rules": self.rules}


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def plan_hash(features: Mapping[str, bytes], catalogue: Sequence[rules.Rule]) -> str:
    """The hex SHA-256 of feature files (relative path -> bytes) and a rule catalogue."""
    digest = hashlib.sha256()
    for path in sorted(features):
        data = features[path]
        digest.update(path.encode("utf-8") + b"\0" + str(len(data)).encode("ascii") + b"\0")
        digest.update(data)
    digest.update(b"rules\0" + canonical_json([rule.as_dict() for rule in catalogue]))
    return digest.hexdigest()


def of_role(role: str, features_dir: Path = FEATURES_DIR,
            catalogue: Sequence[rules.Rule] = rules.RULES) -> Plan:
    """The plan a run of `role` follows: every feature file of `features_dir/role`."""
    files = sorted((features_dir / role).glob("*.feature"))
    if not files:
        raise FileNotFoundError(f"{features_dir / role}: no feature files")
    features = {path.relative_to(features_dir).as_posix(): path.read_bytes() for path in files}
    return Plan(role, tuple(sorted(features)), len(catalogue), plan_hash(features, catalogue))
