"""A connection lost in the middle of a transaction, on a real PostgreSQL: its server process is
ended (pg_terminate_backend, from a second connection) just before a statement of the
transaction is sent, as a failover or an administrator's kill would.

- During an API write (POST /api/v1/cases, between the case row and its history): the client
  gets 503 with Retry-After, not 500; nothing of the case is stored; the same request sent again
  (same Idempotency-Key) registers it once; its message goes to the peer once.
- During the relay's record step (the peer has the message; the relay records it delivered): the
  record is rolled back whole; the relay records it again on a fresh connection; the peer got
  it once, and no message is sent twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from hub.db.models import CaseRow, EventRow, HistoryRow, IdempotencyRow
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DELIVERED, IN_FLIGHT, OutboxMessageRow
from tests.support.factories import draft

pytestmark = pytest.mark.postgres

UNAVAILABLE = "https://12345-hub.example/problems/database-unavailable"


@pytest.fixture
def db_url(pg_database) -> str:  # PostgreSQL only: ending a server process is its fault
    pg_database.clean()
    return pg_database.url


@pytest.fixture
def settings(db_url: str, sink) -> Settings:
    _, url = sink
    return Settings(
        database_url=db_url,
        outbox=OutboxSettings(concurrency=1, batch=10, lease_seconds=60, backoff_base_seconds=0.01),
        destinations={"all": {"adapter": "webhook", "events": ["case.registered"], "settings": {"url": f"{url}/events", "timeout": 5, "system": "sink"}}},
    )


class Killer:
    """Ends the server process of the hub's connection that is about to send a statement
    `matches` accepts (once, when armed), and waits until that process is gone."""

    def __init__(self, engine, url: str, matches: Callable[[str], bool]) -> None:  # noqa: ANN001
        self.engine, self.matches = engine, matches
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.armed = False
        self.killed: list[str] = []
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if not self.armed or not self.matches(statement):
            return
        self.armed = False
        pid = conn.connection.dbapi_connection.info.backend_pid
        with self.admin.connect() as a:
            assert a.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
            deadline = time.monotonic() + 30
            while a.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar_one():
                assert time.monotonic() < deadline, "the server process did not end"
                time.sleep(0.01)
        self.killed.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        self.admin.dispose()


def _count(hub, table) -> int:  # noqa: ANN001
    with hub.db.read() as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def _messages(hub) -> list[OutboxMessageRow]:  # noqa: ANN001
    with hub.db.read() as s:
        return list(s.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.id)).scalars())


def test_a_connection_lost_during_an_api_write_is_a_503_stores_nothing_and_the_retry_registers_once(hub, api, sink, db_url) -> None:
    state, _ = sink
    killer = Killer(hub.db.writer, db_url, lambda sql: sql.lstrip().upper().startswith("INSERT INTO CASE_HISTORY"))
    try:
        body, key = draft(), {"Idempotency-Key": "intake-7f3a"}
        killer.armed = True
        resp = api["agent"].post("/api/v1/cases", json=body, headers=key)
        assert killer.killed, "no statement was interrupted"
        assert resp.status_code == 503, resp.text
        assert int(resp.headers["Retry-After"]) > 0
        assert resp.json()["type"] == UNAVAILABLE
        # Nothing half-written: the case row sent before the kill went with the transaction.
        for table in (CaseRow, HistoryRow, EventRow, IdempotencyRow, OutboxMessageRow):
            assert _count(hub, table) == 0, table.__tablename__

        again = api["agent"].post("/api/v1/cases", json=body, headers=key)
        assert again.status_code == 201, again.text
        replay = api["agent"].post("/api/v1/cases", json=body, headers=key)
        assert replay.status_code == 200 and replay.json()["number"] == again.json()["number"]
        assert _count(hub, CaseRow) == 1 and _count(hub, HistoryRow) == 1
        assert [m.case_number for m in _messages(hub)] == [again.json()["number"]]
        hub.handles.get(OutboxHandle).relay().drain(120)
        assert [m.status for m in _messages(hub)] == [DELIVERED]
        assert (len(state.received), state.attempts, state.duplicates) == (1, 1, 0)
    finally:
        killer.close()


def test_a_connection_lost_while_the_relay_records_a_delivery_is_recorded_again_and_sent_once(hub, api, sink, db_url) -> None:
    state, _ = sink
    numbers = [api["agent"].post("/api/v1/cases", json=draft()).json()["number"] for _ in range(3)]
    # The record step: the messages the peer took are marked delivered (outbox/record.py).
    killer = Killer(hub.db.writer, db_url, lambda sql: sql.lstrip().upper().startswith("UPDATE OUTBOX_MESSAGES") and "delivered_at" in sql)
    try:
        killer.armed = True
        relay = hub.handles.get(OutboxHandle).relay()
        relay.drain(timeout=60)
        assert killer.killed, "no statement was interrupted"
        messages = _messages(hub)
        assert [m.case_number for m in messages] == numbers
        assert all(m.status == DELIVERED and m.attempts == 1 for m in messages), [(m.status, m.attempts) for m in messages]
        assert not [m for m in messages if m.status == IN_FLIGHT or m.lease_until is not None]
        # Each message reached the peer once: the outcome was kept and recorded again, not re-sent.
        assert len(state.received) == 3 and state.attempts == 3 and state.duplicates == 0
        # The peer's ids, recorded in the same transaction, are there once each.
        for number in numbers:
            case = api["agent"].get(f"/api/v1/cases/{number}").json()
            assert [(r["system"], r["external_id"]) for r in case["external_refs"]] == [("sink", f"SINK-{number}")]
    finally:
        killer.close()
