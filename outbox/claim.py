"""The relay's SQL for taking work: claim due messages with a lease, return the claims of
dead or hung relays to the queue, and prune what was delivered long ago.

Ordering (docs/outbox.md): a message is only claimable while no earlier one of its
(destination, ordering key) is pending, in flight or dead, so a dead letter holds its key
until replayed or skipped. Attempts are counted when claimed, so a relay that dies
mid-delivery still uses one up. On PostgreSQL, claims skip rows other relays have locked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Integer, String, bindparam, column, delete, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from hub.db.database import Database
from outbox.admin import prune_before
from outbox.tables import HOLDING, IN_FLIGHT, PENDING, OutboxDestinationRow, OutboxMessageRow, OutboxRelayRow

M = OutboxMessageRow
D = OutboxDestinationRow


@dataclass(frozen=True)
class Claimed:
    id: int
    destination: str
    case_number: str | None
    attempts: int
    created_at: datetime
    body: dict[str, Any]
    external_id: str | None = None  # the peer's id for the case as the case holds it now


def destination_states(s: Session, now: datetime, breaker_failures: int) -> tuple[list[str], list[str]]:
    """(paused, half-open) destinations, in one read of the (small) destinations table.
    Paused: by an operator, or by the breaker until a time still ahead. Half-open: the
    breaker's pause is over but no success has closed it yet, so the next claim sends them
    one probe, not a burst of everything that waited."""
    stopped: list[str] = []
    probing: list[str] = []
    for name, by_operator, until, failures in s.execute(_STATES).all():
        if by_operator or (until is not None and until > now):
            stopped.append(name)
        elif failures >= breaker_failures:
            probing.append(name)
    return stopped, probing


_STATES = select(D.__table__.c.destination, D.__table__.c.paused_by_operator, D.__table__.c.paused_until, D.__table__.c.consecutive_failures)


def claim(
    s: Session, *, holder: str, limit: int, now: datetime, lease_seconds: float, deliverable: list[str], paused_now: list[str], probing: list[str]
) -> list[Any]:
    """Mark up to `limit` due messages of `deliverable` destinations in flight for `holder`
    (none of `paused_now`; of `probing`, one probe each), oldest first. Returns their rows
    (id, destination, case_number, attempts, created_at, body) in id order.

    A message is due when it heads its key: no earlier message of its (destination,
    ordering key) is holding (pending, in flight or dead). On SQLite (one writer) that is
    found in one pass over the holding rows (ix_outbox_due) rather than a look back along
    each pending message's key, which reads every delivered message kept there. On
    PostgreSQL the look back stays, with the chosen rows locked `FOR UPDATE SKIP LOCKED`:
    two relays never take the same message, and a head another relay is claiming is
    skipped, not passed by its key's later messages (they are not heads). The statement is
    built once per shape and run with parameters."""
    postgres = s.get_bind().dialect.name == "postgresql"
    probes = _probes(s, probing, now, postgres)
    stmt = _claim_statement(postgres, bool(paused_now or probing), bool(probes))
    params: dict[str, Any] = {
        "now": now,
        "claim_limit": limit,
        "deliverable": deliverable,
        "holder": holder,
        "lease_until": now + timedelta(seconds=lease_seconds),
    }
    if paused_now or probing:
        params["excluded"] = paused_now + probing
    if probes:
        params["probes"] = probes
    rows = s.execute(stmt, params).all()
    return sorted(rows, key=lambda r: r.id)


@functools.lru_cache(maxsize=8)
def _claim_statement(postgres: bool, exclude: bool, probes: bool) -> Any:
    """UPDATE ... SET in_flight WHERE id IN (the heads due, oldest first, up to the limit)
    [OR id IN (the probes)] RETURNING ..., on the Core table: SQLAlchemy's ORM bulk-update
    path and the statement's construction cost more than the claim itself."""
    t = M.__table__
    if postgres:
        # A look back along each due message's key, under FOR UPDATE SKIP LOCKED: the one-pass
        # heads join below made PostgreSQL's claim about ten times slower (bench/RESULTS.md).
        earlier = t.alias("earlier")
        blocked = exists().where(
            earlier.c.destination == t.c.destination,
            earlier.c.ordering_key == t.c.ordering_key,
            earlier.c.sequence < t.c.sequence,
            earlier.c.status.in_(HOLDING),
        )
        due = select(t.c.id).where(t.c.status == PENDING, t.c.available_at <= bindparam("now"), ~blocked)
    else:
        statuses = ", ".join(f"'{x}'" for x in HOLDING)  # our own constants
        # INDEXED BY: else SQLite walks uq_outbox_order (no sort for the GROUP BY), delivered rows too.
        heads = (
            text(
                "SELECT destination, ordering_key, min(sequence) AS head FROM outbox_messages INDEXED BY ix_outbox_due "
                f"WHERE status IN ({statuses}) GROUP BY destination, ordering_key"
            )
            .columns(column("destination", String), column("ordering_key", String), column("head", Integer))
            .subquery("heads")
        )
        due = (
            select(t.c.id)
            .join(heads, (heads.c.destination == t.c.destination) & (heads.c.ordering_key == t.c.ordering_key) & (heads.c.head == t.c.sequence))
            .where(t.c.status == PENDING, t.c.available_at <= bindparam("now"))
        )
    due = due.where(t.c.destination.in_(bindparam("deliverable", expanding=True))).order_by(t.c.id).limit(bindparam("claim_limit", type_=Integer))
    if exclude:
        due = due.where(t.c.destination.not_in(bindparam("excluded", expanding=True)))
    if postgres:
        due = due.with_for_update(skip_locked=True, of=t)
    chosen: ColumnElement[bool] = t.c.id.in_(due.scalar_subquery())
    if probes:
        chosen = or_(chosen, t.c.id.in_(bindparam("probes", expanding=True)))
    return (
        update(t)
        .where(chosen)
        .values(status=IN_FLIGHT, attempts=t.c.attempts + 1, leased_by=bindparam("holder"), lease_until=bindparam("lease_until"))
        .returning(t.c.id, t.c.destination, t.c.case_number, t.c.attempts, t.c.created_at, t.c.body)
    )


def _probes(s: Session, destinations: list[str], now: datetime, postgres: bool) -> list[int]:
    """One due message per half-open destination, unless a probe is already in flight
    there. The destination's row is locked (PostgreSQL) so two relays do not both probe."""
    ids: list[int] = []
    if not destinations:
        return ids
    earlier = aliased(M)
    blocked = exists().where(
        earlier.destination == M.destination, earlier.ordering_key == M.ordering_key, earlier.sequence < M.sequence, earlier.status.in_(HOLDING)
    )
    for destination in sorted(destinations):
        if postgres:
            s.execute(select(D.destination).where(D.destination == destination).with_for_update())
        if s.execute(select(M.id).where(M.destination == destination, M.status == IN_FLIGHT).limit(1)).first():
            continue
        probe = select(M.id).where(M.destination == destination, M.status == PENDING, M.available_at <= now, ~blocked).order_by(M.id).limit(1)
        if postgres:
            probe = probe.with_for_update(skip_locked=True, of=M)
        found = s.execute(probe).scalar()
        if found is not None:
            ids.append(found)
    return ids


def release_lapsed(s: Session, now: datetime) -> int:
    """Claims whose lease lapsed (a relay that hangs, or died without a heartbeat row)
    back to pending; their attempt stays counted."""
    return cast(
        "CursorResult[Any]",
        s.execute(
            update(M)
            .where(M.status == IN_FLIGHT, M.lease_until < now)
            .values(
                status=PENDING, lease_until=None, leased_by=None, last_error=func.coalesce(M.last_error, "lease expired: the relay stopped before recording")
            )
        ),
    ).rowcount


def release_holders(s: Session, dead: list[str]) -> int:
    """The claims of relays found dead (outbox/heartbeat.py) back to pending, and their
    heartbeat rows gone; their attempt stays counted, as after a lapsed lease."""
    n = cast(
        "CursorResult[Any]",
        s.execute(
            update(M)
            .where(M.status == IN_FLIGHT, M.leased_by.in_(dead))
            .values(
                status=PENDING,
                lease_until=None,
                leased_by=None,
                last_error=func.coalesce(M.last_error, "taken over: its relay stopped beating before recording"),
            )
        ),
    ).rowcount
    s.execute(delete(OutboxRelayRow).where(OutboxRelayRow.relay_id.in_(dead)))
    return n


def prune(db: Database, now: datetime, keep_hours: float) -> int:
    """Delete delivered messages finished more than `keep_hours` ago (outbox/admin.py)."""
    return prune_before(db, now - timedelta(hours=keep_hours))


def next_available(s: Session, now: datetime) -> datetime | None:
    """When the earliest backed-off message becomes due, if any."""
    return s.execute(select(func.min(M.available_at)).where(M.status == PENDING, M.available_at > now)).scalar()
