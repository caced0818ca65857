"""Writing messages into the outbox, inside the caller's transaction.

Whatever the caller commits, its messages commit with it; a rollback leaves none. The
relay is woken after the commit: by NOTIFY on PostgreSQL (transactional, so it fires on
commit only, to every relay process) and by an in-process doorbell on SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import bindparam, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.domain.clock import Clock, SystemClock
from hub.integration.contract import OutboundMessage
from hub.logmask import request_id
from outbox.tables import PENDING, OutboxMessageRow, OutboxSequenceRow

CHANNEL = "hub_outbox"

# Per database URL, in this process: the relays to ring after a commit, and the hub's clock
# (so `enqueue`, called by other features without the hub at hand, stamps rows with the
# same clock the relay reads). Filled by `install`/a running relay; empty until then.
_bells: dict[str, list[Callable[[], None]]] = {}
_clocks: dict[str, Clock] = {}
_bells_lock = threading.Lock()


def normal_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=False)


def register_clock(url: str, clock: Clock) -> None:
    with _bells_lock:
        _clocks[normal_url(url)] = clock


def listen(url: str, ring: Callable[[], None]) -> None:
    with _bells_lock:
        _bells.setdefault(normal_url(url), []).append(ring)


def unlisten(url: str, ring: Callable[[], None]) -> None:
    with _bells_lock:
        rings = _bells.get(normal_url(url), [])
        if ring in rings:
            rings.remove(ring)


def ring(url: str) -> None:
    with _bells_lock:
        rings = list(_bells.get(url, []))
    for r in rings:
        r()


def _bind_url(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=False)


def announce(session: Session) -> None:
    """Wake relays once this transaction commits (once per transaction)."""
    if session.info.get("outbox.announced"):
        return
    session.info["outbox.announced"] = True
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
    url = _bind_url(session)

    def after_commit(_session: Session) -> None:
        ring(url)

    def done(_session: Session, *_: Any) -> None:
        session.info.pop("outbox.announced", None)

    event.listen(session, "after_commit", after_commit, once=True)
    event.listen(session, "after_commit", done, once=True)
    event.listen(session, "after_rollback", done, once=True)


def next_sequence(session: Session, destination: str, ordering_key: str) -> int:
    dialect = session.get_bind().dialect.name
    return session.execute(_sequence_stmt(dialect), {"destination": destination, "ordering_key": ordering_key}).scalar_one()


def write_message(session: Session, *, destination: str, ordering_key: str, event_type: str, event: dict[str, Any],
                  case: dict[str, Any] | None, case_number: str | None, idempotency_key: str | None,
                  now: Any) -> OutboundMessage:
    """`event` and `case` must already be JSON-ready (plain dicts, lists, strings, numbers):
    they are stored as they are, without another validation pass in the case transaction."""
    sequence = next_sequence(session, destination, ordering_key)
    key = idempotency_key or f"{destination}:{ordering_key}:{sequence}"
    body = {"idempotency_key": key, "destination": destination, "case_number": case_number or "",
            "sequence": sequence, "event_type": event_type, "event": event, "case": case or {}, "external_id": None}
    if (rid := request_id.get()) is not None:  # the API request that caused it: its id goes on to the peer
        body["request_id"] = rid
    session.execute(_INSERT, {
        "destination": destination, "ordering_key": ordering_key, "sequence": sequence, "idempotency_key": key,
        "event_type": event_type, "case_number": case_number, "body": body,
        "status": PENDING, "attempts": 0, "available_at": now, "created_at": now,
    })
    announce(session)
    return OutboundMessage.model_construct(**body)


def enqueue(session: Session, *, destination: str, ordering_key: str, event_type: str, payload: dict[str, Any],
            case: dict[str, Any] | None = None, idempotency_key: str | None = None, now: Any = None) -> OutboundMessage:
    """Queue one message for `destination` inside the caller's transaction.

    Messages with one (destination, ordering_key) are delivered strictly in the order they
    were enqueued. `payload` travels as the message's `event`; `case` (if any) as its case,
    already shaped for this destination (mask it unless the destination may see the person).
    The idempotency key defaults to "<destination>:<ordering_key>:<sequence>", stable across
    retries. `now` defaults to the clock of the hub installed on this database.
    """
    if now is None:
        with _bells_lock:
            clock = _clocks.get(_bind_url(session)) or SystemClock()
        now = clock.now()
    case_number = str(case.get("number")) if case and case.get("number") else None
    return write_message(session, destination=destination, ordering_key=ordering_key, event_type=event_type,
                         event=to_jsonable_python(payload), case=to_jsonable_python(case) if case else None, case_number=case_number, idempotency_key=idempotency_key, now=now)


_SEQUENCE: dict[str, Any] = {}


def _sequence_stmt(dialect: str) -> Any:
    stmt = _SEQUENCE.get(dialect)
    if stmt is None:
        table = OutboxSequenceRow.__table__
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (insert(table).values(destination=bindparam("destination"), ordering_key=bindparam("ordering_key"), last=1)
                .on_conflict_do_update(index_elements=["destination", "ordering_key"], set_={"last": table.c.last + 1})
                .returning(table.c.last))
        _SEQUENCE[dialect] = stmt
    return stmt


_INSERT = OutboxMessageRow.__table__.insert()
