"""Print the fault matrix: fault -> expected rule -> detected (yes/no) -> wall time.

Each row certifies the reference BPP (with `--role bap`, the reference BAP; one process per
worker, its fault switched at run time) with `ubc-cert run`; the first row is the clean
reference, which must be certified. Fault runs cover the scenarios where the fault shows;
`--full` certifies every scenario for every fault.

    python bench/fault_matrix.py [--role bpp|bap] [--workers 2] [--ttl PT2S]
                                 [--fault-ttl PT1S] [--full]
"""

from __future__ import annotations

import argparse
import sys
import time

from harness.fault_matrix import run_matrix, table
from mocks import bap, bpp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("bpp", "bap"), default="bpp",
                        help="the reference certified")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ttl", default="PT2S", help="ttl of the clean run")
    parser.add_argument("--fault-ttl", default="PT1S", help="ttl of the fault runs")
    parser.add_argument("--full", action="store_true", help="every scenario for every fault")
    args = parser.parse_args()
    started = time.monotonic()
    faults = bap.FAULTS if args.role == "bap" else bpp.FAULTS
    rows = run_matrix({name: fault.rule for name, fault in faults.items()},
                      workers=args.workers, ttl=args.ttl, fault_ttl=args.fault_ttl,
                      full=args.full, role=args.role)
    print(table(rows))
    missed = [row.fault for row in rows if not row.detected]
    print(f"\n{len(rows) - 1} faults, {len(rows) - 1 - len([m for m in missed if m != '(none)'])}"
          f" detected; clean reference {'certified' if rows[0].detected else 'NOT certified'};"
          f" {time.monotonic() - started:.0f} s wall with {args.workers} runs at a time")
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
