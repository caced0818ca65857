"""/metrics as Prometheus scrapes it from a live hub: requests and latency by route template
(never the raw path), cases by state and overdue, lease holders, the build. The bearer
token: test_metrics_token.py."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import draft

pytestmark = pytest.mark.e2e


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_by_route_template_cases_leases_and_build(hub, api, server) -> None:
    from hub import __version__
    from hub.leases import Lease

    assert api["agent"].post("/api/v1/cases", json=draft()).status_code == 201
    for number in ("512000209901010001", "512000209901010002"):
        assert api["agent"].get(f"/api/v1/cases/{number}").status_code == 404
    assert api["agent"].get("/no/such/page").status_code == 404
    assert Lease(hub.db, hub.clock, "scheduler", timedelta(minutes=5), holder="host-a:1").acquire()

    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    got = samples(text)
    key = ("hub_http_requests_total", (("method", "GET"), ("route", "/api/v1/cases/{number}"), ("status", "404")))
    assert got[key] == 2
    assert got[("hub_http_requests_total", (("method", "POST"), ("route", "/api/v1/cases"), ("status", "201")))] == 1
    assert got[("hub_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert "512000209901010001" not in text and "/no/such/page" not in text
    assert got[("hub_http_request_duration_seconds_count", (("method", "GET"), ("route", "/api/v1/cases/{number}")))] == 2
    assert got[("hub_cases", (("state", "registered"),))] == 1
    assert ("hub_cases_overdue", (("state", "registered"),)) not in got  # nothing is late yet
    expires = hub.clock.now() + timedelta(minutes=5)
    assert got[("hub_lease_expires_timestamp_seconds", (("holder", "host-a:1"), ("lease", "scheduler")))] == pytest.approx(expires.timestamp())
    build = [labels for (name, labels) in got if name == "hub_build_info"]
    assert len(build) == 1 and ("version", __version__) in build[0]
    for name in ("outbox_backlog", "hub_calendar_next_year_known"):  # the features' metrics stay on the same page
        assert f"# TYPE {name} gauge" in text
