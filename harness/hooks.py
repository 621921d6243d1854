"""Test hooks: how the harness plays the physical world at a candidate BPP.

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

Without `control_url`, scenarios that need a hook are reported as not evaluated, and a run
with any scenario not evaluated is never certified.
"""

from __future__ import annotations

from typing import Any

import httpx

HOOKS = ("payment-completed", "plug-in", "cable-pulled", "advance", "overrun",
         "cancel-by-provider")


class HookUnavailable(Exception):
    """The candidate offers no hooks, or this one failed: the step cannot be evaluated."""


class Hooks:
    def __init__(self, control_url: str | None, *, timeout: float = 5.0) -> None:
        self.control_url = control_url.rstrip("/") if control_url else None
        self.timeout = timeout

    @property
    def available(self) -> bool:
        return self.control_url is not None

    async def call(self, hook: str, body: dict[str, Any]) -> Any:
        if self.control_url is None:
            raise HookUnavailable(f"the candidate declares no control_url, so the harness "
                                  f"cannot trigger {hook!r}")
        url = f"{self.control_url}/{hook}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise HookUnavailable(f"hook {url} failed: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise HookUnavailable(f"hook {url} answered HTTP {response.status_code}: "
                                  f"{response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            return None
