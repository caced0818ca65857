"""The default install talks to nobody: the shipped mapping files name peers' shapes, not
peers to call; only a destination in the settings makes the hub poll or call one."""

from __future__ import annotations

from pathlib import Path

import yaml

from hub.runtime import build_hub
from hub.settings import Settings

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
# Workers that reach out to a peer: county feeds, the province's exchange, a bridged line.
CALLERS = ("county-poller-", "province", "legacy-puller-")


def test_a_default_hub_polls_and_calls_nobody(db_url, clock) -> None:
    hub = build_hub(Settings(database_url=db_url), clock)
    try:
        assert hub.settings.destinations == {}  # the relay has nobody to deliver to
        assert [w.name for w in hub.workers if w.name.startswith(CALLERS)] == []
    finally:
        hub.close()


def test_the_shipped_county_files_name_no_loopback_peer() -> None:
    # A sandbox address in a shipped file is a call to whatever listens on that port.
    for path in sorted((MAPPINGS / "county").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        urls = [doc["outbound"]["url"], doc.get("transport", {}).get("poll_url")]
        assert not any(u and ("127.0.0.1" in u or "localhost" in u) for u in urls), (path.name, urls)


def test_a_county_destination_in_the_settings_starts_its_poller_at_its_address(db_url, clock) -> None:
    feed = "http://127.0.0.1:9/feed"  # never called here: the worker is not started
    settings = Settings(
        database_url=db_url,
        destinations={"county-lezhi": {"adapter": "county", "settings": {"county": "lezhi", "url": "http://127.0.0.1:9/gd", "poll_url": feed}}},
    )
    hub = build_hub(settings, clock)
    try:
        pollers = [w for w in hub.workers if w.name.startswith("county-poller-")]
        assert [(w.name, w.url) for w in pollers] == [("county-poller-lezhi", feed)]
    finally:
        hub.close()
