"""Profile checks beyond JSON Schema: the known loose spots of the official examples.

Each of these is a compatibility warning, never a failure: the official examples themselves do
these things (NOTES.md, "Known defects"), and a participant must not fail for copying them.
They look at fixed places in the message rather than walking it, because `validate` runs them on
every message of a capture and must stay close to the cost of verifying a signature.
"""

from __future__ import annotations

from typing import Any

from harness.beckn.envelope import BECKN_005_CODES
from harness.findings import Finding

TSD_PRICE_COMPONENTS = frozenset({"UNIT", "FEE", "SURCHARGE", "DISCOUNT"})
TELEMETRY_UNITS = {"ENERGY": "KWH", "POWER": "KW"}
# The EV session pack's own unitCode description swaps the two (EvChargingSession v1).
PACK_TELEMETRY_UNITS = {"ENERGY": "KW", "POWER": "KWH"}
# camelCase context names of the v2.0.0-LTS line, which UBC has not adopted.
LTS_CONTEXT_NAMES = frozenset({
    "bapId", "bapUri", "bppId", "bppUri", "transactionId", "messageId", "schemaContext",
})


def _order(doc: dict[str, Any]) -> dict[str, Any] | None:
    message = doc.get("message")
    order = message.get("order") if isinstance(message, dict) else None
    return order if isinstance(order, dict) else None


def invoice_is_reference(doc: dict[str, Any]) -> list[Finding]:
    """UBC-SCH-101: core's Order.beckn:invoice is an id; 14_02_on_update embeds the invoice."""
    order = _order(doc)
    if order is not None and isinstance(order.get("beckn:invoice"), dict):
        return [Finding("UBC-SCH-101", "order carries an embedded invoice object where core "
                        "expects the invoice id", path="/message/order/beckn:invoice",
                        expected="string (invoice id)", actual="object")]
    return []


def telemetry_units_match(doc: dict[str, Any]) -> list[Finding]:
    """UBC-SCH-102: ENERGY is reported in KWH and POWER in KW."""
    order = _order(doc)
    fulfillment = order.get("beckn:fulfillment") if order else None
    attributes = (
        fulfillment.get("beckn:deliveryAttributes") if isinstance(fulfillment, dict) else None
    )
    telemetry = attributes.get("chargingTelemetry") if isinstance(attributes, dict) else None
    if not isinstance(telemetry, list):
        return []
    base = "/message/order/beckn:fulfillment/beckn:deliveryAttributes/chargingTelemetry"
    findings = []
    for i, sample in enumerate(telemetry):
        metrics = sample.get("metrics") if isinstance(sample, dict) else None
        for j, metric in enumerate(metrics if isinstance(metrics, list) else []):
            if not isinstance(metric, dict):
                continue
            expected = TELEMETRY_UNITS.get(metric.get("name", ""))
            if expected and metric.get("unitCode") != expected:
                unit = metric.get("unitCode")
                source = (" as the EV session pack's unitCode text says (it swaps ENERGY and "
                          "POWER); the metric's quantity needs "
                          f"{expected}") if PACK_TELEMETRY_UNITS[metric["name"]] == unit else ""
                findings.append(Finding(
                    "UBC-SCH-102",
                    f"{metric['name']} reported in {unit!r}{source}",
                    path=f"{base}/{i}/metrics/{j}/unitCode",
                    expected=expected, actual=metric.get("unitCode"),
                ))
    return findings


def price_components_in_tsd(doc: dict[str, Any]) -> list[Finding]:
    """UBC-SCH-103: the TSD names four component types; core also allows TAX and DELIVERY."""
    order = _order(doc)
    value = order.get("beckn:orderValue") if order else None
    components = value.get("components") if isinstance(value, dict) else None
    findings = []
    for i, component in enumerate(components if isinstance(components, list) else []):
        kind = component.get("type") if isinstance(component, dict) else None
        if isinstance(kind, str) and kind not in TSD_PRICE_COMPONENTS:
            findings.append(Finding(
                "UBC-SCH-103", f"price component type {kind!r} is not one the TSD uses",
                path=f"/message/order/beckn:orderValue/components/{i}/type",
                expected=sorted(TSD_PRICE_COMPONENTS), actual=kind,
            ))
    return findings


def context_uses_rc_names(doc: dict[str, Any]) -> list[Finding]:
    """UBC-CTX-019: context field names. (schema_context may appear on any action: core's
    DiscoveryContext and TransactionContext both carry it, so UBC-CTX-020 is retired.)"""
    context = doc.get("context")
    if not isinstance(context, dict):
        return []
    return [
        Finding("UBC-CTX-019", f"context.{name} is the v2.0.0-LTS spelling; UBC uses snake_case",
                path=f"/context/{name}", actual=name)
        for name in LTS_CONTEXT_NAMES.intersection(context)
    ]


def error_code_is_beckn_005(doc: dict[str, Any]) -> list[Finding]:
    """UBC-SCH-104: a business error in a callback (or a NACK) uses a BECKN-005 code."""
    error = doc.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if code is None or code in BECKN_005_CODES:
        return []
    return [Finding("UBC-SCH-104", f"error code {code!r} is not a BECKN-005 code",
                    path="/error/code", actual=code)]


PROFILE_CHECKS = (
    invoice_is_reference,
    telemetry_units_match,
    price_components_in_tsd,
    context_uses_rc_names,
    error_code_is_beckn_005,
)


def profile_findings(doc: dict[str, Any]) -> list[Finding]:
    """Every profile warning for one message that passed the envelope check."""
    findings: list[Finding] = []
    for check in PROFILE_CHECKS:
        findings.extend(check(doc))
    return findings
