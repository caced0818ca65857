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
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from hub.db.counters import UpsertCounter
from hub.domain.clock import Clock, SystemClock
from hub.integration.contract import OutboundMessage
from hub.logmask import request_id
from outbox.tables import PENDING, OutboxMessageRow, OutboxSequenceRow

CHANNEL = "hub_outbox"


class OutboxWriter:
    """The hub's way into the outbox: queues messages inside the caller's transaction,
    stamped with the hub's clock, and rings this hub's relays after the commit.

    One per hub (outbox/feature.py builds it with the hub's clock); relays of this hub
    `listen` on it. Relays in other processes hear the PostgreSQL NOTIFY, or on SQLite see
    the file's data_version move (outbox/worker.py)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._bells: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def listen(self, ring: Callable[[], None]) -> None:
        with self._lock:
            self._bells.append(ring)

    def unlisten(self, ring: Callable[[], None]) -> None:
        with self._lock:
            if ring in self._bells:
                self._bells.remove(ring)

    def ring(self) -> None:
        with self._lock:
            bells = list(self._bells)
        for bell in bells:
            bell()

    def announce(self, session: Session) -> None:
        """Wake relays once this transaction commits: this hub's, and (PostgreSQL) every process's."""
        announce(session, self.ring)

    def enqueue(
        self,
        session: Session,
        *,
        destination: str,
        ordering_key: str,
        event_type: str,
        payload: dict[str, Any],
        case: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        now: Any = None,
    ) -> OutboundMessage:
        """Queue one message for `destination` inside the caller's transaction.

        Messages with one (destination, ordering_key) are delivered strictly in the order they
        were enqueued. `payload` travels as the message's `event`; `case` (if any) as its case,
        already shaped for this destination (mask it unless the destination may see the person).
        The idempotency key defaults to "<destination>:<ordering_key>:<sequence>", stable across
        retries. `now` defaults to the hub's clock (the one its relays read)."""
        return _enqueue(
            session,
            destination=destination,
            ordering_key=ordering_key,
            event_type=event_type,
            payload=payload,
            case=case,
            idempotency_key=idempotency_key,
            now=self.clock.now() if now is None else now,
            ring=self.ring,
        )

    def write_message(
        self,
        session: Session,
        *,
        destination: str,
        ordering_key: str,
        event_type: str,
        event: dict[str, Any],
        case: dict[str, Any] | None,
        case_number: str | None,
        idempotency_key: str | None,
        now: Any = None,
    ) -> OutboundMessage:
        """As `write_message` below, ringing this hub's relays after the commit."""
        return write_message(
            session,
            destination=destination,
            ordering_key=ordering_key,
            event_type=event_type,
            event=event,
            case=case,
            case_number=case_number,
            idempotency_key=idempotency_key,
            now=self.clock.now() if now is None else now,
            ring=self.ring,
        )


def announce(session: Session, ring: Callable[[], None] | None = None) -> None:
    """Wake relays once this transaction commits (once per transaction): NOTIFY on
    PostgreSQL (transactional, so on commit only, to every relay process), and `ring` (the
    in-process relays of one hub) after the commit."""
    if session.info.get("outbox.announced"):
        return
    session.info["outbox.announced"] = True
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    def after_commit(_session: Session) -> None:
        if ring is not None:
            ring()

    def done(_session: Session, *_: Any) -> None:
        session.info.pop("outbox.announced", None)

    event.listen(session, "after_commit", after_commit, once=True)
    event.listen(session, "after_commit", done, once=True)
    event.listen(session, "after_rollback", done, once=True)


def next_sequence(session: Session, destination: str, ordering_key: str) -> int:
    return _SEQUENCES.add(session, destination=destination, ordering_key=ordering_key)


def write_message(
    session: Session,
    *,
    destination: str,
    ordering_key: str,
    event_type: str,
    event: dict[str, Any],
    case: dict[str, Any] | None,
    case_number: str | None,
    idempotency_key: str | None,
    now: Any,
    ring: Callable[[], None] | None = None,
) -> OutboundMessage:
    """`event` and `case` must already be JSON-ready (plain dicts, lists, strings, numbers):
    they are stored as they are, without another validation pass in the case transaction.
    `ring` is called after the commit (the in-process relays to wake)."""
    sequence = next_sequence(session, destination, ordering_key)
    key = idempotency_key or f"{destination}:{ordering_key}:{sequence}"
    body: dict[str, Any] = {  # JSON-ready, also the message model's fields
        "idempotency_key": key,
        "destination": destination,
        "case_number": case_number or "",
        "sequence": sequence,
        "event_type": event_type,
        "event": event,
        "case": case or {},
        "external_id": None,
    }
    if (rid := request_id.get()) is not None:  # the API request that caused it: its id goes on to the peer
        body["request_id"] = rid
    session.execute(
        _INSERT,
        {
            "destination": destination,
            "ordering_key": ordering_key,
            "sequence": sequence,
            "idempotency_key": key,
            "event_type": event_type,
            "case_number": case_number,
            "body": body,
            "status": PENDING,
            "attempts": 0,
            "available_at": now,
            "created_at": now,
        },
    )
    announce(session, ring)
    return OutboundMessage.model_construct(**body)


def enqueue(
    session: Session,
    *,
    destination: str,
    ordering_key: str,
    event_type: str,
    payload: dict[str, Any],
    case: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    now: Any = None,
) -> OutboundMessage:
    """`OutboxWriter.enqueue` for code without the hub's writer at hand (a script): `now`
    defaults to the system clock, and no relay in this process is rung (they find the message
    through NOTIFY on PostgreSQL, the file's data_version on SQLite, or their idle poll).
    Inside the hub, use the writer (`hub.handles.get(OutboxHandle).enqueue`)."""
    return _enqueue(
        session,
        destination=destination,
        ordering_key=ordering_key,
        event_type=event_type,
        payload=payload,
        case=case,
        idempotency_key=idempotency_key,
        now=SystemClock().now() if now is None else now,
        ring=None,
    )


def _enqueue(
    session: Session,
    *,
    destination: str,
    ordering_key: str,
    event_type: str,
    payload: dict[str, Any],
    case: dict[str, Any] | None,
    idempotency_key: str | None,
    now: Any,
    ring: Callable[[], None] | None,
) -> OutboundMessage:
    case_number = str(case.get("number")) if case and case.get("number") else None
    return write_message(
        session,
        destination=destination,
        ordering_key=ordering_key,
        event_type=event_type,
        event=to_jsonable_python(payload),
        case=to_jsonable_python(case) if case else None,
        case_number=case_number,
        idempotency_key=idempotency_key,
        now=now,
        ring=ring,
    )


_SEQUENCES = UpsertCounter(OutboxSequenceRow, ["destination", "ordering_key"])  # the last sequence per key
_INSERT = OutboxMessageRow.__table__.insert()
