"""The fault matrix: certify the reference BPP once clean and once per fault switch, two runs
at a time, and say for each fault whether its rule was detected."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.selftest import SelfTestResult, certify_reference

CLEAN = "(none)"


@dataclass
class Row:
    fault: str
    rule: str
    result: SelfTestResult

    @property
    def detected(self) -> bool:
        if self.fault == CLEAN:
            return self.result.exit_code == 0
        return self.result.exit_code == 1 and self.rule in self.result.error_rules


def run_matrix(faults: dict[str, str], *, workers: int = 2, ttl: str = "PT2S",
               workdir: Path | None = None) -> list[Row]:
    """`faults` maps fault name to the rule it must trigger; the clean run comes first."""
    root = workdir or Path(tempfile.mkdtemp(prefix="ubc-fault-matrix-"))
    jobs = [(CLEAN, "certified", ())] + [(name, rule, (name,)) for name, rule in faults.items()]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(name, rule, pool.submit(certify_reference, root / name.strip("()"),
                                            switch, ttl=ttl))
                   for name, rule, switch in jobs]
        return [Row(name, rule, future.result()) for name, rule, future in futures]


def table(rows: list[Row]) -> str:
    lines = [f"{'fault':32} {'expected rule':16} {'detected':9} {'exit':4} {'wall s':>7}  "
             "error rules found"]
    for row in rows:
        found = ", ".join(sorted(row.result.error_rules)) or "-"
        lines.append(f"{row.fault:32} {row.rule:16} {'yes' if row.detected else 'NO':9} "
                     f"{row.result.exit_code:<4} {row.result.wall_s:7.1f}  {found}")
    return "\n".join(lines)
