"""Batch delivery, the peer's id on later messages, and transport resets, on a real SQLite
file and a real PostgreSQL, through the real webhook adapter to the sandbox sink on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DEAD, DELIVERED, PENDING, OutboxMessageRow
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.factories import draft
from tests.support.faults import ResettingProxy
from tests.support.live import LiveServer

AGENT = Actor(party="centre-agent", role=Role.AGENT)


@pytest.fixture
def sink():
    state = SinkState()
    with LiveServer(create_sink(state)) as live, ResettingProxy(live.port) as proxy:
        yield state, live.url, proxy


@pytest.fixture
def settings(db_url: str, sink) -> Settings:
    _, url, proxy = sink
    hook = {"timeout": 2.0, "connect_timeout": 1.0, "system": "sink"}
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={
            "batched": {
                "adapter": "webhook",
                "events": ["case.*"],
                "settings": {**hook, "url": f"{url}/events", "batch_url": f"{url}/events/batch", "batch_size": 4},
            },
            "proxied": {"adapter": "webhook", "enabled": False, "settings": {**hook, "url": f"{proxy.url}/events"}, "events": ["case.registered"]},
        },
        outbox=OutboxSettings(concurrency=2, batch=50, backoff_base_seconds=0.01, backoff_max_seconds=0.2, max_attempts=5, breaker_failures=100),
    )


def register(hub):
    return hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case


def rows(hub, destination: str) -> list[OutboxMessageRow]:
    with hub.db.read() as s:
        return list(s.execute(select(OutboxMessageRow).where(OutboxMessageRow.destination == destination).order_by(OutboxMessageRow.id)).scalars())


def received(state: SinkState) -> list[dict]:
    with state.lock:
        return [state.received[k] for k in state.order]


def test_batches_carry_one_message_per_case_and_keep_each_cases_order(hub, sink) -> None:
    state, _, _ = sink
    cases = [register(hub) for _ in range(10)]
    for case in cases:
        hub.cases.act(case.number, c.Accept(), AGENT)
    assert hub.handles.get(OutboxHandle).relay().drain(120) == 20
    assert max(state.batches) == 4 and sum(state.batches) == 20  # batches of up to batch_size
    assert len(state.batches) < 20
    got = received(state)
    for case in cases:
        mine = [(g["event_type"], g["sequence"]) for g in got if g["case_number"] == case.number]
        assert mine == [("case.registered", 1), ("case.accepted", 2)]
    assert {m.status for m in rows(hub, "batched")} == {DELIVERED}
    # the peer's id from the batch answer is kept on the case, and the second message of each
    # case (written before that id existed) carried it to the peer
    assert hub.cases.get(cases[0].number, AGENT).external_id("sink") == f"SINK-{cases[0].number}"
    accepted = [g for g in got if g["event_type"] == "case.accepted"]
    assert all(g["external_id"] == f"SINK-{g['case_number']}" for g in accepted)
    assert all(g.get("external_id") is None for g in got if g["event_type"] == "case.registered")


def test_each_message_of_a_batch_gets_its_own_verdict(hub, sink) -> None:
    state, _, _ = sink
    with hub.db.write() as s:
        hub.handles.get(OutboxHandle).enqueue(s, destination="batched", ordering_key="a", event_type="sink.accept", payload={})
        hub.handles.get(OutboxHandle).enqueue(s, destination="batched", ordering_key="b", event_type="sink.refuse", payload={})
        hub.handles.get(OutboxHandle).enqueue(s, destination="batched", ordering_key="c", event_type="sink.accept", payload={})
    hub.handles.get(OutboxHandle).relay().drain(120)
    status = {m.ordering_key: (m.status, m.last_error) for m in rows(hub, "batched")}
    assert status["a"] == (DELIVERED, None) and status["c"] == (DELIVERED, None)
    assert status["b"][0] == DEAD and "refused by the sink" in status["b"][1]
    assert state.batches == [3]


def test_a_whole_batch_failing_is_retried_and_a_refused_batch_is_split(hub, sink, clock) -> None:
    state, _, _ = sink
    for _ in range(3):
        register(hub)
    state.faults = ["500"]
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(120)
    assert [(m.status, m.attempts) for m in rows(hub, "batched")] == [(PENDING, 1)] * 3
    assert all("500" in m.last_error for m in rows(hub, "batched"))

    # the peer refuses the batch as a whole (400): each message is sent on its own and
    # gets its own verdict instead of sharing its neighbours' fate
    state.faults = ["400"]
    clock.advance(timedelta(seconds=1))
    relay.drain(120)
    assert [(m.status, m.attempts) for m in rows(hub, "batched")] == [(DELIVERED, 2)] * 3
    assert state.batches == [1, 1, 1] and len(received(state)) == 3


def test_a_reset_connection_is_retried_and_delivered_once_the_peer_heals(hub, db_url, sink, clock) -> None:
    from hub.runtime import build_hub

    state, _, proxy = sink
    settings = hub.settings.model_copy(deep=True)
    settings.destinations["proxied"].enabled = True
    settings.destinations = {"proxied": settings.destinations["proxied"]}
    other = build_hub(settings, clock)
    try:
        case = register(other)
        proxy.reset_next(2)
        relay = other.handles.get(OutboxHandle).relay()
        relay.drain(120)
        (m,) = rows(other, "proxied")
        assert m.status == PENDING and m.attempts == 1 and "transport failed" in m.last_error
        clock.advance(timedelta(seconds=1))
        relay.drain(120)
        (m,) = rows(other, "proxied")
        assert m.status == PENDING and m.attempts == 2
        clock.advance(timedelta(seconds=1))
        relay.drain(120)
        (m,) = rows(other, "proxied")
        assert (m.status, m.attempts) == (DELIVERED, 3) and proxy.resets_done == 2
        assert [g["case_number"] for g in received(state)] == [case.number]
    finally:
        other.close()


def test_batch_settings_are_checked(hub) -> None:
    from pydantic import ValidationError

    from adapters.webhook.adapter import WebhookSettings

    with pytest.raises(ValidationError, match="batch_size > 1 needs batch_url"):
        WebhookSettings.model_validate({"url": "http://127.0.0.1:1/e", "batch_size": 10})
    with pytest.raises(ValidationError, match="less than or equal to 500"):
        WebhookSettings.model_validate({"url": "http://127.0.0.1:1/e", "batch_url": "http://127.0.0.1:1/b", "batch_size": 501})


def test_old_delivered_messages_are_pruned_and_order_survives_it(hub, sink, clock) -> None:
    from outbox.admin import prune

    state, _, _ = sink
    case = register(hub)
    with hub.db.write() as s:
        hub.handles.get(OutboxHandle).enqueue(s, destination="batched", ordering_key="kb:1", event_type="sink.refuse", payload={})
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(120)
    assert {m.status for m in rows(hub, "batched")} == {DELIVERED, DEAD}

    clock.advance(timedelta(hours=167))
    assert relay.prune() == 0  # keep_delivered_hours (168) not reached
    clock.advance(timedelta(hours=2))
    assert relay.prune() == 1  # the delivered one; the dead letter stays for an operator
    assert [m.status for m in rows(hub, "batched")] == [DEAD]
    assert prune(hub, timedelta(hours=1), dead=True) == 1 and rows(hub, "batched") == []

    hub.cases.act(case.number, c.Accept(), AGENT)  # the case's next message keeps counting
    relay.drain(120)
    (m,) = rows(hub, "batched")
    assert (m.sequence, m.status) == (2, DELIVERED)
    assert [g["sequence"] for g in received(state) if g["case_number"] == case.number] == [1, 2]


def test_a_recorded_batch_is_logged_on_one_line_naming_each_message_and_counted_per_message(hub, sink, caplog) -> None:
    import logging

    state, _, _ = sink
    caplog.set_level(logging.INFO, logger="hub.outbox")
    cases = [register(hub) for _ in range(4)]
    handle = hub.handles.get(OutboxHandle)
    relay = handle.relay()
    assert relay.drain(120) == 4
    relay.close()
    assert state.batches == [4]
    lines = [r.getMessage() for r in caplog.records if r.name == "hub.outbox" and r.levelno == logging.INFO]
    [line] = [m for m in lines if "delivered" in m]
    assert line.startswith("batched: delivered 4 messages: ")
    for case in cases:
        assert f"batched case {case.number} seq 1 case.registered (attempt 1), the peer's id sink:SINK-{case.number}" in line
    # the counters as if counted one by one: four deliveries, four latencies
    registry = handle.metrics.registry
    assert registry.get_sample_value("outbox_deliveries_total", {"destination": "batched"}) == 4
    assert registry.get_sample_value("outbox_delivery_latency_seconds_count", {"destination": "batched"}) == 4
