"""The rule catalogue: every check the harness makes, with a stable id, severity and spec clause.

Ids never change meaning once published; a retired rule keeps its id and is marked retired.
Severity `error` is a conformance failure, `warning` a compatibility note that never fails a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    spec: str
    applies_to: tuple[str, ...] = ("bap", "bpp")
    retired: str = ""  # why the rule no longer applies; a retired rule has no check

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["applies_to"] = list(self.applies_to)
        return data


_TSD = "UBC TSD"
_B6 = "BECKN-006"  # numbered by its headings and the items of its Steps, not by sections
_NOTES = "UBC profile notes"
_FIELDS = f"{_TSD} §10.4; Field_Documentation.csv"
_CORE = "Beckn core-v2.0.0-rc attributes.yaml"
_STATES = f"{_NOTES}: States along the flow"

RULES: tuple[Rule, ...] = (
    # --- signatures (BECKN-006) -------------------------------------------------------------
    Rule("UBC-SIG-001", "Request or callback carries an Authorization signature header", ERROR,
         f"{_B6} Subscriber Authentication"),
    Rule("UBC-SIG-002", "Signature header is well formed (Signature keyId=...,algorithm=...)",
         ERROR, f"{_B6} Subscriber Authentication; Signature Attributes"),
    Rule("UBC-SIG-003", "Signature algorithm is ed25519", ERROR,
         f"{_B6} Signature Attributes (algorithm); Signing Algorithm"),
    Rule("UBC-SIG-004", 'Signed headers list is "(created) (expires) digest"', ERROR,
         f"{_B6} Signature Attributes (headers); Step 1, item 4"),
    Rule("UBC-SIG-005", 'keyId has the form "subscriber_id|unique_key_id|ed25519"', ERROR,
         f"{_B6} Signature Attributes (keyID); Step 2, items 2-3"),
    Rule("UBC-SIG-006", "Signature created time is not in the future beyond the allowed skew",
         ERROR, f"{_B6} Step 1, item 2"),
    Rule("UBC-SIG-007", "Signature has not expired", ERROR, f"{_B6} Step 1, item 3"),
    Rule("UBC-SIG-008", "BLAKE-512 digest matches the raw body bytes", ERROR,
         f"{_B6} Hashing Algorithm; Step 1, item 1"),
    Rule("UBC-SIG-009", "ed25519 signature verifies against the signing string", ERROR,
         f"{_B6} Signing Algorithm; Step 5, item 6"),
    Rule("UBC-SIG-010", "Signing key is registered, SUBSCRIBED and within its validity", ERROR,
         f"{_TSD} §9.1; {_B6} Step 2, items 5-6"),
    Rule("UBC-SIG-011", "keyId subscriber equals the sender in the context (bap_id or bpp_id)",
         ERROR, f"{_B6} Step 5, items 1-5 (the key looked up is the sender's)"),
    Rule("UBC-SIG-012", "X-Gateway-Authorization, when present, verifies too", ERROR,
         f"{_B6} Subscriber Authentication; Step 4; {_TSD} §8.5"),
    Rule("UBC-SIG-013", "A request with an invalid signature is refused with 401 and a NACK",
         ERROR, f"{_B6} Step 2, items 6-8; Step 5, item 7", ("bpp", "bap")),
    Rule("UBC-SIG-014", "A 401 answer carries a WWW-Authenticate header", ERROR,
         f"{_B6} Step 5, item 7; Step 10, item 7"),
    Rule("UBC-SIG-015", "Signature validity window is at most one hour", WARNING,
         f"{_B6} Step 1, item 3 and its Note; {_NOTES}: Signing (BECKN-006) and the registry"),
    Rule("UBC-SIG-017", "Signature validity window is not longer than the message's ttl (plus "
         "the allowed skew)", WARNING,
         f"{_B6} Step 1, item 3 (expires = created + the message's ttl)"),
    Rule("UBC-SIG-016", "A replayed request (same message_id and signature) is refused; no "
         "clause requires it in words, the cited ones are what there is", ERROR,
         "Beckn core API, Context.message_id (may be used to ignore duplicate messages); "
         f"{_B6} Context (every request/callback pair is a contract)"),
    # --- schema and envelope -----------------------------------------------------------------
    Rule("UBC-SCH-001", "Body is UTF-8 JSON", ERROR, f"{_TSD} §13"),
    Rule("UBC-SCH-002", 'Body is an envelope {"context": {...}, "message": {...}}', ERROR,
         f"{_TSD} §10"),
    Rule("UBC-SCH-003", "context.action is one of the UBC actions", ERROR, f"{_TSD} §10"),
    Rule("UBC-SCH-004", "Message has every required field", ERROR,
         f"{_TSD} §10; official examples"),
    Rule("UBC-SCH-005", "Message fields have the right JSON type", ERROR,
         f"{_TSD} §10; official examples"),
    Rule("UBC-SCH-006", "Enumerated and constant fields hold an allowed value", ERROR,
         f"{_TSD} §10; official examples"),
    Rule("UBC-SCH-007", "Formatted message fields (date-time, duration, uri, uuid) are valid",
         ERROR, f"{_TSD} §10"),
    Rule("UBC-SCH-008", "Message satisfies the remaining schema constraints", ERROR,
         f"{_TSD} §10"),
    Rule("UBC-SCH-009", "Synchronous answer is a valid ACK or NACK", ERROR,
         f"{_TSD} §13; {_NOTES}: ACK / NACK"),
    Rule("UBC-SCH-010", "Synchronous answer uses the UBC ACK shape", WARNING,
         f"{_NOTES}: ACK / NACK"),
    Rule("UBC-SCH-011", "A schema-invalid request is refused with a 400 NACK, not a callback",
         ERROR, f"{_TSD} §13"),
    Rule("UBC-SCH-012", "Body is at most 1 MB", ERROR, f"{_TSD} §13"),
    Rule("UBC-SCH-013", "A valid, correctly signed request is acknowledged, not refused",
         ERROR, f"{_TSD} §13"),
    # Core's API gives a Beckn endpoint 400 (Bad request) for what it cannot take and 500 for
    # its own failures: input that breaks it is refused as the sender's error, never failed on.
    Rule("UBC-SCH-014", "A request, however malformed, is answered without a server error "
         "(5xx): what the receiver cannot take it refuses with a 4xx NACK", ERROR,
         f"{_TSD} §13; Beckn core API beckn.yaml (Ack400 Bad request, Ack500)"),
    Rule("UBC-SCH-101", "Order.beckn:invoice is an id, not an embedded invoice", WARNING,
         f"{_NOTES}: Known defects in the official examples (14_02_on_update)"),
    Rule("UBC-SCH-102", "Telemetry unit matches its metric (ENERGY in KWH, POWER in KW); the "
         "EV session pack's own unitCode text swaps them, so a message may follow it",
         WARNING, f"{_NOTES}: Known defects in the official examples (12_on_track); "
         "EvChargingSession v1 attributes.yaml, chargingTelemetry unitCode"),
    Rule("UBC-SCH-103", "Price component type is one of the TSD's UNIT, FEE, SURCHARGE, DISCOUNT",
         WARNING, f"{_TSD} §11.1, §12.5.4; {_NOTES}: Known defects in the official examples"),
    Rule("UBC-SCH-104", "NACK error code is a BECKN-005 code", WARNING, f"{_TSD} §13; BECKN-005"),
    Rule("UBC-SCH-105", "An object core closes (Order, Payment, Buyer, Fulfillment, Item, Offer, "
         "Catalog, Invoice ...) carries no beckn: property core does not define", ERROR,
         f"{_CORE} (additionalProperties: false)"),
    # --- context ------------------------------------------------------------------------------
    Rule("UBC-CTX-001", "Context has version, action, domain, transaction_id, message_id, "
         "timestamp and ttl", ERROR, _FIELDS),
    Rule("UBC-CTX-002", 'context.version is "2.0.0"', ERROR,
         f"{_TSD} §10.4; {_NOTES}: Version and envelope"),
    Rule("UBC-CTX-003", 'context.domain is "beckn.one:deg:ev-charging"', ERROR,
         _FIELDS),
    Rule("UBC-CTX-004", "context.transaction_id is a UUID", ERROR, _FIELDS),
    Rule("UBC-CTX-005", "context.message_id is a UUID", ERROR, _FIELDS),
    Rule("UBC-CTX-006", "context.timestamp is an RFC 3339 date-time", ERROR, _FIELDS),
    Rule("UBC-CTX-007", "context.ttl is an ISO 8601 duration", ERROR, _FIELDS),
    Rule("UBC-CTX-008", "bap_id and bap_uri are present on every BAP-BPP call", ERROR,
         _FIELDS),
    Rule("UBC-CTX-009", "bpp_id and bpp_uri are present on every call after discover", ERROR,
         _FIELDS),
    Rule("UBC-CTX-010", "bap_uri and bpp_uri are absolute URIs", ERROR, _FIELDS),
    Rule("UBC-CTX-011", "context.action matches the endpoint the message was sent to", ERROR,
         f"{_TSD} §10; Beckn core API"),
    Rule("UBC-CTX-012", "Callback echoes the request's transaction_id", ERROR, _FIELDS),
    Rule("UBC-CTX-013", "Callback echoes the request's message_id", ERROR, _FIELDS),
    Rule("UBC-CTX-014", "Unsolicited callback carries a new message_id", ERROR, f"{_TSD} §12"),
    Rule("UBC-CTX-015", "Callback keeps the request's bap_id and bap_uri", ERROR,
         _FIELDS),
    Rule("UBC-CTX-016", "bpp_id and bpp_uri match the candidate's registry record", ERROR,
         f"{_TSD} §9.1"),
    Rule("UBC-CTX-017", "Callback timestamp is not before the request's", ERROR, _FIELDS),
    Rule("UBC-CTX-018", "Callback goes to the subscriber URI the registry holds", ERROR,
         f"{_TSD} §9.1; {_NOTES}: What real participants do"),
    Rule("UBC-CTX-019", "Context uses the snake_case field names of core-v2.0.0-rc", WARNING,
         f"{_NOTES}: Version and envelope"),
    Rule("UBC-CTX-020", "Retired: context.schema_context appeared only on discover", WARNING,
         "Beckn core API, DiscoveryContext and TransactionContext (schema_context on every "
         "action)", retired="core allows schema_context on every action"),
    Rule("UBC-CTX-021", "context.ttl is longer than zero", ERROR, _FIELDS),
    Rule("UBC-CTX-022", "context.timestamp is not in the future beyond the allowed clock skew",
         ERROR, f"{_FIELDS} (the time the message was made)"),
    Rule("UBC-CTX-023", "Each request a BAP sends in a transaction carries a message_id not "
         "used before in it", ERROR, _FIELDS, applies_to=("bap",)),
    Rule("UBC-CTX-024", "A BAP keeps one transaction_id from select to the end of the order",
         ERROR, _FIELDS, applies_to=("bap",)),
    Rule("UBC-CTX-025", "A BAP refuses, with a 4xx NACK, a callback for a transaction it never "
         "started", ERROR, f"{_TSD} §10, §13", applies_to=("bap",)),
    Rule("UBC-CTX-027", "A BAP's request names its registered bap_uri and the bpp_id and "
         "bpp_uri of the BPP's registry record and catalog", ERROR,
         f"{_FIELDS}; {_TSD} §9.1", applies_to=("bap",)),
    # Out of order: stamped before a callback of the order the BAP already applied, and
    # reporting a state the order has left (it could not follow from the one held). Applied,
    # it would move what the driver is shown backwards; a BAP has no callback to refuse a
    # callback with, so it refuses with the NACK, as for UBC-CTX-025. Unsolicited: an answer
    # the BAP asked for is the answer, however late (it must just not undo newer news).
    Rule("UBC-CTX-026", "A BAP refuses, with a 4xx NACK, an unsolicited callback out of order: "
         "older than one it already applied for the order, and reporting a state the order "
         "has left",
         ERROR, f"{_CORE} Context.timestamp; {_TSD} §10, §12.2; {_STATES}",
         applies_to=("bap",)),
    # Order ownership. No clause says in words that an order is its BAP's; the reading: a
    # request and its callback are a contract between two parties (BECKN-006 Context), whose
    # sender the signature authenticates (Subscriber Authentication), so the BPP knows which
    # BAP asks; the order confirmed is a contract with the BAP of its select, init and
    # confirm (context.bap_id), and to any other BAP it is an order the BPP cannot find
    # (BECKN-005 30010, a value error that travels in the callback, TSD §13). The bap_uri of
    # the BAP's requests is where callbacks for it are accepted (Context.bap_uri), so an
    # order's callbacks go there and nowhere else. An order's details (buyer, items, bill,
    # payment, session) are the driver's (TSD §8.3: the BAP views and tracks its sessions).
    Rule("UBC-CTX-028", "A BPP serves an order only to the BAP that placed it: status, track, "
         "update and cancel about it from another registered BAP, correctly signed as itself, "
         "are refused (a 4xx NACK, or a callback carrying an error) without revealing the "
         "order, and leave it unchanged", ERROR,
         f"{_B6} Context (a request/callback pair is a contract between two parties), "
         f"Subscriber Authentication; BECKN-005 30010 (Order not found); {_TSD} §8.3, §13; "
         "Beckn core API, Context.bap_id", applies_to=("bpp",)),
    Rule("UBC-CTX-029", "A BPP sends an order's callbacks only to the BAP that placed it, "
         "never to another BAP that asked about the order", ERROR,
         "Beckn core API, Context.bap_uri (the BAP's URL for accepting callbacks from BPPs); "
         f"{_B6} Context (a request/callback pair is a contract between two parties); "
         f"{_TSD} §9.1", applies_to=("bpp",)),
    # The same contract seen from the BAP: its order is with the BPP of its select, init and
    # confirm (Context.bpp_id), whose callbacks it asked for; another BPP, however correctly
    # it signs as itself, is no party to that contract, and a callback from it about the order
    # is one the BAP never asked for and has no callback to refuse with (TSD §13): a 4xx NACK.
    Rule("UBC-CTX-030", "A BAP takes an order's callbacks only from the BPP the order is "
         "with: a callback about the order from another registered BPP, correctly signed as "
         "itself, is refused with a 4xx NACK and changes nothing the app shows", ERROR,
         f"{_B6} Context (a request/callback pair is a contract between two parties), "
         f"Subscriber Authentication; Beckn core API, Context.bpp_id; {_TSD} §10, §13",
         applies_to=("bap",)),
    # --- timing (measured on arrival) --------------------------------------------------------
    Rule("UBC-TIME-001", "Synchronous ACK arrives within the bound (default 5 s)", ERROR,
         f"{_TSD} §10"),
    Rule("UBC-TIME-002", "Callback arrives within the request's ttl", ERROR, _FIELDS),
    Rule("UBC-TIME-003", "Every acknowledged request gets its callback", ERROR, f"{_TSD} §10"),
    Rule("UBC-TIME-004", "A request gets exactly one callback, not duplicates", ERROR,
         f"{_TSD} §10"),
    Rule("UBC-TIME-005", "No callback arrives for an unknown transaction or message", ERROR,
         f"{_TSD} §10"),
    Rule("UBC-TIME-006", "Participant is reachable and answers every request", ERROR,
         f"{_TSD} §10"),
    Rule("UBC-TIME-007", "Synchronous answer is JSON, not HTML or other content", ERROR,
         f"{_TSD} §13"),
    # --- states -------------------------------------------------------------------------------
    Rule("UBC-STATE-001", "Order status moves only along the allowed transitions", ERROR,
         f"{_TSD} §11; {_STATES}"),
    Rule("UBC-STATE-002", "Charging session status moves only along the allowed transitions",
         ERROR, f"{_TSD} §11; {_STATES}"),
    Rule("UBC-STATE-003", "Payment status moves only along the allowed transitions", ERROR,
         f"{_TSD} §11; {_STATES}"),
    Rule("UBC-STATE-004", "Each step reports the order, session and payment state it must",
         ERROR, f"{_TSD} §11; {_STATES}"),
    Rule("UBC-STATE-005", "Cancellation is accepted only while the session is PENDING", ERROR,
         f"{_TSD} §12.1"),
    Rule("UBC-STATE-006", "An overlapping slot is REJECTED at on_select with error 40000", ERROR,
         f"{_TSD} §12.4"),
    Rule("UBC-STATE-007", "A start the charger cannot perform is REJECTED with error 40006",
         ERROR, "BECKN-005; example 10_on_update/ev-charging-start-on_update-Rejected.json"),
    Rule("UBC-STATE-008", "An interrupted session is reported by an unsolicited on_status",
         ERROR, f"{_TSD} §12.2"),
    Rule("UBC-STATE-009", "An undercharged session is refunded (payment REFUNDED)", ERROR,
         f"{_TSD} §12.5"),
    Rule("UBC-STATE-010", "on_select and on_init report CREATED, on_confirm CONFIRMED and "
         "on_cancel CANCELLED, unless they refuse with an error", ERROR,
         f"{_TSD} §11.1.2, §11.2.2, §12.1; {_STATES}"),
    Rule("UBC-STATE-011", "The order, session and payment states of one message can coexist "
         "(no COMPLETED order with an ACTIVE session, no refund before the order ends)", ERROR,
         f"{_TSD} §11, §12.1, §12.5; {_STATES}"),
    Rule("UBC-STATE-012", "A BAP sends an order's requests in the flow's order: select, then "
         "init once on_select came, then confirm once on_init came", ERROR,
         f"{_TSD} §11.1, §11.2.2", applies_to=("bap",)),
    # Judged by `ubc-cert load` (harness/checks/concurrency.py), where requests race.
    Rule("UBC-STATE-013", "One booking per slot and per order under concurrency: of two BAPs "
         "confirming one slot at once exactly one is CONFIRMED and the other is refused with "
         "error 40000; no order id is confirmed in two transactions", ERROR,
         f"{_TSD} §12.4", applies_to=("bpp",)),
    # --- the client API of a BAP (what the driver is shown) --------------------------------
    Rule("UBC-API-001", "The client API shows the driver the total the BPP quoted (estimate: "
         "on_select; payment: on_init)", ERROR,
         f"client API contract, 2) Get Charging Estimate and 3) Initiate Payment; {_TSD} §11.1",
         applies_to=("bap",)),
    Rule("UBC-API-002", "A BAP acts on the BPP's unsolicited on_status: it confirms the order "
         "once the BPP reports the payment COMPLETED", ERROR,
         f"client API contract, 3) Initiate Payment; {_TSD} §11.1", applies_to=("bap",)),
    # An error: the driver's app is built against these shapes, and an answer that breaks
    # them (a field missing, renamed or of another type) breaks that app as surely as a
    # wrong amount does. Shapes of schemas/openapi/client-api.yaml, the contract's made exact.
    Rule("UBC-API-003", "The client API answers in the contract's shape", ERROR,
         "client API contract, 1) Search Charging Connectors to 10) Get Order Support, "
         "Error Responses", applies_to=("bap",)),
    Rule("UBC-API-004", "A callback the app refused leaves the order it shows the driver "
         "unchanged", ERROR,
         f"client API contract, 4) Get Order Information; {_B6} Step 5, item 7",
         applies_to=("bap",)),
    # The driver's app is the only guard between whatever a client sends and the Beckn
    # network: input it cannot use is refused as the client's error, never failed on.
    Rule("UBC-API-010", "The client API answers no call, however malformed, with a server "
         "error; a 502 or 504 only when the CDS or BPP behind the call failed", ERROR,
         "client API contract, Error Responses (400 malformed request, 422 validation error); "
         "client-api.yaml UpstreamError, UpstreamTimeout", applies_to=("bap",)),
    Rule("UBC-API-011", "The client API refuses a call without its Bearer token, or with "
         "another, with 401 and a Bearer challenge", ERROR,
         "client API contract, Authentication, Error Responses (401); RFC 6750 section 3",
         applies_to=("bap",)),
    # What the app shows once the order runs: states, telemetry and money after the fact.
    Rule("UBC-API-005", "The client API shows the order as it stands: the order, payment and "
         "charging states the BPP last reported, in the contract's enums (order ACTIVE, "
         "COMPLETED, CANCELLED; payment PAID, PENDING, REFUNDED, FAILED; charging ACTIVE, "
         "COMPLETED, STOPPED, IDLE), a slot booked as a RESERVATION, and a request the BPP "
         "refused as the contract's 409 error", ERROR,
         "client API contract, 4) Get Order Information to 8) Cancel Order - Confirm, "
         f"Appendix: Enum Values, Error Responses; {_STATES}", applies_to=("bap",)),
    Rule("UBC-API-006", "The charging telemetry the client API shows is the latest reading the "
         "BPP sent (on_track, on_status, on_update): its values, and no older than the latest "
         "reading delivered before the call", ERROR,
         f"client API contract, 4) Get Order Information (chargingTelemetry); {_TSD} "
         "§11.2.2.14", applies_to=("bap",)),
    Rule("UBC-API-007", "The bill, cancellation fee and refund the client API shows are the "
         "BPP's: on_update's final bill, on_cancel's refund, and as fee what was paid less "
         "that refund", ERROR,
         "client API contract, 6) Stop Charging Session, 8) Cancel Order - Confirm; "
         f"{_TSD} §12.1, §12.5", applies_to=("bap",)),
    Rule("UBC-API-008", "What the BPP reports unasked (an unsolicited on_status, on_update or "
         "on_cancel the app acknowledged: interruption, completion, refund) shows in the order "
         "the app shows the driver", ERROR,
         f"client API contract, 4) Get Order Information, Appendix: Enum Values; {_TSD} §12.2, "
         "§12.3, §12.5.1", applies_to=("bap",)),
    Rule("UBC-API-009", "A refusal of the BPP (a callback carrying an error) reaches the driver "
         "as an error of the client API, not as a quote or a success", ERROR,
         f"client API contract, Error Responses; {_TSD} §12.4, §13", applies_to=("bap",)),
    # --- consistency across messages ---------------------------------------------------------
    Rule("UBC-CONS-001", "Quote total equals the sum of its breakup", ERROR, f"{_TSD} §11.1"),
    Rule("UBC-CONS-002", "The order id stays the same from on_confirm on", ERROR, f"{_TSD} §11"),
    Rule("UBC-CONS-003", "Ordered items stay the same from on_select through on_confirm", ERROR,
         f"{_TSD} §11"),
    Rule("UBC-CONS-004", "Accepted offer and price stay the same from on_select through "
         "on_confirm", ERROR, f"{_TSD} §11"),
    Rule("UBC-CONS-005", "Ordered items, and the offers accepted for them, exist in the catalog "
         "the BPP published", ERROR,
         f"{_TSD} §8.5, §11"),
    Rule("UBC-CONS-006", "Final bill agrees with the metered energy and the tariff", ERROR,
         f"{_TSD} §11.1, §12.5"),
    Rule("UBC-CONS-007", "Every amount in an order (components, prices, offers, payment, invoice) "
         "uses the quote's currency", ERROR, f"{_TSD} §11"),
    Rule("UBC-CONS-008", "Overcharge from a previous session is carried into the next quote",
         ERROR, f"{_TSD} §12.5"),
    Rule("UBC-CONS-009", "A final bill lists a refund adjustment as a component outside its "
         "total (elsewhere that is UBC-CONS-001)", WARNING,
         f"{_TSD} §12.5.1; example 14_02_on_update/ev-charging-undercharge-on_update.json"),
    # The slot travels in the order's preferences (example 03_select); the examples' init
    # and confirm (05_init, 07_confirm) leave them out, so only a different window there is one.
    Rule("UBC-CONS-010", "A BAP's select for a reservation carries the driver's time window as "
         "the order's preferences (startTime, endTime); an init or confirm that restates "
         "preferences restates that window", ERROR,
         f"{_TSD} §11.2.2.3; example 03_select/ev-charging-select.json; client API contract, "
         "2) Get Charging Estimate (time_window)", applies_to=("bap",)),
    # --- one message's own semantics ---------------------------------------------------------
    Rule("UBC-MSG-001", "Ordered quantities are greater than zero", ERROR,
         f"{_TSD} §11.1; {_CORE} Quantity"),
    Rule("UBC-MSG-002", "A quote's UNIT components equal unit price x quantity of its items",
         ERROR, f"{_TSD} §11.1, §12.5.4 (UNIT: base energy cost)"),
    Rule("UBC-MSG-003", "Until the final bill, the payment amount equals the quote total", ERROR,
         f"{_TSD} §11.1.2, §12.5.5"),
    Rule("UBC-MSG-004", "A DISCOUNT is not positive; UNIT, FEE and SURCHARGE are not negative",
         ERROR, f"{_TSD} §12.5.4"),
    Rule("UBC-MSG-005", "Every currency is an ISO 4217 code", ERROR,
         f"{_FIELDS} (beckn:price currency: ISO 4217 currency code)"),
    Rule("UBC-MSG-006", "Unit prices, totals and payment amounts are not negative", ERROR,
         f"{_TSD} §12.5.4, §12.5.5"),
    Rule("UBC-MSG-007", "A final bill's refund adjustment equals what was paid beyond the bill",
         ERROR, f"{_TSD} §12.5.1, §12.5.5"),
    Rule("UBC-MSG-008", "State of charge is between 0 and 100 %", ERROR,
         "EvChargingSession v1 attributes.yaml, chargingTelemetry (STATE_OF_CHARGE in "
         "PERCENTAGE)"),
    Rule("UBC-MSG-009", "Metered energy is not negative", ERROR,
         "EvChargingSession v1 attributes.yaml, chargingTelemetry (ENERGY)"),
    Rule("UBC-MSG-010", "A rating lies within the scale it declares (worstRating..bestRating)",
         ERROR, f"{_CORE} RatingInput"),
    Rule("UBC-MSG-011", "A time window (slot, validity, availability) does not end before it "
         "starts", ERROR, f"{_CORE} TimePeriod; {_TSD} §11.2"),
    Rule("UBC-MSG-012", "A payment's paidAt is not in the future", ERROR,
         f"{_FIELDS} (beckn:paidAt: when payment was made)"),
    Rule("UBC-MSG-014", "An embedded invoice totals the order's value", ERROR,
         f"{_TSD} §12.5.1.1, §12.5.2.1; {_CORE} Invoice"),
    Rule("UBC-MSG-015", "A percentage buyer finder fee is at most 100 % of the order", ERROR,
         f"{_TSD} §11.1.2; EvChargingSession v1 attributes.yaml, buyerFinderFee"),
    Rule("UBC-MSG-013", "A payment's paidAt is not after the message reporting it; the official "
         "examples date it 2025-12-19 on messages of 2025-01-27, so this is a warning", WARNING,
         f"{_FIELDS} (beckn:paidAt); {_NOTES}: Known defects in the official examples"),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def get(rule_id: str) -> Rule:
    """The rule with this id; an unknown id is a harness bug, so it raises."""
    return BY_ID[rule_id]
