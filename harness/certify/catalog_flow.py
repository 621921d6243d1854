"""How the candidate BPP's catalog reaches the harness's CDS before the discovery scenarios.

UBC lets a BPP be found in two ways (TSD §8.5): it publishes its catalog to the CDS
(`catalog_publish`), or it answers the `discover` the CDS forwards to BPPs that publish nothing.
A run follows one of three flows, and its printed instructions say which:

- **fan-out** (the default): the candidate publishes nothing; the CDS forwards every discover
  to it and relays its on_discover (TSD §8.5.1).
- **publish-then-run** (`--wait-catalog SECONDS`): the candidate publishes to the harness's CDS
  once the network is up; the run waits, bounded, until the CDS holds a live catalog of the
  candidate before any scenario starts. When none comes, the run says why (nothing arrived,
  the publish was NACKed, the CDS rejected the catalog) and goes on with fan-out: the CDS then
  forwards discover to the candidate, and the discovery scenarios judge whatever happens. A
  candidate that neither publishes nor answers discover fails there, with the reason printed
  at the start of the run; nothing is passed on its behalf.
- **on the candidate's behalf** (`--catalog FILE`): the harness puts the file's catalogs into
  the CDS as the candidate's, through the CDS's own judgement of a catalog_publish from the
  candidate (schemas; `beckn:bppId` and `beckn:bppUri` must be the candidate's; validity). The
  harness does not hold the candidate's private key and will not register a key of its own
  under the candidate's subscriber id, so this publication is not signed and not sent over
  HTTP: it is recorded in the report's options, not in the transcript. A catalog the CDS
  rejects stops the run (exit 2): the file cannot stand for the candidate.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.beckn import envelope
from harness.beckn.order import dig
from harness.candidate import Candidate
from harness.network import MockNetwork
from harness.transcript import INBOUND, OUTBOUND, Exchange

FAN_OUT = "fan-out"
PUBLISH_THEN_RUN = "publish-then-run"
ON_BEHALF = "catalog-file"
MAX_CATALOG_FILE_BYTES = 1024 * 1024  # what one catalog_publish may carry


class CatalogFlowError(Exception):
    """The chosen flow cannot be set up; the run could not start (exit 2)."""


def _catalogs_of(document: Any, where: str) -> tuple[dict[str, Any], ...]:
    """The catalogs of a catalog file: one catalog, a list of them, or a whole catalog_publish
    body (as captured from a stack)."""
    if isinstance(document, dict) and isinstance(document.get("message"), dict):
        document = document["message"].get("catalogs")
        if not isinstance(document, list):
            raise CatalogFlowError(f"{where}: message.catalogs must be a list of catalogs")
    catalogs = document if isinstance(document, list) else [document]
    if not catalogs:
        raise CatalogFlowError(f"{where}: no catalog in the file")
    for position, catalog in enumerate(catalogs):
        if not isinstance(catalog, dict):
            raise CatalogFlowError(f"{where}: catalog {position} is not a JSON object")
    return tuple(catalogs)


def load_catalogs(path: str) -> tuple[dict[str, Any], ...]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogFlowError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CATALOG_FILE_BYTES:
        raise CatalogFlowError(f"{path}: {len(raw)} bytes; a catalog_publish carries at most "
                               f"{MAX_CATALOG_FILE_BYTES}")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogFlowError(f"{path}: not JSON: {exc}") from None
    return _catalogs_of(document, path)


def _publisher_of(exchange: Exchange) -> Any:
    return dig(exchange.json(), "context", "bpp_id")


def _answers_publisher(exchange: Exchange, candidate: Candidate) -> bool:
    """An on_catalog_publish of the CDS to the candidate (it names the CDS as bpp_id, so the
    address tells whom it answers)."""
    return (exchange.direction == OUTBOUND and exchange.action == "on_catalog_publish"
            and exchange.url.startswith(candidate.uri.rstrip("/") + "/"))


def _results(exchange: Exchange) -> list[dict[str, Any]]:
    results = dig(exchange.json(), "message", "results")
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _describe_result(result: dict[str, Any]) -> str:
    line = f"{result.get('catalog_id')}: {result.get('status')}"
    error = result.get("error")
    if result.get("status") == "REJECTED" and isinstance(error, dict):
        line += f" ({error.get('code')}: {error.get('message')})"
    elif "item_count" in result:
        line += f", {result['item_count']} item(s)"
    warnings = result.get("warnings")
    if isinstance(warnings, list) and warnings:
        line += "; " + "; ".join(str(w.get("message")) for w in warnings[:3]
                                 if isinstance(w, dict))
    return line


@dataclass(frozen=True)
class CatalogFlow:
    """The flow a run follows; built from `--wait-catalog` and `--catalog`."""

    mode: str = FAN_OUT
    wait_s: float = 0.0
    source: str = ""  # the catalog file, for ON_BEHALF
    catalogs: tuple[dict[str, Any], ...] = ()

    @classmethod
    def choose(cls, wait_s: float | None, catalog_file: str | None) -> CatalogFlow:
        if wait_s is not None and catalog_file is not None:
            raise CatalogFlowError("--wait-catalog and --catalog exclude each other: either the "
                                   "candidate publishes, or the harness does for it")
        if wait_s is not None:
            if wait_s <= 0:
                raise CatalogFlowError(f"--wait-catalog {wait_s:g}: give a positive number of "
                                       "seconds")
            return cls(PUBLISH_THEN_RUN, wait_s=wait_s)
        if catalog_file is not None:
            return cls(ON_BEHALF, source=catalog_file, catalogs=load_catalogs(catalog_file))
        return cls()

    def instructions(self, cds_uri: str, subscriber_id: str, uri: str) -> list[str]:
        """What the operator must do about the catalog of the candidate (`subscriber_id` at
        `uri`), one line each."""
        if self.mode == PUBLISH_THEN_RUN:
            return [f"catalog flow              publish-then-run: send catalog_publish to "
                    f"{cds_uri}/catalog_publish now",
                    f"                          (beckn:bppId {subscriber_id}, beckn:bppUri "
                    f"{uri}); the run waits up to {self.wait_s:g} s"]
        if self.mode == ON_BEHALF:
            return [f"catalog flow              {self.source} published to the CDS on the "
                    f"candidate's behalf;",
                    "                          the candidate need not publish nor answer "
                    "discover"]
        return ["catalog flow              fan-out: the CDS forwards discover to the "
                "candidate",
                "                          (a BPP that publishes instead: --wait-catalog "
                "SECONDS, or --catalog FILE)"]

    def settle(self, network: MockNetwork, candidate: Candidate) -> list[str]:
        """Make the catalog available as the flow says, before the scenarios; what happened,
        one line each. Raises CatalogFlowError when a file's catalog is rejected."""
        if self.mode == PUBLISH_THEN_RUN:
            return self._await_publication(network, candidate)
        if self.mode == ON_BEHALF:
            return self._publish_for(network, candidate)
        return []

    def _publish_for(self, network: MockNetwork, candidate: Candidate) -> list[str]:
        context = envelope.context("catalog_publish", transaction_id=envelope.new_id(),
                                   bpp_id=candidate.subscriber_id, bpp_uri=candidate.uri,
                                   ttl=network.config.ttl)
        results = network.publish_for(context, list(self.catalogs))
        rejected = [r for r in results if r.get("status") == "REJECTED"]
        if rejected:
            raise CatalogFlowError(
                f"the CDS rejected {len(rejected)} of the {len(results)} catalog(s) of "
                f"{self.source} as {candidate.subscriber_id}'s: "
                + "; ".join(_describe_result(r) for r in rejected))
        return [f"catalog {_describe_result(r)} (published from {self.source} on the "
                "candidate's behalf, unsigned)" for r in results]

    def _await_publication(self, network: MockNetwork, candidate: Candidate) -> list[str]:
        """Wait until the CDS holds a live catalog of the candidate; each answer or refusal
        of one of its publishes wakes the wait, bounded by `wait_s`."""
        transcript = network.transcript
        publisher = candidate.subscriber_id
        deadline = time.monotonic() + self.wait_s
        seen: set[str] = set()

        def news(exchange: Exchange) -> bool:
            """The CDS answered (on_catalog_publish) or refused a publish of the candidate."""
            if exchange.party != "cds" or exchange.id in seen:
                return False
            if _answers_publisher(exchange, candidate):
                return True
            return (exchange.direction == INBOUND and exchange.action == "catalog_publish"
                    and exchange.status is not None and exchange.status >= 300
                    and _publisher_of(exchange) == publisher)
        while True:
            live = network.live_catalogs(publisher)
            if live:
                return [f"catalog {c['catalog_id']} of {publisher} is live at the CDS: "
                        f"{c['item_count']} item(s), until {c['expires_at']}" for c in live]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            found = transcript.wait_for(news, remaining)
            if found is None:
                continue  # the deadline passed: one last look at the cache, then give up
            seen.add(found.id)
        return [f"no live catalog of {publisher} at the CDS after {self.wait_s:g} s: "
                f"{self._why_none(network, candidate)}",
                f"discovery falls back to fan-out: the CDS forwards discover to "
                f"{candidate.uri}"]

    @staticmethod
    def _why_none(network: MockNetwork, candidate: Candidate) -> str:
        publisher = candidate.subscriber_id
        exchanges = network.transcript.query(party="cds")
        answered = [e for e in exchanges if _answers_publisher(e, candidate)]
        if answered:
            return "the CDS answered its last catalog_publish with " + "; ".join(
                _describe_result(r) for r in _results(answered[-1]))
        refused = [e for e in exchanges if e.direction == INBOUND
                   and e.action == "catalog_publish" and _publisher_of(e) == publisher
                   and e.status is not None and e.status >= 300]
        if refused:
            last = refused[-1]
            error = dig(last.response_json(), "error", "message")
            return f"the CDS NACKed its catalog_publish with HTTP {last.status}" + (
                f": {error}" if error else "")
        return (f"no catalog_publish of {publisher} reached "
                f"{network.participants['cds'].uri}/catalog_publish")

    def as_option(self) -> dict[str, Any]:
        """The flow as the report's options record it."""
        option: dict[str, Any] = {"mode": self.mode}
        if self.mode == PUBLISH_THEN_RUN:
            option["wait_s"] = self.wait_s
        if self.mode == ON_BEHALF:
            option["file"] = self.source
            option["catalog_ids"] = [str(c.get("beckn:id")) for c in self.catalogs]
            option["signed"] = False
        return option
