"""The reference BPP, with its charger, served by a process of its own beside the mock network.

`ubc-cert serve` (NetworkConfig.bpp_process; `--bpp-in-process` opts out): the network binds
the BPP's and the charger's ports as usual, then hands both sockets to a child process
(`python -m harness.party_process`) that builds the same BPP the network would have built
in-process — same identity and keys, registry, CDS, ttl, faults, replay memory file, signature
validity bound, outbound allow-list and charger speed — and serves it on them. The BPP then
has a core of its own: on a 2-core machine it answers about 1.5 times as many signed selects
as when it shares the network's event loop and interpreter lock (bench/mock_bench.py).

What the child records comes back: it streams its transcript to a file in the network's state
folder, and `TranscriptFollower` reads each finished exchange from there into the network's
transcript (and so its file, its live view and `transcript.wait_for`), a few milliseconds after
it finished.

The child reads its whole configuration, keys included, as one JSON line on stdin (nothing
secret on a command line), says "ready" on stdout once it serves and has published its catalog
to the CDS, and stops on SIGTERM — or when its stdin ends, which is when the network's process
ends, however it ends: a BPP never outlives its network.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import orjson

from harness.transcript import Bounds, Exchange, Transcript

log = logging.getLogger("ubc.harness")

READY = "ready"
START_BOUND_S = 20.0  # imports, schemas, the catalog published: ~1 s on a quiet machine
STOP_BOUND_S = 5.0
FOLLOW_EVERY_S = 0.01  # how often the follower looks for new exchanges when there were none
CHUNK = 1 << 20
# The child's transcript file is rotated past this (so disk holds at most twice it): the
# follower, reading every FOLLOW_EVERY_S, would have to fall a whole segment behind (seconds
# of the network's process not running) to miss one.
CHANNEL_SEGMENT_BYTES = 64 * CHUNK


class PartyProcessError(RuntimeError):
    """The party's process did not start: what it said before it ended, or why we gave up."""


class TranscriptFollower:
    """Reads the NDJSON lines another process appends to `path` (a Spool's file, which may be
    rotated to `<path>.1`) into `transcript`, from a thread, until stopped."""

    def __init__(self, path: Path, transcript: Transcript) -> None:
        self.path = path
        self.transcript = transcript
        self.ingested = 0
        self.unreadable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ubc-follower", daemon=True)
        self._handle: IO[bytes] | None = None
        self._rest = b""

    def start(self) -> TranscriptFollower:
        self._thread.start()
        return self

    def stop(self, bound_s: float = STOP_BOUND_S) -> None:
        """Read what is left, then stop."""
        self._stop.set()
        self._thread.join(bound_s)

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stop.is_set()  # read before the last pass: nothing is missed
                if self.poll():
                    continue  # more may be there already
                if stopping:
                    break
                self._stop.wait(FOLLOW_EVERY_S)
        except Exception:  # a follower that died would silently lose the party's exchanges
            log.exception("reading %s stopped", self.path)
        finally:
            if self._handle is not None:
                self._handle.close()

    def poll(self) -> bool:
        """Ingest what was appended since the last poll; True if anything was."""
        if self._handle is None:
            try:
                self._handle = self.path.open("rb")
            except FileNotFoundError:
                return False
        chunk = self._handle.read(CHUNK)
        if not chunk:
            if not self._rotated():
                return False
            # what was appended between our last read and the rotation, then the new file
            self._take(self._handle.read())
            self._handle.close()
            self._handle, self._rest = None, b""
            return True
        self._take(chunk)
        return True

    def _take(self, chunk: bytes) -> None:
        *lines, self._rest = (self._rest + chunk).split(b"\n")
        for line in lines:
            self._ingest(line)

    def _rotated(self) -> bool:
        """The file we read was renamed away and a new one begun at the path."""
        assert self._handle is not None
        try:
            return os.stat(self.path).st_ino != os.fstat(self._handle.fileno()).st_ino
        except FileNotFoundError:
            return False

    def _ingest(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            exchange = Exchange.from_record(orjson.loads(line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.unreadable += 1
            log.warning("%s: a line that is no exchange (%s), skipped", self.path, exc)
            return
        self.transcript.ingest(exchange)
        self.ingested += 1


class BppProcess:
    """The child process serving the reference BPP on sockets handed over by the network."""

    def __init__(self, spec: dict[str, Any], sockets: dict[str, socket.socket],
                 transcript: Transcript, transcript_path: Path) -> None:
        self.spec = {**spec, "transcript": str(transcript_path),
                     "fds": {name: sock.fileno() for name, sock in sockets.items()}}
        self.fds = [sock.fileno() for sock in sockets.values()]
        self.follower = TranscriptFollower(transcript_path, transcript)
        self.process: subprocess.Popen[str] | None = None
        self.stopping = threading.Event()

    def start(self, bound_s: float = START_BOUND_S) -> BppProcess:
        Path(self.spec["transcript"]).unlink(missing_ok=True)
        self.follower.start()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.party_process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, pass_fds=self.fds,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.process.stdin is not None and self.process.stdout is not None
        # stdin stays open: the child stops when it ends, however this process ends
        with contextlib.suppress(BrokenPipeError):  # it ended at once: said below, by its exit
            self.process.stdin.write(json.dumps(self.spec) + "\n")
            self.process.stdin.flush()
        said: list[str] = []
        reader = threading.Thread(target=_read_until_ready, daemon=True,
                                  args=(self.process.stdout, said))
        reader.start()
        reader.join(bound_s)
        if not said or said[-1] != READY:
            code = self.process.poll()
            self.stop()
            why = (f"it ended (exit {code})" if code is not None
                   else f"it was not ready within {bound_s:g} s")
            raise PartyProcessError(f"the reference BPP's process did not start: {why}"
                                    + (f"; it said: {' | '.join(said)}" if said else ""))
        threading.Thread(target=self._watch, daemon=True, name="ubc-bpp-watch").start()
        return self

    def _watch(self) -> None:
        """Say so at once when the process ends unasked: the network's BPP is gone."""
        assert self.process is not None
        code = self.process.wait()
        if not self.stopping.is_set():
            log.error("the reference BPP's process (pid %s) ended with exit %s: the BPP and "
                      "the charger no longer answer; start the network again",
                      self.process.pid, code)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def stop(self, bound_s: float = STOP_BOUND_S) -> None:
        """SIGTERM, then SIGKILL past the bound; then what it recorded last is read in."""
        self.stopping.set()
        process = self.process
        if process is not None and process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(bound_s)
            except subprocess.TimeoutExpired:
                log.warning("the reference BPP's process did not stop within %g s: killed",
                            bound_s)
                process.kill()
                process.wait(bound_s)
        self.follower.stop()


def _read_until_ready(stream: IO[str], said: list[str]) -> None:
    """Collect what the child prints until it says it is ready (or ends); later lines are
    passed on to our stdout."""
    for line in stream:
        said.append(line.rstrip("\n"))
        if said[-1] == READY:
            break
    threading.Thread(target=_pass_on, args=(stream,), daemon=True).start()


def _pass_on(stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(line)


def serve(spec: dict[str, Any], stop: threading.Event) -> int:
    """The child: build the BPP and its charger as the network would, serve them on the
    handed-over sockets, publish the catalog, say ready, wait for SIGTERM."""
    from harness import schemas
    from harness.beckn import signing
    from harness.servers import ServerGroup, tune_collector
    from mocks import bpp as bpp_module
    from mocks import charger as charger_module
    from mocks.stack import Identity, OutboundHosts, RegistryClient, ReplayMemory, Safeguards

    keys = signing.KeyPair(**spec["keys"])
    identity = Identity.create(keys.subscriber_id, "bpp", spec["uri"], keys)
    # Its file only carries the exchanges to the network's transcript, which keeps them: a
    # short one, rotated (the follower reads across a rotation) every CHANNEL_SEGMENT_BYTES,
    # and nothing in memory (the BPP never reads its transcript back).
    transcript = Transcript(Bounds(whole=0, whole_bytes=0, index=0,
                                   segment_bytes=CHANNEL_SEGMENT_BYTES),
                            Path(spec["transcript"]))
    outbound = OutboundHosts(spec["outbound"])
    replays = ReplayMemory(spec["replays"])
    safeguards = Safeguards(replays, spec["max_validity_s"], outbound)
    directory = RegistryClient(spec["registry_url"], cache_s=spec["registry_cache_s"],
                               user_agent=f"ubc-conformance {keys.subscriber_id}")
    charger = charger_module.Charger(clock=charger_module.Clock(speed=spec["charger_speed"]))
    config = bpp_module.BppConfig(identity=identity, cds_uri=spec["cds_uri"], ttl=spec["ttl"],
                                  faults=set(spec["faults"]),
                                  control_token=spec["control_token"])
    app = bpp_module.create_app(config, charger, transcript, directory=directory,
                                schemas=schemas.load(), safeguards=safeguards)
    group = ServerGroup(spec["host"])
    group.adopt("bpp", socket.socket(fileno=spec["fds"]["bpp"]), app)
    if "charger" in spec["fds"]:
        group.adopt("charger", socket.socket(fileno=spec["fds"]["charger"]),
                    charger_module.create_app(charger, outbound=outbound))

    async def close_directory() -> None:
        await directory.aclose()
    group.on_shutdown(close_directory)
    group.start()
    try:
        if spec["cds_uri"]:
            group.run(app.state.bpp.publish(spec["cds_uri"]))
        tune_collector()
        print(READY, flush=True)
        while not stop.wait(0.5):  # woken by the signal handler or the stdin watcher
            pass
    finally:
        group.stop()
        transcript.close()
        replays.close()
    return 0


def _stop_when_orphaned(stop: threading.Event) -> None:
    """Stdin ends when the network's process does, even killed: stop then, as on SIGTERM."""
    sys.stdin.read()
    stop.set()


def main() -> int:
    from harness.logs import log_to_stderr

    log_to_stderr()  # escaped like the parent's: candidates' text reaches the terminal
    line = sys.stdin.readline()
    try:
        spec = json.loads(line)
    except ValueError as exc:
        print(f"no configuration on stdin: {exc}", flush=True)
        return 2
    # SIGTERM (the network's stop) and the end of stdin stop it; Ctrl-C reaches the whole
    # process group, and the network stops it then: no second traceback on the terminal.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_stop_when_orphaned, args=(stop,), daemon=True,
                     name="ubc-parent").start()
    started = time.monotonic()
    try:
        return serve(spec, stop)
    except Exception as exc:  # said on stdout, where the parent waits for "ready"
        print(f"failed after {time.monotonic() - started:.1f} s: {exc!r}", flush=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
