"""Offline audit of whole transactions (`ubc-cert audit`): read a run's transcript or a capture
of production traffic, judge each message of the audited participants with the per-message
pipeline `validate` uses, then each transaction with the registry's "flow" checks
(harness/checks/flow.py), and report the findings grouped by transaction.

The input (harness/audit/reading.py): NDJSON lines, each a transcript record or a captured
message, or .json files of one message, from local paths or fsspec URLs. Arrival times come
from transcript records, and from captures whose every record carries "received_at"; without
them timing is reported not evaluated.

What is judged. In a transcript the recording network is the harness's own: a message recorded
both as sent by one of its parties and as received by another (same URL, same bytes) is internal
traffic, context only; a message recorded only as received came from outside (the candidate)
and is judged; a message recorded only as sent went outside, and the answer and callbacks it
was owed are judged. The harness's deliberately broken probes are thus never judged as
messages, only what the candidate did with them; registry and hook traffic is left out. In a
capture every message is judged. `participants` narrows either to the messages those
subscribers sent and the answers and callbacks owed to them.

Who the candidate is follows the run's role (report.json beside the transcript). A BPP sends
callbacks, which must name its registered id and URI. A BAP (a driver's app) sends requests and
answers the harness's callbacks, the hostile BPP's probes among them: its requests are judged
across each order, and its answers against what each callback deserved
(harness/checks/app_flow.py). The harness's calls to the app's /v1 client API, or the prompts to
the operator who drives it, are not Beckn messages: they are counted, never judged.

`audit` judges the input whole in this process and returns the report; `scale.run` writes the
same report for an input of any size, in partitions, on every core or a Dask cluster.
"""

from __future__ import annotations

from functools import partial

from harness.audit.inputs import expand
from harness.audit.judge import judge
from harness.audit.model import CAPTURED, Entry, Options, Report, Transaction
from harness.audit.plan import make_plan
from harness.audit.reading import combine, reads, scan
from harness.audit.render import render_text
from harness.audit.stages import exchange_lines
from harness.schemas import SchemaSet
from harness.validation import InputError

__all__ = ["CAPTURED", "Entry", "InputError", "Options", "Report", "Transaction", "audit",
           "render_text"]


def audit(paths: list[str], schemas: SchemaSet, options: Options | None = None) -> Report:
    """Read `paths`, judge every message and transaction; InputError for unusable input."""
    options = options or Options()
    sources = expand(paths)
    scans = [combine([scan(s.whole(), lambda key, transaction: None)]) for s in sources]
    plan = make_plan(scans, options, {}, 1, schemas.profile, partial(exchange_lines, sources))
    placed = judge(((s.index, r) for s in sources for r in reads(s.whole())), plan, schemas)
    return Report([p.transaction for p in placed], plan.described, plan.client_calls)
