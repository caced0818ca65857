"""/metrics behind a bearer token (setting metrics_token): Prometheus' bearer_token."""

from __future__ import annotations

import httpx
import pytest

from hub.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", metrics_token="scrape-secret-0123456789")


def test_metrics_behind_a_bearer_token(server) -> None:
    refused = httpx.get(f"{server.url}/metrics", timeout=30)
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/problem+json")
    assert "hub_build_info" not in refused.text
    wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    allowed = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer scrape-secret-0123456789"}, timeout=30)
    assert allowed.status_code == 200 and "hub_build_info" in allowed.text
