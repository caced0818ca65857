"""The webhook sink's /_kit endpoints (the kit's peer control, integration_kit/peer.py), which
it mounts from integration_kit/peer_routes.py as the county and legacy SOAP sandboxes do.
Expected answers written from the protocol in docs/integrator-guide.md."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sandbox.webhook_sink import SinkState, create_sink

UNSUPPORTED = "unsupported fault mode {!r}; supported: 500, 429, 400, garbage, slow"


@pytest.fixture
def sink() -> tuple[TestClient, SinkState]:
    state = SinkState()
    return TestClient(create_sink(state)), state


def _deliver(client: TestClient, key: str, number: str = "51200020240301000001"):
    return client.post("/events", json={"case_number": number, "event_type": "case.dispatched"}, headers={"Idempotency-Key": key})


def test_a_planned_fault_fails_the_next_delivery_only(sink) -> None:
    client, _ = sink
    assert client.post("/_kit/fault", json={"mode": "500"}).status_code == 204
    assert _deliver(client, "k1").status_code == 500
    assert _deliver(client, "k1").status_code == 200


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"mode": "boom"}, "boom"),  # a mode the sink cannot produce
        ({"mode": "busy"}, "busy"),  # a SOAP sandbox's mode, not the sink's
        ({}, None),  # no mode
        (["500"], None),  # a body that is not an object
    ],
)
def test_a_mode_the_sink_has_not_is_422_naming_the_ones_it_has(sink, body, named) -> None:
    client, state = sink
    answer = client.post("/_kit/fault", json=body)
    assert answer.status_code == 422
    assert answer.json() == {"error": UNSUPPORTED.format(named)}
    assert state.faults == []


def test_a_body_that_is_not_json_is_422_not_a_500(sink) -> None:
    client, state = sink
    answer = client.post("/_kit/fault", content=b"mode=500", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 422 and answer.json() == {"error": UNSUPPORTED.format(None)}
    assert state.faults == []


def test_received_lists_each_message_once_in_order(sink) -> None:
    client, _ = sink
    _deliver(client, "k1", "51200020240301000001")
    _deliver(client, "k2", "51200020240301000002")
    _deliver(client, "k1", "51200020240301000001")  # a resend: deduped
    assert client.get("/_kit/received").json() == {
        "messages": [
            {"key": "k1", "case_number": "51200020240301000001", "event_type": "case.dispatched"},
            {"key": "k2", "case_number": "51200020240301000002", "event_type": "case.dispatched"},
        ]
    }


def test_reset_forgets_messages_counts_and_planned_faults(sink) -> None:
    client, _ = sink
    _deliver(client, "k1")
    client.post("/_kit/fault", json={"mode": "429"})
    assert client.post("/_kit/reset").status_code == 204
    assert client.get("/_kit/received").json() == {"messages": []}
    assert client.get("/received").json() == {"count": 0, "duplicates": 0, "attempts": 0, "messages": []}
    assert _deliver(client, "k2").status_code == 200  # the planned 429 went with the reset


def test_the_sink_offers_no_case_to_pull(sink) -> None:
    client, _ = sink
    answer = client.post("/_kit/offer")
    assert answer.status_code == 404 and answer.json() == {"error": "the webhook sink assigns no cases to pull"}
