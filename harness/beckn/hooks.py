"""The test-hook contract: how a harness plays the physical world at a candidate BPP.

Ours, not Beckn's, but a wire contract all the same: the certification engine calls these
hooks and the reference BPP serves them, so both read the names from here.

A certification needs events no Beckn message causes: the driver pays, plugs the car in, the
cable is pulled, time passes until the energy limit is reached. A BPP candidate that offers
these hooks names their base URL as `control_url` in its candidate file; every hook is a
`POST {control_url}/<hook>` with a JSON body, answered 2xx on success:

| hook | body | effect |
|---|---|---|
| `payment-completed` | `{"transaction_id"}` | the buyer paid the payment link of that order |
| `plug-in` | `{"item_id"}` | a car is plugged into the charger of that item |
| `cable-pulled` | `{"item_id"}` | the cable is pulled out mid-session |
| `advance` | `{"seconds"}` | the charger's time moves on (sessions charge, limits stop them) |
| `overrun` | `{"transaction_id", "extra_kwh"}` | the charger overruns the order's limit by |
| | | this much energy (it "failed to stop") |
| `cancel-by-provider` | `{"transaction_id"}` | the operator cancels the order |
| `connector-fault` | `{"item_id"}` | the charger of that item develops a fault: it cannot |
| | | start a session until repaired |
| `connector-repaired` | `{"item_id"}` | the fault is cleared |

Without `control_url`, scenarios that need a hook are reported as not evaluated, and a run
with any scenario not evaluated is never certified.
"""

from __future__ import annotations

PAYMENT_COMPLETED = "payment-completed"
PLUG_IN = "plug-in"
CABLE_PULLED = "cable-pulled"
ADVANCE = "advance"
OVERRUN = "overrun"
CANCEL_BY_PROVIDER = "cancel-by-provider"
CONNECTOR_FAULT = "connector-fault"
CONNECTOR_REPAIRED = "connector-repaired"

HOOKS = (PAYMENT_COMPLETED, PLUG_IN, CABLE_PULLED, ADVANCE, OVERRUN, CANCEL_BY_PROVIDER,
         CONNECTOR_FAULT, CONNECTOR_REPAIRED)
