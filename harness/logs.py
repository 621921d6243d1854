"""Where the harness's own processes log: stderr, with candidates' text made harmless."""

from __future__ import annotations

import logging

from harness.report.printable import printable


class PrintableLogs(logging.Filter):
    """Log lines carry text others control (a webhook URL, a NACK's message, a registry's
    answer): shown with every control character escaped, never obeyed by the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(record.getMessage()), None
        return True


def log_to_stderr() -> None:
    """Warnings of the mock parties to stderr, made printable (once per process)."""
    root = logging.getLogger()
    if any(isinstance(f, PrintableLogs) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PrintableLogs())
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, logging.WARNING))
