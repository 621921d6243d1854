"""The test-hook client: how the engine calls a candidate BPP's hooks (the contract, with
the hook names and bodies, is harness/beckn/hooks.py)."""

from __future__ import annotations

from typing import Any

import httpx

from harness import tls
from harness.beckn.hooks import HOOKS

__all__ = ["HOOKS", "HookUnavailable", "Hooks"]


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
            async with httpx.AsyncClient(timeout=self.timeout, verify=tls.context()) as client:
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
