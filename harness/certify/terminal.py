"""The operator's terminal: where a run driven by hand (`ubc-cert run --interactive`) writes
what the operator must do and reads what they answer, every read bounded.

The CLI takes the terminal when it starts, before pytest runs the features in-process: pytest
captures the process's standard streams for the run, down to file descriptors 0 and 1, so
prompts written to `sys.stdout` would vanish and `sys.stdin` would read nothing. A `Terminal`
holds its own duplicates of the descriptors, which no capture touches. Lines are read by a
daemon thread into a queue: a wait for an answer is bounded, and an unanswered read never
keeps the process from exiting.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import TextIO

DEFAULT_ANSWER_WITHIN_S = 300.0


class NoAnswer(Exception):
    """The operator did not answer in time, or their input closed."""


class Terminal:
    """Prompts out, answers in: one line at a time, each read bounded by `answer_within_s`."""

    def __init__(self, reader: TextIO, writer: TextIO, *,
                 answer_within_s: float = DEFAULT_ANSWER_WITHIN_S) -> None:
        if answer_within_s <= 0:
            raise ValueError(f"the operator's answer bound must be positive, not "
                             f"{answer_within_s!r}")
        self.reader = reader
        self.writer = writer
        self.answer_within_s = answer_within_s
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reading: threading.Thread | None = None
        self._closed = False  # the reader met the end of the operator's input

    @classmethod
    def of_this_process(cls, *, answer_within_s: float = DEFAULT_ANSWER_WITHIN_S) -> Terminal:
        """The process's standard input and output as they are now, before anything captures
        them; ValueError when the process has no standard input or output."""
        streams = (sys.__stdin__, sys.__stdout__)
        if any(s is None or s.closed for s in streams):
            raise ValueError("an interactive run needs a terminal: this process has no "
                             "standard input or output")
        stdin, stdout = streams
        assert stdin is not None and stdout is not None
        try:
            reader = os.fdopen(os.dup(stdin.fileno()), "r", encoding="utf-8",
                               errors="replace")
            writer = os.fdopen(os.dup(stdout.fileno()), "w", encoding="utf-8",
                               errors="replace")
        except (OSError, ValueError) as exc:
            raise ValueError(f"an interactive run needs a terminal: {exc}") from None
        return cls(reader, writer, answer_within_s=answer_within_s)

    def say(self, text: str) -> None:
        """Write lines to the operator, now (the writer is flushed)."""
        self.writer.write(text if text.endswith("\n") else text + "\n")
        self.writer.flush()

    def read_line(self) -> str:
        """The next line the operator types, without its line end; NoAnswer when none comes
        within the bound or their input is closed."""
        self._start_reading()
        if self._closed and self._lines.empty():
            raise NoAnswer("the operator's input is closed")
        try:
            line = self._lines.get(timeout=self.answer_within_s)
        except queue.Empty:
            raise NoAnswer(f"no answer within {self.answer_within_s:g} s") from None
        if line is None:
            raise NoAnswer("the operator's input closed")
        return line.rstrip("\r\n")

    def discard_typeahead(self) -> None:
        """Forget lines typed before the prompt about to be shown: an extra Enter pressed for
        an earlier step must not answer the next one."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is None:  # keep the end of input: it still answers every later read
                self._lines.put(None)
                return

    def _start_reading(self) -> None:
        if self._reading is None:
            self._reading = threading.Thread(target=self._read, name="operator-terminal",
                                             daemon=True)
            self._reading.start()

    def _read(self) -> None:
        try:
            for line in self.reader:
                self._lines.put(line)
        except (OSError, ValueError):  # closed under us: the same as the end of input
            pass
        self._closed = True
        self._lines.put(None)
