"""The certification engine: a run (journey.py), its roles (role.py; bpp/ and bap/ beside each
other), the pytest plugin that runs the Gherkin features (plugin.py, engine.py), the test-hook
client (hooks.py) and the end-of-run sweep (sweep.py). Judgement itself is harness/checks/."""
