"""Exit codes of `ubc-cert`, part of its interface: CI and scripts branch on them.

`ubc-cert run` exits with the code of its verdict (report.json says both):

| code | verdict | meaning |
|---|---|---|
| 0 | `certified` | every scenario of the full plan passed; the only code that means certified |
| 1 | `not_certified`, `partial_failed` | a scenario failed or was not evaluated |
| 2 | `could_not_run` | bad candidate file, candidate unreachable, catalog rejected, harness error |
| 3 | `partial_passed` | a run limited by `--tags` passed: not a certification |
| 124 | `interrupted` | `--max-time` ran out (as timeout(1) does) |
| 130 | `interrupted` | SIGINT (Ctrl-C) |
| 143 | `interrupted` | SIGTERM (how CI cancels a job) |

The other commands: 0 done (valid, nothing wrong found), 1 a finding or an invalid signature,
2 a usage or I/O error.
"""

OK = 0  # valid, certified, done
FAILED = 1  # a finding, an invalid signature, not certified
COULD_NOT_RUN = 2  # usage or I/O error, candidate unreachable, harness bug: nothing was judged
PARTIAL_PASSED = 3  # a run limited by tags passed: never 0, which only a certification gives
MAX_TIME = 124  # the run's --max-time ran out, as timeout(1) exits
SIGINT = 130  # stopped by SIGINT (Ctrl-C): 128 + 2, as shells report it
SIGTERM = 143  # stopped by SIGTERM (CI cancelling a job): 128 + 15
BROKEN_PIPE = 141  # the reader of our output went away (`| head`): 128 + 13
