"""How an audit is shown: text for an operator, JSON for a machine. Each transaction renders on
its own, so a report too big to hold is written one transaction at a time, the same bytes as the
whole report rendered at once."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from harness.audit.model import Report, Transaction
from harness.findings import NOT_EVALUATED, Finding

TOTALS = ("transactions", "messages", "judged", "errors", "warnings", "not_evaluated")


def render_text(report: Report, verbose: bool = False) -> str:
    """The report as an operator reads it: transactions with findings, then the totals."""
    lines = [line for t in report.transactions for line in transaction_lines(t, verbose)]
    entries = [e for t in report.transactions for e in t.entries]
    totals = {"transactions": len(report.transactions), "messages": len(entries),
              "judged": sum(e.judged for e in entries), **report.counts}
    return "\n".join([*lines, *closing_lines(totals, report.keys, report.client_calls)])


def transaction_lines(transaction: Transaction, verbose: bool = False) -> list[str]:
    counts = transaction.counts
    if not any(counts.values()) and not verbose:
        return []
    label = "FAIL" if counts["errors"] else "warn" if counts["warnings"] else \
        "open" if counts["not_evaluated"] else "ok"
    judged = sum(e.judged for e in transaction.entries)
    lines = [f"{label:5} transaction {transaction.transaction_id or '(none)'}: "
             f"{len(transaction.entries)} message(s), {judged} judged: "
             f"{counts['errors']} error(s), {counts['warnings']} warning(s), "
             f"{counts['not_evaluated']} not evaluated"]
    for entry in transaction.entries:
        if not entry.findings and not (verbose and entry.judged):
            continue
        exchange = entry.exchange
        name = exchange.id if exchange else entry.source
        where = f" ({entry.source})" if entry.source != name else ""
        lines.append(f"  {name}{where} {exchange.action if exchange else 'no message'}"
                     + (f" message_id {exchange.message_id}"
                        if exchange and exchange.message_id else ""))
        lines += [f"    {_finding_line(f)}" for f in entry.findings]
    if transaction.findings:
        lines.append("  across messages")
        for finding in transaction.findings:
            cited = ", ".join(finding.evidence)
            lines.append(f"    {_finding_line(finding)}" + (f" <- {cited}" if cited else ""))
    return lines


def closing_lines(totals: dict[str, int], keys: str, client_calls: int) -> list[str]:
    lines: list[str] = []
    if client_calls:
        lines.append(f"{client_calls} client-API call(s) (the harness driving the app "
                     "through its /v1 API or its operator): not Beckn messages, not judged")
    lines.append(f"{totals['transactions']} transaction(s), {totals['messages']} message(s), "
                 f"{totals['judged']} judged: {totals['errors']} error(s), "
                 f"{totals['warnings']} warning(s), {totals['not_evaluated']} not evaluated; "
                 f"signatures {keys}")
    return lines


def _finding_line(finding: Finding) -> str:
    severity = "n/e" if finding.status == NOT_EVALUATED else finding.severity
    where = f" at {finding.path}" if finding.path else ""
    told = f" (expected {finding.expected!r}, got {finding.actual!r})" \
        if finding.expected is not None or finding.actual is not None else ""
    return f"{severity:7} {finding.rule}{where}: {finding.message}{told} [{finding.spec}]"


def transaction_json(transaction: Transaction) -> str:
    """One transaction as `json.dump(report.as_dict(), indent=1)` writes it inside "results"."""
    text = json.dumps(transaction.as_dict(), ensure_ascii=False, indent=1)
    return "  " + text.replace("\n", "\n  ")  # JSON strings hold no raw newline


def write_json(out: TextIO, totals: dict[str, int], keys: str, client_calls: int,
               transactions: Iterable[str]) -> None:
    """The report's JSON, byte for byte what json.dump(report.as_dict(), indent=1) gives,
    from its totals and each transaction's `transaction_json`, in order."""
    head: dict[str, Any] = {name: totals[name] for name in TOTALS}
    head.update(signatures=keys, client_api_calls=client_calls)
    out.write("{\n")
    for name, value in head.items():
        out.write(f" {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.write(' "results": [')
    first = True
    for text in transactions:
        out.write("\n" if first else ",\n")
        out.write(text)
        first = False
    out.write("]\n}" if first else "\n ]\n}")


def text_lines(totals: dict[str, int], keys: str, client_calls: int,
               transactions: Iterable[list[str]]) -> Iterator[str]:
    """The text report's lines from each transaction's `transaction_lines`, in order."""
    for lines in transactions:
        yield from lines
    yield from closing_lines(totals, keys, client_calls)
