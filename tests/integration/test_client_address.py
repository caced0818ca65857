"""Behind a proxy (#17): the lookup lockouts and the access log count the client the trusted
proxy forwards for, and nobody else's X-Forwarded-For. In-process (ASGI) on a real database.
Unknown case numbers lock out like real ones (docs/channels.md), so no case is needed."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from hub.settings import ChannelSettings, Settings

PROXY = ("10.0.0.5", 40000)
STRANGER = ("203.0.113.7", 40000)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        trusted_proxies=["10.0.0.0/24"],
        channels=ChannelSettings(lookup_failures_per_case=100, lookup_failures_per_client=2),
    )


@pytest.fixture
def app(hub):
    from hub.api.app import create_app

    return create_app(hub)


def lookup(client: TestClient, number: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(f"/api/v1/public/cases/{number}/lookup", json={"code": "AAAAAA"}, headers=headers).status_code


def test_lockouts_count_the_forwarded_client_from_a_trusted_proxy(app) -> None:
    with TestClient(app, client=PROXY) as proxy:
        assert [lookup(proxy, f"5120002025000000{i}", "198.51.100.1") for i in range(3)] == [404, 404, 429]
        # Another citizen behind the same proxy is not locked out by the first.
        assert lookup(proxy, "51200020250000010", "198.51.100.2") == 404
        # A client that forges a hop of its own is still counted as the address the proxy saw.
        assert lookup(proxy, "51200020250000011", "198.51.100.2, 198.51.100.1") == 429
        # X-Real-IP, when the proxy sends that instead.
        status = proxy.post("/api/v1/public/cases/51200020250000012/lookup", json={"code": "AAAAAA"}, headers={"X-Real-IP": "198.51.100.1"}).status_code
        assert status == 429


def test_a_stranger_cannot_escape_its_lockout_with_the_header(app) -> None:
    with TestClient(app, client=STRANGER) as stranger:
        statuses = [lookup(stranger, f"5120002025000002{i}", f"198.51.100.{i + 10}") for i in range(3)]
        assert statuses == [404, 404, 429]
    # ... nor lock out the address it named.
    with TestClient(app, client=PROXY) as proxy:
        assert lookup(proxy, "51200020250000030", "198.51.100.10") == 404


def test_the_access_log_names_the_forwarded_client(app, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="hub.access"), TestClient(app, client=PROXY) as proxy:
        proxy.get("/api/v1/health", headers={"X-Forwarded-For": "198.51.100.1"})
        proxy.get("/open311/v2/services.json", params={"api_key": "hub_secret_key"})
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.access"]
    assert lines[0].startswith("GET /api/v1/health 200 ") and lines[0].endswith(" from 198.51.100.1")
    assert lines[1].endswith(" from 10.0.0.5")  # no header: the proxy itself
    assert "hub_secret_key" not in lines[1] and "api_key=***" in lines[1]


def test_a_bad_trusted_proxy_setting_stops_the_start() -> None:
    with pytest.raises(ValueError, match="not an IP address or network: 'proxy.local'"):
        Settings(trusted_proxies=["proxy.local"])
