"""`ubc-cert load`: load certification of a candidate BPP, driven by Locust.

Three kinds of process, so that the mock network never runs under gevent:

- the listener (listener.py, a child process of its own): the harness's registry, CDS and
  its two BAPs as `ubc-cert run` brings them up, plus the arrivals API (arrivals.py) through
  which Locust users learn when each callback arrived, claim sessions and report races;
- Locust (runner.py): one process by default, or a master with local worker processes
  (`--workers N`) and workers on other machines (`ubc-cert load --master HOST`); its users
  (users.py) sign and send the Beckn requests (flows.py) to the candidate themselves;
- `ubc-cert load` itself (command.py), which starts the others, hosts Locust's runner and
  writes the report (report.py) with the SLO's verdict (slo.py).
"""
