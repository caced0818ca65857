"""The client's address behind a proxy (hub/api/client_address.py): X-Forwarded-For and
X-Real-IP are believed only from a trusted proxy, read from the right past every trusted hop.
Addresses and expectations written out by hand."""

from __future__ import annotations

import pytest

from hub.api.client_address import networks, resolve

PROXIES = networks(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    "peer, forwarded, real, expected",
    [
        # Not from a trusted proxy: the headers are the client's own words, never believed.
        ("203.0.113.7", "198.51.100.1", "198.51.100.2", "203.0.113.7"),
        # From the proxy: the address it forwards for.
        ("127.0.0.1", "198.51.100.1", None, "198.51.100.1"),
        # The client wrote a hop itself; the proxy appended the address it saw: that one counts.
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", None, "198.51.100.1"),
        # Two proxies of ours in a row (10.0.0.5 forwarded to 127.0.0.1): skip both.
        ("127.0.0.1", "198.51.100.1, 10.0.0.5", None, "198.51.100.1"),
        # Several headers are one list, in order.
        ("127.0.0.1", "6.6.6.6,198.51.100.1", None, "198.51.100.1"),
        # Every hop trusted: the leftmost is as near the client as is known.
        ("127.0.0.1", "10.0.0.9, 10.0.0.5", None, "10.0.0.9"),
        # An unreadable hop ends the walk at the proxy that passed it on.
        ("127.0.0.1", "198.51.100.1, garbage, 10.0.0.5", None, "10.0.0.5"),
        ("127.0.0.1", "garbage", None, "127.0.0.1"),
        # No X-Forwarded-For: X-Real-IP from a trusted proxy; a bad one is ignored.
        ("127.0.0.1", None, "198.51.100.3", "198.51.100.3"),
        ("127.0.0.1", None, "not-an-address", "127.0.0.1"),
        ("203.0.113.7", None, "198.51.100.3", "203.0.113.7"),
        # IPv6 proxies and clients.
        ("::1", "2001:db8::1", None, "2001:db8::1"),
        # A peer that is no address (a test client) is said as it is; none at all is unknown.
        ("testclient", "198.51.100.1", None, "testclient"),
        (None, "198.51.100.1", None, "unknown"),
    ],
)
def test_the_client_address(peer, forwarded, real, expected) -> None:
    assert resolve(peer, forwarded, real, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer_always() -> None:
    assert resolve("127.0.0.1", "198.51.100.1", "198.51.100.2", ()) == "127.0.0.1"


def test_a_bad_setting_is_named() -> None:
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        networks(["10.0.0.1", "10.0.0.300"])
