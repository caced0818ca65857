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

from hub.logmask import request_id


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The default verifying context (certifi's CA bundle), built once per process."""
    return httpx.create_ssl_context()


def _send_request_id(request: httpx.Request) -> None:
    rid = request_id.get()
    if rid is not None and "x-request-id" not in request.headers:
        request.headers["X-Request-ID"] = rid


def http_client(**kwargs: Any) -> httpx.Client:
    """httpx.Client with the shared TLS context unless the caller passes its own `verify`;
    a call made for a request (or for the message it caused) carries its X-Request-ID."""
    kwargs.setdefault("verify", tls_context())
    hooks = dict(kwargs.pop("event_hooks", None) or {})
    hooks["request"] = [*hooks.get("request", []), _send_request_id]
    return httpx.Client(event_hooks=hooks, **kwargs)
