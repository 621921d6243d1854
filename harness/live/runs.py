"""The past runs of a report folder, as the live view lists them: newest first, each with its
verdict and the artifacts it has.

A run folder is one with a report.json (`ubc-cert run` writes one on every way out). Its
report is read defensively — an older, newer, half-written or hand-edited report.json shows
what it has and never breaks the page — and kept until the file changes, so a page load does
not re-read hundreds of reports.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

MAX_LISTED = 200  # newest run folders listed
MAX_REPORT_BYTES = 64 * 1024 * 1024  # a report.json bigger than this is listed, not read

# What of a run folder the live view serves, with its media type; nothing else is served.
ARTIFACTS = {
    "report.html": "text/html; charset=utf-8",
    "certificate.html": "text/html; charset=utf-8",
    "report.json": "application/json",
    "junit.xml": "application/xml",
    "transcript.ndjson": "application/x-ndjson",
    "certificate.json": "application/json",
    "certificate.sig": "text/plain; charset=utf-8",
    "result.json": "application/json",
    "result.sig": "text/plain; charset=utf-8",
}


class PastRuns:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder.absolute() if folder is not None else None
        self._lock = threading.Lock()
        self._read: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}

    def listing(self) -> list[dict[str, Any]]:
        """The newest run folders (run ids begin with their UTC start), described."""
        if self.folder is None or not self.folder.is_dir():
            return []
        try:
            folders = sorted((p for p in self.folder.iterdir()
                              if p.is_dir() and (p / "report.json").is_file()),
                             key=lambda p: p.name, reverse=True)[:MAX_LISTED]
        except OSError:
            return []
        return [self._describe(p) for p in folders]

    def artifact(self, run_id: str, name: str) -> Path | None:
        """The file `name` of run `run_id`, when it is one of ARTIFACTS and lies inside the
        report folder (a symlink out of it is not followed); None otherwise."""
        if self.folder is None or name not in ARTIFACTS:
            return None
        root = self.folder.resolve()
        path = (root / run_id / name).resolve()
        if path.parent.parent != root or not path.is_file():
            return None
        return path

    def _describe(self, folder: Path) -> dict[str, Any]:
        report_path = folder / "report.json"
        try:
            stat = report_path.stat()
        except OSError:
            return {"run_id": folder.name, "verdict": "unreadable", "artifacts": []}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._read.get(report_path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        described = _summary(folder, _load(report_path, stat.st_size))
        with self._lock:
            self._read[report_path] = (stamp, described)
        return described


def _load(path: Path, size: int) -> dict[str, Any] | None:
    if size > MAX_REPORT_BYTES:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _summary(folder: Path, report: dict[str, Any] | None) -> dict[str, Any]:
    artifacts = sorted(name for name in ARTIFACTS if (folder / name).is_file())
    if report is None:
        return {"run_id": folder.name, "verdict": "unreadable", "reason": "report.json could "
                "not be read", "artifacts": artifacts}
    candidate = report.get("candidate")
    candidate = candidate if isinstance(candidate, dict) else {}
    summary = report.get("summary")
    summary = summary if isinstance(summary, dict) else {}

    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    return {
        "run_id": folder.name,
        "verdict": text(report.get("verdict")).replace(" ", "_") or "unknown",
        "reason": text(report.get("reason")),
        "role": text(report.get("role")),
        "subscriber_id": text(candidate.get("subscriber_id")),
        "started": text(report.get("started")),
        "duration_s": report.get("duration_s") if isinstance(
            report.get("duration_s"), int | float) else None,
        "scenarios": {k: v for k, v in summary.items() if isinstance(v, int)},
        "artifacts": artifacts,
    }
