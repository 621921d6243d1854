"""The TLS context every HTTP client of the harness and the mocks shares (harness/tls.py) is
one object, built once, and it still verifies what a client must verify."""

from __future__ import annotations

import ssl

from harness import tls


def test_every_client_shares_one_context_that_verifies_certificates_and_hosts() -> None:
    context = tls.context()
    assert tls.context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded
