"""The registry of checks: every check the harness makes, by scope and by the rules it enforces.

`validate`, `run` and the story steps all draw from here, and `tests/test_checks_registry.py`
holds the catalogue against it: a rule with no check, or a check citing no catalogued rule,
fails the suite. Scopes:

- parse, message: one message on its own, parsed and then judged in order by `judge_message`,
  for `validate` and for every callback of a run;
- answer: the synchronous answer to a request we sent;
- callback: a callback against the request it answers;
- transaction: all callbacks of one transaction, at the end of a scenario;
- run: the whole transcript, at the end of a run;
- flow: a capture of whole transactions, offline (`ubc-cert audit`, harness/checks/flow.py):
  the callback and transaction checks above, applied without the run that sent the requests;
  of a run that certified a BAP, the initiated and probe checks too (harness/checks/app_flow.py);
- probe: how a hostile request was refused (harness/checks/refusal.py), another BAP's
  request about an order (harness/checks/ownership.py), and a generated request, valid or
  malformed (harness/checks/malformed.py, `ubc-cert fuzz`);
- initiated: the requests a candidate BAP sent across one order (harness/checks/initiator.py);
- client: what a candidate BAP's client API shows and does (harness/checks/client_api.py,
  shown.py, relayed.py), and how it answers malformed and unauthenticated calls
  (harness/checks/client_robustness.py);
- step: what one Gherkin step promises (harness/checks/story.py);
- load: what a load run's callbacks show once it is over (`ubc-cert load`,
  harness/checks/concurrency.py): duplicates, transitions, one booking per slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.checks import (
    app_flow,
    chronology,
    client_api,
    client_robustness,
    concurrency,
    consistency,
    context,
    flow,
    initiator,
    malformed,
    message,
    ownership,
    readings,
    refusal,
    relayed,
    semantics,
    shown,
    state,
    story,
    timing,
)
from harness.findings import Finding
from harness.schemas import SchemaSet

SCOPES = ("parse", "message", "answer", "callback", "transaction", "run", "flow", "probe",
          "step", "initiated", "client", "load")


@dataclass(frozen=True)
class Check:
    scope: str
    rules: tuple[str, ...]
    run: Callable[..., Any]  # findings, or for "parse" (doc, finding)

    @property
    def name(self) -> str:
        return self.run.__name__


def _rules(spec: str) -> tuple[str, ...]:
    """'SIG-001..012 SIG-015' -> the full rule ids."""
    ids: list[str] = []
    for part in spec.split():
        family, _, numbers = part.partition("-")
        first, _, last = numbers.partition("..")
        ids += [f"UBC-{family}-{n:03d}" for n in range(int(first), int(last or first) + 1)]
    return tuple(ids)


def _check(scope: str, rules: str, run: Callable[..., Any]) -> Check:
    return Check(scope, _rules(rules), run)


CHECKS: tuple[Check, ...] = (
    _check("parse", "SCH-001 SCH-012", message.parse_body),
    # message: order matters, it is the order of the findings
    _check("message", "SCH-002..008 SCH-105 CTX-001..011", message.schema_valid),
    _check("message", "SCH-101..104 CTX-019", message.profile_warnings),
    _check("message", "CONS-001 CONS-007 CONS-009 MSG-001..007 MSG-014..015",
           semantics.amounts_mean_what_they_say),
    _check("message", "MSG-008..010", readings.readings_in_range),
    _check("message", "CTX-021..022 MSG-011..013", chronology.times_are_plausible),
    _check("message", "STATE-010..011", state.states_consistent),
    _check("message", "SIG-001..012 SIG-015 SIG-017", message.signatures_verify),
    # answer
    _check("answer", "TIME-006..007 SCH-012", timing.answered),
    _check("answer", "TIME-001", timing.ack_within),
    _check("answer", "SCH-009..010", SchemaSet.validate_ack),
    _check("answer", "SCH-013", refusal.valid_request_acknowledged),
    # callback
    _check("callback", "TIME-002..004", timing.callback_within_ttl),
    _check("callback", "CTX-012..013 CTX-015", context.callback_echoes_request),
    _check("callback", "CTX-017", context.callback_not_before_request),
    _check("callback", "CTX-016", context.sender_is_candidate),
    _check("callback", "CTX-014", context.unsolicited_has_new_message_id),
    _check("callback", "TIME-003", timing.unsolicited_missing),
    # transaction
    _check("transaction", "TIME-004", timing.one_callback),
    _check("run", "TIME-004", timing.delivered_once),
    _check("transaction", "STATE-001..003", state.transitions),
    _check("transaction", "CONS-002", consistency.order_id_stable),
    # run
    _check("run", "SIG-013 SCH-011 SIG-016 TIME-004", refusal.refused_request_unanswered),
    _check("run", "CTX-018", context.sent_to_wrong_address),
    _check("run", "CTX-029", ownership.callbacks_stay_with_owner),
    _check("run", "TIME-005", timing.unexpected_callback),
    _check("run", "TIME-006", timing.not_sent),
    # flow: in this order (the order of the findings of each transaction)
    _check("flow", "TIME-001 TIME-006..007 SCH-009..010 SCH-012", flow.answers_acknowledge),
    _check("flow", "SCH-013 SIG-013..014 SIG-016 SCH-009 SCH-011", flow.refused_as_deserved),
    _check("flow", "TIME-002..004 CTX-012..013 CTX-015 CTX-017 SIG-013 SIG-016 SCH-011",
           flow.callbacks_answer_requests),
    _check("flow", "CTX-014 TIME-004..005", flow.callbacks_without_request),
    _check("flow", "CTX-029", flow.callbacks_reach_their_bap),
    _check("flow", "STATE-001..003 CONS-002", flow.states_move_legally),
    _check("flow", "CONS-003..005", flow.terms_kept),
    _check("flow", "CTX-016", flow.senders_registered),
    _check("flow", "CTX-018", flow.delivered_to_endpoints),
    # flow, of a run that certified a BAP: the app's requests and its answers to callbacks
    _check("flow", "CTX-023..024 CTX-027 STATE-012", app_flow.requests_across_orders),
    _check("flow", "CONS-005", app_flow.selects_from_catalog),
    _check("flow", "SIG-013..014 CTX-025..026 CTX-030 TIME-004 SCH-009 SCH-013",
           app_flow.callbacks_refused_as_deserved),
    # probe
    _check("probe", "SIG-013..014 SCH-009 SCH-011 SIG-016", refusal.refused_properly),
    _check("probe", "SIG-014", refusal.challenge_given),
    _check("probe", "CTX-025..026 CTX-030 TIME-004 SCH-009",
           refusal.unknown_transaction_refused),
    _check("probe", "API-004", refusal.shown_order_unchanged),
    _check("probe", "CTX-028 SCH-009", ownership.foreign_request_refused),
    _check("probe", "CTX-028", ownership.order_unchanged),
    # probe: a generated request, valid or malformed (`ubc-cert fuzz`, harness/fuzz/)
    _check("probe", "SCH-011", malformed.malformed_refused),
    _check("probe", "SCH-014", malformed.no_server_error),
    # initiated: a candidate BAP's requests across one order
    _check("initiated", "CTX-023", initiator.fresh_message_ids),
    _check("initiated", "CTX-024", initiator.transaction_kept),
    _check("initiated", "STATE-012", initiator.actions_in_order),
    _check("initiated", "CTX-027", initiator.addressed_as_registered),
    _check("initiated", "CONS-010", initiator.requested_slot_carried),
    # client: a candidate BAP's client API against the callbacks behind it
    _check("client", "API-001", client_api.shown_total_is_quoted),
    _check("client", "API-002", client_api.paid_order_confirmed),
    _check("client", "API-003", client_api.answers_in_contract_shape),
    # client: how it answers the calls of a careless or hostile client (certify/bap/fuzz.py)
    _check("client", "API-010", client_robustness.no_server_error),
    _check("client", "API-011", client_robustness.refused_without_token),
    _check("client", "API-003", client_robustness.status_documented),
    _check("client", "API-005", shown.shown_states_follow_callbacks),
    _check("client", "API-005", shown.answered_as_the_bpp_decided),
    _check("client", "API-005", shown.shown_mode_is_asked),
    _check("client", "API-006", shown.shown_telemetry_is_latest),
    _check("client", "API-007", shown.shown_bill_is_billed),
    _check("client", "API-007", shown.shown_cancellation_is_the_bpps),
    _check("client", "API-008", relayed.news_shown),
    _check("client", "API-009", relayed.refusal_relayed),
    # step
    _check("step", "STATE-004", state.step_states),
    _check("step", "STATE-005..007", state.refused_with),
    _check("step", "CONS-003..004", consistency.terms_unchanged),
    _check("step", "CONS-005", consistency.items_in_catalog),
    _check("step", "CONS-005", consistency.offers_in_catalog),
    _check("step", "CONS-006", consistency.bill_matches_energy),
    _check("step", "CONS-008", consistency.overcharge_carried),
    _check("step", "TIME-003", story.catalog_reached),
    _check("step", "SCH-004", story.item_has_qr),
    _check("step", "CONS-005", story.scanned_item_listed),
    _check("step", "CONS-005", story.ccs2_item_listed),
    _check("step", "SCH-004", story.quote_has_breakup),
    _check("step", "CONS-004", story.payment_is_quoted_total),
    _check("step", "SCH-004", story.order_has_id),
    _check("step", "STATE-004", story.connector_preparing),
    _check("step", "STATE-004", story.tracking_live),
    _check("step", "CONS-006", story.bill_matches_meter),
    _check("step", "TIME-003", story.completion_reported),
    _check("step", "SCH-004", story.rating_acknowledged),
    _check("step", "SCH-004", story.support_answered),
    _check("step", "STATE-004", story.cancel_refunds),
    _check("step", "STATE-005", story.late_cancel_refused),
    _check("step", "STATE-006", story.overlap_rejected),
    _check("step", "STATE-007", story.impossible_start_refused),
    _check("step", "STATE-008 STATE-004", story.interruption_reported),
    _check("step", "STATE-009 STATE-004", story.refund_reported),
    # load: in this order (the order of the findings)
    _check("load", "TIME-004", concurrency.one_answer_per_request),
    _check("load", "STATE-001..003 CONS-002", concurrency.states_move_legally),
    _check("load", "STATE-013", concurrency.one_booking_per_slot),
)


def for_scope(scope: str) -> tuple[Check, ...]:
    if scope not in SCOPES:
        raise ValueError(f"harness bug: no check scope {scope!r}")
    return tuple(c for c in CHECKS if c.scope == scope)


def for_rule(rule_id: str) -> tuple[Check, ...]:
    return tuple(c for c in CHECKS if rule_id in c.rules)


MESSAGE_CHECKS = for_scope("message")


def judge_message(pipeline: message.Pipeline, msg: message.Message) -> list[Finding]:
    """Every finding about one message, from the registry's message checks in order; each
    finding carries the message's evidence ids. A body that is not JSON is judged for its
    signature and its parse error only."""
    msg.doc, problem = message.parse_body(msg.raw)
    if problem is not None:
        findings = [*message.signatures_verify(msg, pipeline), problem]
    else:
        findings = [f for check in MESSAGE_CHECKS for f in check.run(msg, pipeline)]
    for finding in findings:
        for exchange_id in msg.evidence:
            if exchange_id not in finding.evidence:
                finding.evidence.append(exchange_id)
    return findings


def describe() -> list[dict[str, Any]]:
    """The registry as data, for `ubc-cert rules --format json` and people."""
    return [{"check": c.name, "module": c.run.__module__, "scope": c.scope,
             "rules": list(c.rules)} for c in CHECKS]


