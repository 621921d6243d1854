"""The one TLS context every HTTP client of the harness shares, and how long a client keeps a
connection nobody uses (KEEPALIVE_S).

httpx builds a fresh context for each client it makes, reading the whole CA bundle (some 20 ms
of CPU), and the harness makes a client for each test-hook call, each call of a BAP's client
API and each hostile callback: that was a third of a BAP run's CPU. A context is safe to share
between clients and threads; it is built as httpx builds its own (certifi's bundle, or the one
SSL_CERT_FILE or SSL_CERT_DIR names).
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx

# An idle kept connection is dropped after this, before a uvicorn peer (5 s, as our parties
# and most Python stacks) closes it under the next request: that race failed a registry lookup
# now and then ("registry unavailable") and lost a callback in a soak.
KEEPALIVE_S = 4.0


@cache
def context() -> ssl.SSLContext:
    return httpx.create_ssl_context()
