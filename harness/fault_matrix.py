"""The fault matrix: certify a reference participant (the BPP, or with `role="bap"` the BAP)
once clean and once per fault switch, and say for each fault whether its rule was detected.

Each worker starts one reference process and switches its faults at run time, so the matrix
pays for a process start per worker, not per fault; its runs are children of one process that
imported the harness once (harness/forked_cli.py), not a fresh `ubc-cert run` each. A fault run
is limited to the scenarios where the fault shows (`shows_in`): the full certification is the
clean run's.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.selftest import ReferenceProcess, SelfTestResult

CLEAN = "(none)"
# Where a fault of the reference BPP shows: refusals (and another BAP's requests about an
# order) in the security scenarios, everything else in the walk-in journey, which sends every
# kind of request and waits for every callback.
SECURITY_FAULTS = frozenset({"accepts-tampered-request", "accepts-expired-signature",
                             "acks-schema-invalid-request", "serves-any-bap",
                             "callbacks-to-any-bap"})
# ... and refusals of what cannot be done (an impossible start, an overlapping slot) in the
# corner cases, which the walk-in never asks for.
REFUSAL_FAULTS = frozenset({"refuses-with-generic-code"})


# Where a fault of the reference BAP shows, when not (only) in the walk-in: in the security
# scenarios (features/bap/security.feature) what only a hostile callback reveals, and the
# refusal that must leave the probes not evaluated; in the corner cases
# (features/bap/corner_cases.feature) what the BPP tells the app unasked or refuses; in the
# fuzzing of the client API (features/bap/client_api.feature) faults of that API itself, which
# the walk-in calls as a well-behaved driver's app does; a slot only a reservation asks for, a
# fee only a cancellation charges.
BAP_SHOWS_IN = {"accepts-bad-signature": "security or walk_in",
                "nacks-every-callback": "security or walk_in",
                "acks-stale-callback": "security",
                "accepts-any-bpp": "security",
                "ignores-unsolicited-status": "walk_in or corner_cases",
                "quotes-a-rejected-select": "corner_cases",
                "crashes-on-bad-input": "client_api",
                "no-auth-on-reads": "client_api",
                "ignores-slot": "reservation",
                "keeps-cancellation-fee-off": "cancel"}

# Faults about lateness need the full window: a callback 1 s past a 1 s ttl falls beyond the
# harness's grace and reads as missing (UBC-TIME-003) instead of late (UBC-TIME-002).
TIMING_FAULTS = frozenset({"late-callback"})


def shows_in(fault: str, role: str = "bpp") -> str | None:
    """The tag expression of the scenarios where `fault` (of `role`'s reference) shows; None:
    every scenario."""
    if fault == CLEAN:
        return None
    if role == "bap":
        return BAP_SHOWS_IN.get(fault, "walk_in")
    if fault in SECURITY_FAULTS:
        return "security"
    return "corner_cases" if fault in REFUSAL_FAULTS else "walk_in"


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
               fault_ttl: str = "PT1S", workdir: Path | None = None, full: bool = False,
               role: str = "bpp") -> list[Row]:
    """Certify `role`'s reference (`bpp` or `bap`) clean and with each fault. `faults` maps
    fault name to the rule it must trigger; the clean run comes first, with `ttl`. Fault runs
    hold callbacks to the shorter `fault_ttl`: the reference answers in milliseconds, and a
    fault run only has to show its rule, so its waits for callbacks that never come are cut
    short. With `full`, every fault run certifies every scenario."""
    root = workdir or Path(tempfile.mkdtemp(prefix="ubc-fault-matrix-"))
    jobs: queue.Queue[tuple[int, str, str]] = queue.Queue()
    for index, (name, rule) in enumerate([(CLEAN, "certified"), *faults.items()]):
        jobs.put((index, name, rule))
    rows: dict[int, Row] = {}
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            # A reference BAP waits its own ttl for callbacks (of an app that refuses them
            # all, for ever longer than the run's): it gets the run's.
            options = ("--ttl", ttl) if role == "bap" else ()
            with ReferenceProcess(root / f"worker-{number}", role=role, options=options,
                                  preloaded=True) as reference:
                while True:
                    try:
                        index, name, rule = jobs.get_nowait()
                    except queue.Empty:
                        return
                    reference.switch_faults(() if name == CLEAN else (name,))
                    short = name != CLEAN and name not in TIMING_FAULTS
                    result = reference.certify(ttl=fault_ttl if short else ttl,
                                               tags=None if full else shows_in(name, role),
                                               report_dir=root / "reports" / name.strip("()"))
                    rows[index] = Row(name, rule, result)
        except BaseException as exc:  # reported by the caller: a harness bug, never a verdict
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [rows[i] for i in sorted(rows)]


def table(rows: list[Row]) -> str:
    lines = [f"{'fault':32} {'expected rule':16} {'detected':9} {'exit':4} {'wall s':>7}  "
             "error rules found"]
    for row in rows:
        found = ", ".join(sorted(row.result.error_rules)) or "-"
        lines.append(f"{row.fault:32} {row.rule:16} {'yes' if row.detected else 'NO':9} "
                     f"{row.result.exit_code:<4} {row.result.wall_s:7.1f}  {found}")
    return "\n".join(lines)
