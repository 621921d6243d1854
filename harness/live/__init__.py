"""The live view of a running network: its events (feed.py), the report folder's past runs
(runs.py), and the pages and event stream served at /ui (app.py)."""
