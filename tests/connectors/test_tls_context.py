"""The TLS context of a connector's HTTP client: the trusted certificates are loaded once, and only for a client
that may make a TLS handshake."""

from __future__ import annotations

import ssl

from hedgectl.connectors.base import tls_context


def test_a_client_that_may_speak_tls_gets_the_shared_context_with_the_trusted_certificates():
    shared = tls_context("https://api.backpack.exchange")
    assert shared.cert_store_stats()["x509_ca"] > 0
    assert shared.verify_mode is ssl.CERT_REQUIRED and shared.check_hostname
    assert tls_context("http://127.0.0.1:8080", "https://edge.grvt.io") is shared
    assert tls_context() is shared  # a client that does not say where it sends


def test_a_plain_http_client_loads_no_certificate_and_its_context_would_refuse_any_handshake():
    plain = tls_context("http://127.0.0.1:8080", "HTTP://localhost:9000/api")
    assert plain is not tls_context("https://api.backpack.exchange")
    assert plain.cert_store_stats()["x509_ca"] == 0
    assert plain.verify_mode is ssl.CERT_REQUIRED and plain.check_hostname
