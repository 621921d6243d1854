"""Text a candidate controls, made safe to print: every control and format character shown as
an escape instead of obeyed. Its own module, without the engine behind the terminal's summary
(harness/report/terminal.py), so that every command of the CLI can use it for the cost of this
file alone."""

from __future__ import annotations


def printable(value: object) -> str:
    """The text with every control and format character (escape sequences, carriage returns,
    bidirectional overrides, line separators) shown as an escape instead of obeyed."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   for c in text)
