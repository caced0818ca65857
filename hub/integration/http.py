"""HTTP clients for adapters' wire modules.

A relay builds one adapter per delivery thread; each httpx.Client would otherwise load the
CA bundle into a fresh TLS context (tens of milliseconds each, most of a small batch's
time). One verified context per process, shared read-only, is what they all need.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The default verifying context (certifi's CA bundle), built once per process."""
    return httpx.create_ssl_context()


def http_client(**kwargs: Any) -> httpx.Client:
    """httpx.Client with the shared TLS context unless the caller passes its own `verify`."""
    kwargs.setdefault("verify", tls_context())
    return httpx.Client(**kwargs)
