"""HMAC-SHA256 request signatures for county pushes.

    X-County-Timestamp: 1758851880                      (Unix seconds, when the county signed)
    X-County-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + raw body)>

The timestamp must lie inside the county's replay window around the hub's clock, and a
signature is accepted once: the same signed request sent again is a replay.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from adapters.county.refusals import TicketRefused

TIMESTAMP_HEADER = "X-County-Timestamp"
SIGNATURE_HEADER = "X-County-Signature"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def _unauthorized(field: str, reason: str) -> TicketRefused:
    return TicketRefused(401, "bad-signature", "Signature missing or wrong", f"{field}: {reason}", [{"field": field, "reason": reason}])


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime, window_seconds: int) -> str:
    """The signature's hex digest if it is good; TicketRefused (401) naming the header if not."""
    if not timestamp:
        raise _unauthorized(f"header.{TIMESTAMP_HEADER}", "required: this county signs its requests")
    if not signature:
        raise _unauthorized(f"header.{SIGNATURE_HEADER}", "required: this county signs its requests")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise _unauthorized(f"header.{TIMESTAMP_HEADER}", "Unix seconds expected")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > window_seconds:
        raise _unauthorized(
            f"header.{TIMESTAMP_HEADER}", f"outside the replay window of {window_seconds} s (off by {int(skew)} s): sign again with the current time"
        )
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected, signature.strip()):
        raise _unauthorized(f"header.{SIGNATURE_HEADER}", "does not match the body and timestamp")
    return expected.removeprefix("sha256=")
