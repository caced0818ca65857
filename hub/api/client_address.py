"""The client's address, as the lockouts and the access log count it.

Behind a reverse proxy every request comes from the proxy. Only a request whose peer is one
of the trusted proxies (setting `trusted_proxies`) has its `X-Forwarded-For` (or, without
it, `X-Real-IP`) believed: anyone else could write any address there and so escape a
lockout or lock out someone else. `X-Forwarded-For` is read from the right, past every
trusted proxy: the first address that is not one is the client (the hops to its left were
written by the client itself and prove nothing). uvicorn's own `--proxy-headers` is off
(hub/runtime.py), so this setting is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"
SCOPE_KEY = "client_address"


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """'10.0.0.5', '10.0.0.0/8', '::1' -> networks; ValueError names a bad entry."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry!r}") from None
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def resolve(peer: str | None, forwarded_for: str | None, real_ip: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy that says who it
    forwards for. An unreadable hop ends the walk at the proxy that passed it on."""
    peer_ip = _ip(peer) if peer else None
    if peer_ip is None:
        return peer or UNKNOWN
    if not _trusted(peer_ip, trusted):
        return str(peer_ip)
    if forwarded_for:
        client = peer_ip
        for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
            hop_ip = _ip(hop)
            if hop_ip is None:
                return str(client)
            client = hop_ip
            if not _trusted(hop_ip, trusted):
                return str(hop_ip)
        return str(client)  # every hop a trusted proxy: the leftmost is as near the client as we know
    if real_ip:
        real = _ip(real_ip)
        if real is not None:
            return str(real)
    return str(peer_ip)


def from_scope(scope: Scope, trusted: Sequence[Network]) -> str:
    client = scope.get("client")
    if not trusted:  # no proxy is believed: the forwarding headers are never read (every request passes here)
        return resolve(client[0] if client else None, None, None, trusted)
    headers: dict[bytes, list[str]] = {}
    for name, value in scope.get("headers") or []:
        headers.setdefault(name.lower(), []).append(value.decode("latin-1"))
    forwarded = ",".join(headers.get(b"x-forwarded-for", [])) or None  # several headers are one list
    reals = headers.get(b"x-real-ip")
    real = reals[-1] if reals else None
    return resolve(client[0] if client else None, forwarded, real, trusted)


def client_address(request_or_scope) -> str:  # noqa: ANN001 (a Request or an ASGI scope)
    """What RequestContext put on the request; the peer where it did not run (an app built
    without it)."""
    scope = getattr(request_or_scope, "scope", request_or_scope)
    state = scope.get("state") or {}
    if SCOPE_KEY in state:
        return state[SCOPE_KEY]
    client = scope.get("client")
    return client[0] if client else UNKNOWN
