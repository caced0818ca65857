"""The outbox on a real SQLite file and a real PostgreSQL: messages written in the case
transaction, routed by subscriptions, delivered by the relay through the real webhook
adapter to the sandbox sink over loopback HTTP, with its faults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, ExternalRef, Role
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DEAD, DELIVERED, PENDING, OutboxMessageRow
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.factories import draft
from tests.support.live import LiveServer, free_port

AGENT = Actor(party="centre-agent", role=Role.AGENT)


# The adapter gives up on an answer after TIMEOUT_SECONDS; the sink's "slow" fault answers later
# than that. Generous: on the manual clock a timed-out delivery waits for its retry until the
# test moves the clock, so a busy machine's slow answer to a plain delivery would leave its
# case's later messages undelivered when drain stops (nothing due).
TIMEOUT_SECONDS = 5.0


@pytest.fixture
def sink():
    state = SinkState(slow_seconds=TIMEOUT_SECONDS + 1.0)
    with LiveServer(create_sink(state)) as live:
        yield state, live.url


@pytest.fixture
def outbox_cfg() -> OutboxSettings:
    # Concurrency 1 makes the order in which the sink pops its faults deterministic.
    return OutboxSettings(concurrency=1, batch=10, backoff_base_seconds=0.01, backoff_max_seconds=0.5, max_attempts=6, breaker_failures=50, lease_seconds=30)


@pytest.fixture
def settings(db_url: str, sink, outbox_cfg) -> Settings:
    _, url = sink
    hook = {"url": f"{url}/events", "timeout": TIMEOUT_SECONDS, "connect_timeout": TIMEOUT_SECONDS}
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        outbox=outbox_cfg,
        destinations={
            "all": {"adapter": "webhook", "settings": {**hook, "system": "sink"}, "events": ["case.*"]},
            "units": {
                "adapter": "webhook",
                "settings": hook,
                "events": ["case.dispatched", "case.signed_off"],
                "cases": {"units": ["ZY-SCJGJ"]},
                "personal_data": True,
            },
            "prov": {"adapter": "webhook", "settings": hook, "events": ["case.*"], "cases": {"with_ref": "province"}},
            "anyue": {"adapter": "webhook", "settings": hook, "events": ["case.registered"], "cases": {"divisions": ["512021"]}},
        },
    )


def register(hub, **changes):
    return hub.cases.register(CaseDraft.model_validate(draft(**changes)), AGENT).case


def messages(hub, destination: str | None = None) -> list[OutboxMessageRow]:
    with hub.db.read() as s:
        stmt = select(OutboxMessageRow).order_by(OutboxMessageRow.id)
        if destination:
            stmt = stmt.where(OutboxMessageRow.destination == destination)
        return list(s.execute(stmt).scalars())


def relay(hub):
    return hub.handles.get(OutboxHandle).relay()


def received(state: SinkState) -> list[dict]:
    with state.lock:
        return [state.received[k] for k in state.order]


# -- same transaction, routing ---------------------------------------------------------------
def test_messages_commit_with_the_case_and_vanish_with_its_rollback(hub) -> None:
    case = register(hub)
    assert [(m.destination, m.event_type, m.sequence) for m in messages(hub)] == [("all", "case.registered", 1)]

    def boom(session, case, events):
        raise RuntimeError("a later sink fails")

    hub.cases.sinks.append(boom)
    with pytest.raises(RuntimeError):
        hub.cases.act(case.number, c.Accept(), AGENT)
    hub.cases.sinks.remove(boom)
    assert len(messages(hub)) == 1  # the accept's message went with its rollback
    assert hub.cases.get(case.number, AGENT).version == case.version


def test_subscriptions_route_events_by_type_and_case_scope(hub) -> None:
    yanjiang = register(hub)
    anyue = register(hub, **{"place.division_code": "512021", "place.address": "安岳县岳阳镇外南街8号"})
    hub.cases.act(yanjiang.number, c.Accept(), AGENT)
    hub.cases.act(yanjiang.number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    routed = {(m.destination, m.case_number, m.event_type) for m in messages(hub)}
    assert routed == {
        ("all", yanjiang.number, "case.registered"),
        ("all", yanjiang.number, "case.accepted"),
        ("all", yanjiang.number, "case.dispatched"),
        ("all", anyue.number, "case.registered"),
        ("units", yanjiang.number, "case.dispatched"),  # only dispatch events, only ZY-SCJGJ's cases
        ("anyue", anyue.number, "case.registered"),  # only cases in 512021
    }  # 'prov' wants cases carrying a province ref: none yet

    with hub.db.write() as s:
        from hub.db.repository import CaseRepository

        CaseRepository(s).attach_ref(anyue.number, ExternalRef(system="province", external_id="SC-9"))
    hub.cases.act(anyue.number, c.Accept(), AGENT)
    assert [(m.event_type, m.sequence) for m in messages(hub, "prov")] == [("case.accepted", 1)]
    assert [m.sequence for m in messages(hub, "all") if m.case_number == yanjiang.number] == [1, 2, 3]

    masked = messages(hub, "all")[0].body
    full = messages(hub, "units")[0].body
    assert masked["case"]["person"]["name"] == "张*" and masked["case"]["person"]["phone"] == "138****8000"
    assert "12号" not in masked["case"]["place"]["address"]
    assert full["case"]["person"]["name"] == "张三" and full["case"]["person"]["phone"] == "13800138000"
    assert "history" not in full["case"]
    event_ids = {m.idempotency_key.split(":")[1] for m in messages(hub, "all")}
    assert len(event_ids) == 5 and all(m.idempotency_key.startswith("all:") for m in messages(hub, "all"))


def test_generic_enqueue_orders_per_key_and_joins_the_callers_transaction(hub, sink) -> None:
    state, _ = sink
    with hub.db.write() as s:
        enqueue = hub.handles.get(OutboxHandle).enqueue
        enqueue(s, destination="all", ordering_key="kb:A1", event_type="knowledge.published", payload={"v": 1})
        enqueue(s, destination="all", ordering_key="kb:A1", event_type="knowledge.retired", payload={"v": 2})
    with pytest.raises(RuntimeError):
        with hub.db.write() as s:
            enqueue(s, destination="all", ordering_key="kb:A2", event_type="knowledge.published", payload={"v": 3})
            raise RuntimeError("the article's transaction fails")
    assert [(m.ordering_key, m.sequence) for m in messages(hub)] == [("kb:A1", 1), ("kb:A1", 2)]
    assert relay(hub).drain(120) == 2
    got = received(state)
    assert [(g["event_type"], g["event"]["v"], g["sequence"]) for g in got] == [("knowledge.published", 1, 1), ("knowledge.retired", 2, 2)]
    assert got[0]["case_number"] == "" and got[0]["idempotency_key"] == "all:kb:A1:1"


# -- delivery, order, retries -------------------------------------------------------------------
def test_delivers_in_order_with_stable_keys_and_attaches_the_peers_id(hub, sink) -> None:
    state, _ = sink
    case = register(hub)
    hub.cases.act(case.number, c.Accept(), AGENT)
    assert relay(hub).drain(120) == 2
    got = received(state)
    assert [(g["event_type"], g["sequence"], g["attempt"]) for g in got] == [("case.registered", 1, 1), ("case.accepted", 2, 1)]
    assert [g["idempotency_key"] for g in got] == [m.idempotency_key for m in messages(hub)]
    assert all(m.status == DELIVERED and m.attempts == 1 and m.delivered_at is not None for m in messages(hub))
    stored = hub.cases.get(case.number, AGENT)
    assert stored.external_id("sink") == f"SINK-{case.number}" and stored.version == 2  # no version bump


def test_a_failing_first_message_holds_back_its_case_while_other_cases_flow(hub, sink, clock) -> None:
    state, _ = sink
    state.faults = ["slow"]  # the first delivery hangs past the adapter's timeout
    a = register(hub)
    hub.cases.act(a.number, c.Accept(), AGENT)
    b = register(hub)
    hub.cases.act(b.number, c.Accept(), AGENT)
    relay(hub).drain(120)
    # The hung peer applied A's first message but answered after we gave up on it; B flowed
    # meanwhile (the slow answer holds up no other connection of the peer).
    assert [(g["case_number"], g["event_type"]) for g in received(state)] == [
        (a.number, "case.registered"),
        (b.number, "case.registered"),
        (b.number, "case.accepted"),
    ]
    a1, a2 = [m for m in messages(hub) if m.case_number == a.number]
    assert a1.status == PENDING and a1.attempts == 1 and "timed out" in a1.last_error
    assert a2.status == PENDING and a2.attempts == 0  # never claimed while a1 waits

    clock.advance(timedelta(minutes=5))
    relay(hub).drain(120)
    assert [(g["case_number"], g["event_type"]) for g in received(state)][3:] == [(a.number, "case.accepted")]
    assert state.duplicates == 1  # a1 sent again with its key: the peer applied it once
    assert {m.status for m in messages(hub)} == {DELIVERED}


def test_transient_faults_retry_with_backoff_and_retry_after_until_the_peer_heals(hub, sink, clock) -> None:
    state, _ = sink
    state.faults = ["500", "429", "garbage"]
    case = register(hub)
    r = relay(hub)
    r.drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (PENDING, 1) and "500" in m.last_error
    first_wait = (m.available_at - clock.now()).total_seconds()
    assert 0 <= first_wait <= 0.5  # full jitter under the cap

    clock.advance(timedelta(seconds=1))
    r.drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (PENDING, 2) and "429" in m.last_error
    assert (m.available_at - clock.now()).total_seconds() >= 1.0  # the peer's Retry-After: 1 is a floor
    clock.advance(timedelta(seconds=0.6))
    assert r.drain(120) == 0  # not yet

    clock.advance(timedelta(seconds=1))
    r.drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (PENDING, 3) and "not JSON" in m.last_error

    clock.advance(timedelta(seconds=1))
    r.drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts, m.last_error) == (DELIVERED, 4, None)
    assert state.attempts == 4 and len(state.order) == 1
    assert received(state)[0]["attempt"] == 4 and received(state)[0]["case_number"] == case.number


def test_a_fresh_relay_continues_the_backoff_from_the_stored_attempts(hub, sink, clock, monkeypatch) -> None:
    """A restart must not reset the backoff: the relay keeps no count of its own, the row does."""
    from types import SimpleNamespace

    import tenacity.wait

    # Full jitter draws from [0, window]; take the top of the window so each wait names its attempt.
    monkeypatch.setattr(tenacity.wait, "random", SimpleNamespace(uniform=lambda low, high: high))
    state, _ = sink
    state.faults = ["500"] * 6
    cfg = hub.settings.outbox.model_copy(update={"backoff_base_seconds": 1.0, "backoff_max_seconds": 600.0, "max_attempts": 12})
    register(hub)

    def fail_once(r) -> float:  # noqa: ANN001
        r.drain(120)
        (m,) = messages(hub)
        assert m.status == PENDING and "500" in m.last_error
        wait = (m.available_at - clock.now()).total_seconds()
        clock.advance(timedelta(seconds=wait))
        return wait

    before = hub.handles.get(OutboxHandle).relay(settings=cfg)
    assert [fail_once(before) for _ in range(5)] == pytest.approx([1, 2, 4, 8, 16])
    before.close()

    after = hub.handles.get(OutboxHandle).relay(settings=cfg)  # a new relay, as after a restart
    assert fail_once(after) == pytest.approx(32)  # attempt 6's window, not attempt 1's (1 s)
    assert messages(hub)[0].attempts == 6
    after.drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (DELIVERED, 7) and received(state)[0]["attempt"] == 7
    after.close()


def test_a_peer_that_is_down_then_starts_gets_the_message(hub, db_url, clock, outbox_cfg) -> None:
    from hub.runtime import build_hub

    port = free_port()
    settings = Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        outbox=outbox_cfg,
        destinations={
            "late": {"adapter": "webhook", "settings": {"url": f"http://127.0.0.1:{port}/events", "connect_timeout": 0.5}, "events": ["case.registered"]}
        },
    )
    other = build_hub(settings, clock)
    try:
        register(other)
        other.handles.get(OutboxHandle).relay().drain(120)
        (m,) = messages(other, "late")
        assert m.status == PENDING and "transport failed" in m.last_error
        state = SinkState()
        with LiveServer(create_sink(state), port=port):
            clock.advance(timedelta(seconds=1))
            other.handles.get(OutboxHandle).relay().drain(120)
        assert messages(other, "late")[0].status == DELIVERED and len(state.order) == 1
    finally:
        other.close()


def test_exhausted_attempts_go_to_dead_letters(hub, sink, clock) -> None:
    state, _ = sink
    state.faults = ["500"] * 6
    register(hub)
    r = relay(hub)
    for _ in range(6):
        r.drain(120)
        clock.advance(timedelta(seconds=1))
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (DEAD, 6) and m.last_error.startswith("gave up after 6 attempts")
    assert state.order == []


# -- operators --------------------------------------------------------------------------------
def test_permanent_refusal_is_dead_lettered_visible_and_replayable(hub, sink, api) -> None:
    state, _ = sink
    state.faults = ["400"]
    case = register(hub)
    relay(hub).drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (DEAD, 1) and "400" in m.last_error and "bad case" in m.last_error

    sup = api["supervisor"]
    dead = sup.get("/api/v1/outbox/dead").json()
    assert [(d["id"], d["case_number"], d["destination"]) for d in dead] == [(m.id, case.number, "all")]
    assert "400" in dead[0]["last_error"]
    status = {d["destination"]: d for d in sup.get("/api/v1/outbox/destinations").json()}
    assert status["all"]["dead"] == 1 and status["all"]["backlog"] == 0

    assert api["agent"].post("/api/v1/outbox/replay", json={"ids": [m.id]}).status_code == 403
    bad = sup.post("/api/v1/outbox/replay", json={})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert sup.post("/api/v1/outbox/replay", json={"ids": [m.id]}).json() == {"replayed": 1}
    relay(hub).drain(120)
    (m,) = messages(hub)
    assert (m.status, m.attempts) == (DELIVERED, 1)
    assert [g["idempotency_key"] for g in received(state)] == [m.idempotency_key]


def test_pause_and_resume_a_destination(hub, sink, api) -> None:
    state, _ = sink
    sup = api["supervisor"]
    paused = sup.post("/api/v1/outbox/destinations/all/pause", json={"reason": "peer maintenance"}).json()
    assert paused["paused"] and paused["paused_by_operator"] and paused["pause_reason"] == "peer maintenance"
    assert sup.post("/api/v1/outbox/destinations/nowhere/pause").status_code == 404
    register(hub)
    assert relay(hub).drain(3) == 0 and state.attempts == 0
    status = {d["destination"]: d for d in sup.get("/api/v1/outbox/destinations").json()}
    assert status["all"]["backlog"] == 1 and status["all"]["oldest_age_seconds"] is not None

    metrics = api["anonymous"].get("/metrics").text
    assert 'outbox_backlog{destination="all"} 1.0' in metrics
    assert 'outbox_destination_paused{destination="all"} 1.0' in metrics

    resumed = sup.post("/api/v1/outbox/destinations/all/resume").json()
    assert not resumed["paused"]
    from outbox import admin

    # Who resumed is recorded, as who paused is (the console shows it beside the destination).
    assert next(d for d in admin.backlog(hub) if d["destination"] == "all")["last_resume"].startswith("centre-supervisor，")
    assert relay(hub).drain(120) == 1 and len(state.order) == 1


def test_a_destination_that_keeps_failing_is_paused_for_everyone(hub, sink, clock) -> None:
    state, _ = sink
    state.faults = ["500", "500"]
    for _ in range(3):
        register(hub)
    cfg = hub.settings.outbox.model_copy(update={"breaker_failures": 2, "breaker_pause_seconds": 60})
    hub.handles.get(OutboxHandle).relay(settings=cfg).drain(120)
    attempts = [m.attempts for m in messages(hub)]
    assert attempts == [1, 1, 0]  # the third was never tried: the breaker opened after two failures
    other_relay = hub.handles.get(OutboxHandle).relay(settings=cfg)  # shared state: another relay holds off too
    clock.advance(timedelta(seconds=30))
    assert other_relay.drain(3) == 0
    clock.advance(timedelta(seconds=31))
    other_relay.drain(120)
    assert {m.status for m in messages(hub)} == {DELIVERED} and len(state.order) == 3


def test_after_the_breaker_pause_one_probe_goes_out_not_a_burst(hub, sink, clock) -> None:
    state, _ = sink
    state.faults = ["500", "500", "500"]
    for _ in range(5):
        register(hub)
    cfg = hub.settings.outbox.model_copy(update={"breaker_failures": 2, "breaker_pause_seconds": 60})
    hub.handles.get(OutboxHandle).relay(settings=cfg).drain(120)
    assert state.attempts == 2  # the breaker opened after two failures

    clock.advance(timedelta(seconds=61))  # past the pause (and every backoff): the peer is still failing
    hub.handles.get(OutboxHandle).relay(settings=cfg).drain(120)
    assert state.attempts == 3  # one probe, which failed: paused again
    assert sorted(m.attempts for m in messages(hub, "all")) == [0, 0, 0, 1, 2]
    with hub.db.read() as s:
        from outbox.tables import OutboxDestinationRow

        assert s.get(OutboxDestinationRow, "all").paused_until > clock.now()

    clock.advance(timedelta(seconds=61))  # the peer has healed: the probe succeeds and the rest follow
    hub.handles.get(OutboxHandle).relay(settings=cfg).drain(120)
    assert {m.status for m in messages(hub, "all")} == {DELIVERED} and len(state.order) == 5
    assert state.attempts == 8  # 3 failures, then each of the 5 once


def test_resume_lifts_the_breaker_for_the_relay_that_tripped_it_too(hub, sink, clock) -> None:
    from outbox.admin import resume

    state, _ = sink
    state.faults = ["500", "500"]
    register(hub)
    register(hub)
    cfg = hub.settings.outbox.model_copy(update={"breaker_failures": 2, "breaker_pause_seconds": 600})
    r = hub.handles.get(OutboxHandle).relay(settings=cfg)
    try:
        r.drain(120)
        assert [m.attempts for m in messages(hub)] == [1, 1] and state.attempts == 2
        assert resume(hub, "all")  # docs/outbox.md: "`resume` also lifts the breaker"
        clock.advance(timedelta(seconds=1))  # past both backoffs, far inside the 600 s pause
        assert r.drain(2) == 2  # claimed once each and delivered, not claimed and given back over and over
        assert {m.status for m in messages(hub)} == {DELIVERED}
    finally:
        r.close()


def test_metrics_count_deliveries_and_latency(hub, sink, api) -> None:
    register(hub)
    register(hub)
    relay(hub).drain(120)
    text = api["anonymous"].get("/metrics").text
    assert 'outbox_deliveries_total{destination="all"} 2.0' in text
    assert 'outbox_delivery_latency_seconds_count{destination="all"} 2.0' in text
    assert 'outbox_backlog{destination="all"} 0.0' in text
    with hub.db.read() as s:
        assert s.execute(select(func.count()).select_from(OutboxMessageRow)).scalar_one() == 2


def test_metrics_count_failures_by_kind_and_the_oldest_age_of_the_backlog(hub, sink, api, clock) -> None:
    state, _ = sink
    state.faults = ["500", "400"]
    retried = register(hub)  # 500: retried later
    refused = register(hub)  # 400: dead-lettered
    relay(hub).drain(120)
    assert {m.case_number: m.status for m in messages(hub)} == {retried.number: PENDING, refused.number: DEAD}
    clock.advance(timedelta(seconds=90))  # the retried one has waited 90 s since its case committed
    text = api["anonymous"].get("/metrics").text
    assert 'outbox_failures_total{destination="all",kind="transient"} 1.0' in text
    assert 'outbox_failures_total{destination="all",kind="permanent"} 1.0' in text
    assert 'outbox_backlog{destination="all"} 1.0' in text
    assert 'outbox_oldest_age_seconds{destination="all"} 90.0' in text
    assert 'outbox_dead_letters{destination="all"} 1.0' in text
    assert "outbox_deliveries_total{" not in text  # nothing delivered yet

    relay(hub).drain(120)  # the peer has healed: the backlog and its age go, the failures stay counted
    text = api["anonymous"].get("/metrics").text
    assert 'outbox_deliveries_total{destination="all"} 1.0' in text
    assert 'outbox_failures_total{destination="all",kind="transient"} 1.0' in text
    assert 'outbox_backlog{destination="all"} 0.0' in text
    assert 'outbox_oldest_age_seconds{destination="all"} 0.0' in text


def test_the_worker_is_woken_by_the_commit_not_by_polling(hub, sink, caplog) -> None:
    import time

    state, _ = sink
    worker = hub.handles.get(OutboxHandle).worker
    # An hour between polls: a delivery within the wait below is the doorbell (SQLite) or
    # NOTIFY (PostgreSQL) waking it, whatever the machine's load.
    worker.relay_settings = hub.settings.outbox.model_copy(update={"idle_poll_seconds": 3600})
    worker.start()
    try:
        time.sleep(0.3)  # let it go idle
        register(hub)
        deadline = time.monotonic() + 60
        while not state.order and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state.order, "the worker did not wake up"
    finally:
        worker.stop()
    assert "round failed" not in caplog.text
    assert messages(hub)[0].status == DELIVERED


def test_the_worker_is_woken_by_another_processs_commit(hub, db_url, sink, tmp_path, clock) -> None:
    """On SQLite the doorbell is in-process; another process's commit (a CLI import, a
    poller) is seen through the file's data_version. On PostgreSQL it is NOTIFY."""
    import os
    import subprocess
    import sys
    import time

    import yaml

    state, _ = sink
    worker = hub.handles.get(OutboxHandle).worker
    worker.relay_settings = hub.settings.outbox.model_copy(update={"idle_poll_seconds": 3600})  # woken, not polled
    worker.start()
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"destinations": {n: d.model_dump(mode="json") for n, d in hub.settings.destinations.items()}}), encoding="utf-8")
    # what a CLI command in another process does: queue a message in its own transaction
    script = (
        "import sys\n"
        "from datetime import datetime\n"
        "from hub.runtime import build_hub\n"
        "from hub.settings import Settings\n"
        "from outbox import enqueue\n"
        "hub = build_hub(Settings())\n"
        "with hub.db.write() as s:\n"
        "    enqueue(s, destination='all', ordering_key='elsewhere', event_type='cli.test', payload={'n': 1},\n"
        "            now=datetime.fromisoformat(sys.argv[1]))\n"
        "hub.close()\n"
    )
    env = {**os.environ, "HUB_DATABASE_URL": db_url, "HUB_CONFIG_FILE": str(config), "HUB_LOG_LEVEL": "WARNING"}
    try:
        time.sleep(0.3)  # let it go idle
        done = subprocess.run(
            [sys.executable, "-c", script, hub.clock.now().isoformat()],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 60
        while not state.order and time.monotonic() < deadline:
            time.sleep(0.01)
        # data_version (SQLite) / NOTIFY (PostgreSQL): the hour's poll is far off
        assert [(g["event_type"], g["event"]) for g in received(state)] == [("cli.test", {"n": 1})], "the worker did not wake up"
    finally:
        worker.stop()


# -- a dead letter holds back its case ---------------------------------------------------------
def _dead_first_message(hub, state):
    """Case A's first message refused (400, dead), its second queued; case B's two messages."""
    state.faults = ["400"]
    a = register(hub)
    hub.cases.act(a.number, c.Accept(), AGENT)
    b = register(hub)
    hub.cases.act(b.number, c.Accept(), AGENT)
    relay(hub).drain(120)
    return a, b


def test_a_dead_letter_holds_back_its_case_until_replayed_then_the_held_follow_in_order(hub, sink, api, clock) -> None:
    state, _ = sink
    a, b = _dead_first_message(hub, state)
    # B flowed; A's second message waits behind A's dead first instead of reaching the peer alone.
    assert [(g["case_number"], g["sequence"]) for g in received(state) if g["destination"] == "all"] == [(b.number, 1), (b.number, 2)]
    a1, a2 = [m for m in messages(hub, "all") if m.case_number == a.number]
    assert (a1.status, a2.status, a2.attempts) == (DEAD, PENDING, 0)
    hub.cases.act(a.number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)  # a third one queues behind too
    clock.advance(timedelta(minutes=5))
    relay(hub).drain(120)
    assert [m.status for m in messages(hub, "all") if m.case_number == a.number] == [DEAD, PENDING, PENDING]

    sup = api["supervisor"]
    status = {d["destination"]: d for d in sup.get("/api/v1/outbox/destinations").json()}
    assert (status["all"]["dead"], status["all"]["held_cases"], status["all"]["held_messages"]) == (1, 1, 2)
    (dead,) = sup.get("/api/v1/outbox/dead", params={"destination": "all"}).json()
    assert (dead["id"], dead["sequence"], dead["holding"]) == (a1.id, 1, 2)
    assert 'outbox_held_cases{destination="all"} 1.0' in api["anonymous"].get("/metrics").text

    assert sup.post("/api/v1/outbox/replay", json={"ids": [a1.id]}).json() == {"replayed": 1}
    relay(hub).drain(120)
    # The replayed one first, with its original sequence and key, then the held ones in order.
    tail = [(g["case_number"], g["sequence"], g["event_type"]) for g in received(state) if g["destination"] == "all"][2:]
    assert tail == [(a.number, 1, "case.registered"), (a.number, 2, "case.accepted"), (a.number, 3, "case.dispatched")]
    assert [g["idempotency_key"] for g in received(state) if g["destination"] == "all"][2:4] == [a1.idempotency_key, a2.idempotency_key]
    assert {m.status for m in messages(hub, "all")} == {DELIVERED}
    status = {d["destination"]: d for d in sup.get("/api/v1/outbox/destinations").json()}
    assert (status["all"]["dead"], status["all"]["held_cases"], status["all"]["held_messages"]) == (0, 0, 0)


def test_skipping_a_dead_letter_releases_its_case_and_is_written_into_the_case_history(hub, sink, api) -> None:
    state, _ = sink
    a, b = _dead_first_message(hub, state)
    a1, a2 = [m for m in messages(hub, "all") if m.case_number == a.number]
    sup = api["supervisor"]

    assert api["agent"].post("/api/v1/outbox/skip", json={"ids": [a1.id], "reason": "x"}).status_code == 403
    no_reason = sup.post("/api/v1/outbox/skip", json={"ids": [a1.id]})
    assert no_reason.status_code == 422 and "body.reason" in {e["field"] for e in no_reason.json()["errors"]}
    not_dead = sup.post("/api/v1/outbox/skip", json={"ids": [a1.id, a2.id], "reason": "peer has it by phone"})
    assert not_dead.status_code == 409 and not_dead.headers["content-type"].startswith("application/problem+json")
    assert not_dead.json()["errors"] == [{"field": "body.ids", "reason": f"not dead letters: [{a2.id}]"}]
    assert [m.status for m in messages(hub, "all") if m.case_number == a.number] == [DEAD, PENDING]  # all or nothing

    done = sup.post("/api/v1/outbox/skip", json={"ids": [a1.id], "reason": "peer has it by phone"})
    assert done.status_code == 200, done.text
    assert done.json() == {"skipped": [{"id": a1.id, "destination": "all", "case_number": a.number, "sequence": 1, "in_case_history": True}]}
    relay(hub).drain(120)
    # The held message went out; the skipped one never did.
    assert [(g["case_number"], g["sequence"]) for g in received(state) if g["destination"] == "all"][2:] == [(a.number, 2)]
    assert [m.status for m in messages(hub, "all") if m.case_number == a.number] == ["skipped", DELIVERED]
    history = sup.get(f"/api/v1/cases/{a.number}/history").json()
    line = history[-1] if isinstance(history, list) else history["items"][-1]
    assert (line["action"], line["actor"], line["role"], line["note"]) == ("outbox_skip", "centre-supervisor", "supervisor", "peer has it by phone")
    assert line["data"]["destination"] == "all" and line["data"]["message_id"] == a1.id
    assert line["from_state"] == line["to_state"] == "accepted"
    # Skipped means finished: the dead count and the held cases are back to zero.
    status = {d["destination"]: d for d in sup.get("/api/v1/outbox/destinations").json()}
    assert (status["all"]["dead"], status["all"]["held_cases"]) == (0, 0)
