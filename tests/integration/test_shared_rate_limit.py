"""The channel intake's rate limit is shared by every hub process through the database (#17,
migration 0016): two hubs on one database, as two API processes behind a balancer, allow the
configured rate in all. A manual clock; the figures are worked out by hand in the comments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.domain.model import Role
from hub.settings import ChannelSettings, Settings
from tests.support.factories import draft

WEB = {"intake": {"channel": "web", "received_at": "2025-09-26T09:58:00+08:00"}}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, sqlite_synchronous="NORMAL", channels=ChannelSettings(intake_per_minute=4))


@pytest.fixture
def second_hub(settings, clock):
    from hub.runtime import build_hub

    h = build_hub(settings, clock)
    yield h
    h.close()


def test_two_processes_share_one_limit(hub, second_hub, clock) -> None:
    from hub.api.app import create_app

    key = hub.keys.create("city-portal", Role.CHANNEL, clock.now(), channel="web")
    with TestClient(create_app(hub)) as one, TestClient(create_app(second_hub)) as two:

        def file(client: TestClient) -> int:
            return client.post("/api/v1/channel/cases", json=draft(**WEB), headers={"X-API-Key": key}).status_code

        # The test clock stands at 10:00:00 local, 02:00:00 UTC: the start of a window.
        assert [file(one), file(two), file(one), file(two)] == [201, 201, 201, 201]
        refused = two.post("/api/v1/channel/cases", json=draft(**WEB), headers={"X-API-Key": key})
        assert refused.status_code == 429
        # 4 in this window, 0 s in: 60 s to its end, then 4 * (1 - t/60) <= 3 needs 15 s more.
        assert refused.headers["Retry-After"] == "75"
        assert file(one) == 429
        clock.advance(timedelta(seconds=75))
        assert file(one) == 201 and file(two) == 429
    with hub.db.read() as s:
        rows = s.execute(text("SELECT subject, count FROM rate_counters ORDER BY window_start")).all()
    assert [tuple(r) for r in rows] == [("intake:city-portal", 4), ("intake:city-portal", 1)]


def test_old_windows_are_deleted(hub, clock) -> None:
    from channels.rates import SharedRateWindow

    window = SharedRateWindow(hub.db, clock, "test", 10)
    for _ in range(3):
        window.take("k")
        clock.advance(timedelta(minutes=1))
    with hub.db.read() as s:
        assert s.execute(text("SELECT count(*) FROM rate_counters")).scalar() == 2  # this window and the one before
