"""Runs in a row against a stack that caches registry lookups for ten minutes: the harness
comes back with the keys the stack cached, and a rotation comes back under new key ids.

The reference BPP runs as its own process with a 600 s registry cache and is certified by
`ubc-cert run` without `--state-dir`, so the harness keeps its keys in its default folder
($XDG_CACHE_HOME/ubc-cert, a folder of this test).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import exitcodes
from harness.beckn import signing
from harness.beckn.keys import write_key_file
from harness.selftest import ReferenceProcess, SelfTestResult

pytestmark = [pytest.mark.network, pytest.mark.slow]

TAGS = "walk_in or security"


def harness_bap(result: SelfTestResult) -> dict[str, Any]:
    return next(p for p in result.report["network"] if p["role"] == "bap")


def assert_passed(result: SelfTestResult) -> None:
    assert result.exit_code == exitcodes.PARTIAL_PASSED, result.output[-3000:]  # tags: partial
    summary = result.report["summary"]
    assert (summary["failed"], summary["not_evaluated"], summary["errors"]) == (0, 0, 0)


def test_runs_in_a_row_meet_a_stack_that_caches_lookups_for_ten_minutes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ReferenceProcess(tmp_path / "reference", options=("--registry-cache", "600"),
                          preloaded=True) as reference:
        reference.state_dir = None  # the harness's default state folder
        reference.env["XDG_CACHE_HOME"] = str(cache)
        first = reference.certify(tags=TAGS)
        second = reference.certify(tags=TAGS)
        rotated = reference.certify(tags=TAGS, options=("--fresh-keys",))
        # The control: a harness that came back with another key under the key id the stack
        # cached (what every run did when keys lived and died with the run) is refused, so
        # the runs above passed because the keys were kept, not because nothing was cached.
        key_file = cache / "ubc-cert" / "bap-keys.json"
        kept = json.loads(key_file.read_text())
        write_key_file(signing.KeyPair.generate(kept["subscriber_id"], kept["key_id"]),
                       key_file, overwrite=True)
        stale = reference.certify(tags=TAGS)
    for result in (first, second, rotated):
        assert_passed(result)
    assert first.report["options"]["state_dir"] == str(cache / "ubc-cert")
    assert harness_bap(second) == harness_bap(first)
    assert harness_bap(rotated)["key_id"] != harness_bap(first)["key_id"]
    assert harness_bap(rotated)["public_key"] != harness_bap(first)["public_key"]
    assert stale.exit_code == 1
    skipped = [s for s in stale.report["scenarios"] if s["status"] == "not evaluated"]
    assert skipped and all("never asked the registry" in s["message"]
                           and "cache a key from an earlier run" in s["message"]
                           for s in skipped)
