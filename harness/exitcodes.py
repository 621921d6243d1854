"""Exit codes of `ubc-cert`, part of its interface: CI and scripts branch on them."""

OK = 0  # valid, certified, done
FAILED = 1  # a finding, an invalid signature, not certified
COULD_NOT_RUN = 2  # usage or I/O error, candidate unreachable, harness bug: nothing was judged
