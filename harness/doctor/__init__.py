"""`ubc-cert doctor`: checks the obvious about a candidate before a run — reachable, answers
JSON, signs with the key its candidate file declares, keeps the right time, reaches the
registry — each as a PASS/FAIL line with a hint (command.py drives, probe.py acts and
watches, diagnosis.py judges)."""
