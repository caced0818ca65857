"""A dead relay's claims are taken over by its heartbeat, not its lease (outbox/heartbeat.py),
on a real SQLite file and a real PostgreSQL. The lease is an hour in every test here, far
beyond any wait, so whatever frees a claim is not the lease."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.heartbeat import Heartbeat
from outbox.tables import DELIVERED, IN_FLIGHT, OutboxMessageRow, OutboxRelayRow
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)
HOUR = 3600.0


@pytest.fixture
def settings(db_url: str, sink) -> Settings:
    _, url = sink
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={
            "peer": {"adapter": "webhook", "settings": {"url": f"{url}/events", "timeout": 5}, "events": ["case.registered"]},
        },
        outbox=OutboxSettings(
            lease_seconds=HOUR, heartbeat_seconds=0.1, takeover_seconds=1.0, idle_poll_seconds=0.2, backoff_base_seconds=0.01, backoff_max_seconds=0.1
        ),
    )


def claimed_by(hub, holder: str) -> int:
    """Queue one message and mark it claimed by `holder`, as a relay would have, an hour's lease."""
    hub.cases.register(CaseDraft.model_validate(draft()), AGENT)
    now = hub.clock.now()
    with hub.db.write() as s:
        (row,) = s.execute(select(OutboxMessageRow)).scalars().all()
        s.execute(
            update(OutboxMessageRow)
            .where(OutboxMessageRow.id == row.id)
            .values(status=IN_FLIGHT, attempts=1, leased_by=holder, lease_until=now + timedelta(seconds=HOUR))
        )
        return row.id


def status(hub, message_id: int) -> tuple[str, str | None]:
    with hub.db.read() as s:
        row = s.get(OutboxMessageRow, message_id)
        return row.status, row.leased_by


def beat_row(hub, holder: str, beats: int = 7) -> None:
    now = hub.clock.now()
    with hub.db.write() as s:
        s.add(OutboxRelayRow(relay_id=holder, beats=beats, started_at=now, beat_at=now))


def drain_until(relay, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        relay.drain(0.5)
        time.sleep(0.05)


def test_a_holder_on_another_machine_whose_heartbeat_stands_still_loses_its_claim(hub, sink) -> None:
    state, _ = sink
    holder = "relay-host-b:4242:abc123"  # another machine: only its heartbeat can tell
    message_id = claimed_by(hub, holder)
    beat_row(hub, holder)
    relay = hub.handles.get(OutboxHandle).relay()
    drain_until(relay, lambda: status(hub, message_id)[0] == DELIVERED, 60, "the silent holder's claim to be delivered")
    assert len(state.order) == 1
    with hub.db.read() as s:
        assert s.get(OutboxRelayRow, holder) is None  # the dead holder's row is cleared with its claims


def test_a_holder_that_keeps_beating_keeps_its_claim(hub, sink) -> None:
    state, _ = sink
    holder = "relay-host-b:4243:def456"
    message_id = claimed_by(hub, holder)
    alive = Heartbeat(hub.db, hub.clock, holder, interval=0.1)
    alive.beat()  # as a relay does before its first claim: the row exists before anyone looks
    alive.start()
    try:
        relay = hub.handles.get(OutboxHandle).relay()
        deadline = time.monotonic() + 3.0  # three takeover periods of watching
        while time.monotonic() < deadline:
            relay.drain(0.5)
            time.sleep(0.05)
        assert status(hub, message_id) == (IN_FLIGHT, holder) and state.order == []
    finally:
        alive.stop()
    # Its clean stop removed its row: what it still held is taken over at once.
    drain_until(relay, lambda: status(hub, message_id)[0] == DELIVERED, 60, "the stopped holder's claim to be delivered")


def test_a_holder_without_a_heartbeat_row_loses_its_claim_at_once(hub, sink) -> None:
    message_id = claimed_by(hub, "relay-host-b:4244:0ld0ld")  # stopped cleanly, or a relay from before heartbeats
    relay = hub.handles.get(OutboxHandle).relay()
    relay.drain(2)
    assert status(hub, message_id)[0] == DELIVERED


def test_a_holder_on_this_machine_whose_process_is_gone_loses_its_claim_at_once(hub, sink) -> None:
    import socket

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    holder = f"{socket.gethostname()}:{int(gone.stdout)}:5ee5ee"
    message_id = claimed_by(hub, holder)
    beat_row(hub, holder)  # its count stands still, but waiting for that is not needed
    hub.handles.get(OutboxHandle).relay(settings=hub.settings.outbox.model_copy(update={"takeover_seconds": HOUR})).drain(2)
    assert status(hub, message_id)[0] == DELIVERED
