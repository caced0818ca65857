"""The outbox's tables: messages waiting for (or done with) delivery, the per-key sequence
counters that order them, and each destination's shared state (paused, failing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, BigId, JSONDoc, UTCDateTime

# A message's life: pending -> in_flight (leased by one relay) -> delivered | pending (retry) | dead;
# dead -> pending (replayed) | skipped (an operator gave it up; recorded in the case history).
PENDING, IN_FLIGHT, DELIVERED, DEAD, SKIPPED = "pending", "in_flight", "delivered", "dead", "skipped"
# The states that hold back the later messages of the same (destination, ordering key).
HOLDING = (PENDING, IN_FLIGHT, DEAD)


class OutboxMessageRow(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(String(64))
    ordering_key: Mapped[str] = mapped_column(String(128))
    sequence: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # OutboundMessage without `attempt`
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # counted when claimed, so a crash still counts
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)  # not claimed before (backoff, Retry-After)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # or, for a skipped one, when it was skipped
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The claim scans due pending rows; the order check looks up earlier rows of one key.
        Index("ix_outbox_due", "status", "available_at"),
        Index("uq_outbox_order", "destination", "ordering_key", "sequence", unique=True),
    )


class OutboxSequenceRow(Base):
    """The last sequence given per (destination, ordering key): an upsert on this row
    serialises concurrent writers of one key on PostgreSQL."""

    __tablename__ = "outbox_sequences"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    ordering_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class OutboxDestinationRow(Base):
    """Shared by every relay: a destination paused by an operator or by the circuit breaker."""

    __tablename__ = "outbox_destinations"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # breaker: resumes by itself
    paused_by_operator: Mapped[bool] = mapped_column(default=False)  # stays paused until resumed
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRelayRow(Base):
    """A running relay's heartbeat: its claims carry its id (`outbox_messages.leased_by`), and
    while `beats` keeps counting the relay is alive. A holder whose count stands still for
    `outbox.takeover_seconds` (or whose row is gone) loses its claims to the others
    (outbox/heartbeat.py), long before its lease would lapse."""

    __tablename__ = "outbox_relays"

    relay_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    beats: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)  # for people; liveness is judged on `beats`
