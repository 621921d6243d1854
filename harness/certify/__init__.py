"""The certification engine: a run (journey.py), its roles (role.py; bpp/ and bap/ beside each
other), the pytest plugin that runs the Gherkin features (plugin.py, engine.py), the test-hook
client (hooks.py) and the end-of-run sweep (sweep.py); what a run waits for (waits.py), its live
display (progress.py) and what it would run (listing.py). Judgement itself is harness/checks/."""
