"""What operators do with the outbox, shared by the API and the CLI: look at the backlog
and the dead letters (and the cases they hold back), replay or skip, pause and resume a
destination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from sqlalchemy import CursorResult, delete, exists, func, select, update
from sqlalchemy.orm import aliased

from hub.db.repository import CaseRepository
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.errors import CaseNotFound
from outbox.tables import DEAD, DELIVERED, IN_FLIGHT, PENDING, SKIPPED, OutboxDestinationRow, OutboxMessageRow

if TYPE_CHECKING:
    from hub.container import Hub

M = OutboxMessageRow
D = OutboxDestinationRow


@dataclass(frozen=True)
class KeptMessage:
    """One outbox message still kept, as a subject-access export lists it."""

    case_number: str
    destination: str
    event_type: str
    status: str
    created_at: datetime
    delivered_at: datetime | None
    body: dict[str, Any]


def kept_messages(hub: Hub, case_numbers: list[str]) -> list[KeptMessage]:
    """The messages of these cases the outbox still keeps (delivered ones are pruned after
    outbox.keep_delivered_hours), oldest first."""
    if not case_numbers:
        return []
    with hub.db.read() as s:
        rows = s.execute(select(M).where(M.case_number.in_(case_numbers)).order_by(M.id)).scalars()
        return [KeptMessage(m.case_number or "", m.destination, m.event_type, m.status, m.created_at, m.delivered_at, m.body) for m in rows]


def backlog(hub: Hub) -> list[dict[str, Any]]:
    """Per destination (configured or holding messages): backlog, oldest age, dead letters, pause."""
    now = hub.clock.now()
    with hub.db.read() as s:
        waiting = {
            r.destination: (r.n, r.oldest)
            for r in s.execute(
                select(M.destination, func.count().label("n"), func.min(M.created_at).label("oldest"))
                .where(M.status.in_((PENDING, IN_FLIGHT)))
                .group_by(M.destination)
            )
        }
        dead = dict(s.execute(select(M.destination, func.count()).where(M.status == DEAD).group_by(M.destination)).all())
        held = {
            r.destination: (r.keys, r.n)
            for r in s.execute(
                select(M.destination, func.count(M.ordering_key.distinct()).label("keys"), func.count().label("n"))
                .where(M.status == PENDING, _behind_a_dead_letter())
                .group_by(M.destination)
            )
        }
        states = {d.destination: d for d in s.execute(select(D)).scalars()}
    names = sorted(set(hub.settings.destinations) | set(waiting) | set(dead) | set(states))
    out = []
    for name in names:
        n, oldest = waiting.get(name, (0, None))
        if oldest is not None and oldest.tzinfo is None:  # a raw aggregate on SQLite loses the zone
            oldest = oldest.replace(tzinfo=UTC)
        st = states.get(name)
        paused = bool(st and (st.paused_by_operator or (st.paused_until is not None and st.paused_until > now)))
        out.append(
            {
                "destination": name,
                "configured": name in hub.settings.destinations,
                "backlog": n,
                "oldest_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
                "dead": dead.get(name, 0),
                "held_cases": held.get(name, (0, 0))[0],
                "held_messages": held.get(name, (0, 0))[1],
                "paused": paused,
                "paused_until": st.paused_until.isoformat() if st and st.paused_until and not st.paused_by_operator else None,
                "paused_by_operator": bool(st and st.paused_by_operator),
                "pause_reason": st.reason if paused and st else None,
                "last_resume": st.reason.removeprefix(RESUMED) if st and not paused and st.reason and st.reason.startswith(RESUMED) else None,
                "consecutive_failures": st.consecutive_failures if st else 0,
            }
        )
    return out


def _announce(hub: Hub, s: Any) -> None:
    """Wake the relays once `s` commits: this hub's through its writer, others by NOTIFY."""
    from outbox.feature import OutboxHandle  # cycle: outbox.feature imports this module (so do the relay's claim SQL and the API)

    hub.handles.get(OutboxHandle).writer.announce(s)


def _behind_a_dead_letter() -> Any:
    """A message of M's key with an earlier dead letter: held back until it is replayed or skipped."""
    dead = aliased(M)
    return exists().where(dead.destination == M.destination, dead.ordering_key == M.ordering_key, dead.sequence < M.sequence, dead.status == DEAD)


def dead_letters(hub: Hub, destination: str | None = None, limit: int = 100, after_id: int = 0) -> list[dict[str, Any]]:
    later = aliased(M)
    holding = (
        select(func.count())
        .where(later.destination == M.destination, later.ordering_key == M.ordering_key, later.sequence > M.sequence, later.status == PENDING)
        .correlate(M)
        .scalar_subquery()
    )
    with hub.db.read() as s:
        stmt = select(M, holding.label("holding")).where(M.status == DEAD, M.id > after_id)
        if destination:
            stmt = stmt.where(M.destination == destination)
        rows = s.execute(stmt.order_by(M.id).limit(limit)).all()
    return [
        {
            "id": r.id,
            "destination": r.destination,
            "case_number": r.case_number,
            "event_type": r.event_type,
            "ordering_key": r.ordering_key,
            "sequence": r.sequence,
            "idempotency_key": r.idempotency_key,
            "attempts": r.attempts,
            "created_at": r.created_at.isoformat(),
            "last_error": r.last_error,
            "holding": n,
        }
        for r, n in rows
    ]


def replay(hub: Hub, ids: list[int] | None = None, destination: str | None = None, actor: Actor | None = None) -> int:
    """Dead letters back to pending with a fresh attempt count; the same key and sequence go
    to the peer, and the messages of its key it held back follow it in order. With neither
    ids nor destination: every dead letter. With an actor (the console: a person replaying),
    each replay is written into its case's history (action `outbox_replay`, who, which message)
    in the same transaction, as a skip is."""
    now = hub.clock.now()
    with hub.db.write() as s:
        where = [M.status == DEAD]
        if ids:
            where.append(M.id.in_(ids))
        if destination:
            where.append(M.destination == destination)
        if actor is not None:
            _note_replays(s, now, actor, s.execute(select(M).where(*where).order_by(M.id).with_for_update()).scalars().all())
        n = cast(
            "CursorResult[Any]", s.execute(update(M).where(*where).values(status=PENDING, attempts=0, available_at=now, lease_until=None, leased_by=None))
        ).rowcount
        if n:
            _announce(hub, s)
    return n


def _note_replays(s: Any, now: datetime, actor: Actor, rows: Sequence[Any]) -> None:
    repo = CaseRepository(s)
    for r in rows:
        if not r.case_number:
            continue
        _note_on_case(repo, r, now, actor, "outbox_replay", f"重发第 {r.id} 条出站消息（{r.destination}）")


def _note_on_case(repo: CaseRepository, r: Any, now: datetime, actor: Actor, action: str, note: str) -> bool:
    """Write what was done to an outbox message into its case's history (who, what, which
    message); False where the hub no longer holds the case the message names."""
    try:
        repo.note(
            r.case_number,
            at=now,
            actor=actor.party,
            role=actor.role,
            action=action,
            note=note,
            data={
                "destination": r.destination,
                "message_id": r.id,
                "event_type": r.event_type,
                "sequence": r.sequence,
                "idempotency_key": r.idempotency_key,
            },
        )
    except CaseNotFound:
        return False
    return True


class SkippedLine(TypedDict):
    """One skipped dead letter, as the API and the console report it."""

    id: int
    destination: str
    case_number: str | None
    sequence: int
    in_case_history: bool  # False for a message of no case (the reason is in its last error)


class NotDead(LookupError):
    """Some of the ids named are not dead letters (delivered, pending, skipped, or unknown)."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"not dead letters: {ids}")
        self.ids = ids


def skip(hub: Hub, ids: list[int], actor: Actor, reason: str) -> list[SkippedLine]:
    """Give up dead letters for good: they are never sent, and the later messages of their key
    that they held back flow on. Each skip is written into its case's history (who, why,
    which message) in the same transaction; a message of no case keeps it in its last error.
    All or nothing: if any id is not a dead letter, nothing is skipped (NotDead)."""
    now = hub.clock.now()
    wanted = sorted(set(ids))
    with hub.db.write() as s:
        rows = s.execute(select(M).where(M.id.in_(wanted), M.status == DEAD).order_by(M.id).with_for_update()).scalars().all()
        missing = sorted(set(wanted) - {r.id for r in rows})
        if missing:
            raise NotDead(missing)
        repo = CaseRepository(s)
        out: list[SkippedLine] = []
        for r in rows:
            said = f"skipped by {actor.party}: {reason}"
            r.last_error = f"{said} | last error: {r.last_error}" if r.last_error else said
            r.status, r.delivered_at = SKIPPED, now
            r.lease_until, r.leased_by = None, None
            recorded = bool(r.case_number) and _note_on_case(repo, r, now, actor, "outbox_skip", reason)
            out.append({"id": r.id, "destination": r.destination, "case_number": r.case_number, "sequence": r.sequence, "in_case_history": recorded})
        s.flush()
        _announce(hub, s)
    return out


def pause(hub: Hub, destination: str, reason: str | None = None) -> None:
    now = hub.clock.now()
    with hub.db.write() as s:
        row = s.get(D, destination, with_for_update=True)
        if row is None:
            row = D(destination=destination, consecutive_failures=0, updated_at=now)
            s.add(row)
        row.paused_by_operator = True
        row.reason = reason or "paused by an operator"
        row.updated_at = now


RESUMED = "恢复推送："  # a resume's record in the reason column, kept until the next pause


def resume(hub: Hub, destination: str, by: str | None = None) -> bool:
    """Lift an operator's pause and the breaker's; False if the destination was not paused.
    `by` (who resumed) is kept as the destination's last resume, shown beside it as a pause's
    reason is, until the next pause."""
    now = hub.clock.now()
    with hub.db.write() as s:
        row = s.get(D, destination, with_for_update=True)
        if row is None:
            return False
        was = row.paused_by_operator or (row.paused_until is not None and row.paused_until > now)
        row.paused_by_operator = False
        row.paused_until = None
        row.consecutive_failures = 0
        row.reason = f"{RESUMED}{by}，{now.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}" if by and was else None
        row.updated_at = now
        _announce(hub, s)
    return was


def known_destination(hub: Hub, destination: str) -> bool:
    if destination in hub.settings.destinations:
        return True
    with hub.db.read() as s:
        return s.execute(select(M.id).where(M.destination == destination).limit(1)).first() is not None


def prune(hub: Hub, older_than: timedelta, *, dead: bool = False, chunk: int = 1000) -> int:
    """Delete delivered and skipped messages (and, with dead=True, dead letters) finished longer
    ago than `older_than`, in chunks so no transaction holds the writer for long. Ordering
    only ever waits on pending, in-flight and dead rows, and the per-key sequence counters
    live in their own table, so later messages keep their order and keys; pruning a dead
    letter releases the messages it held back, as a skip would, but leaves no record."""
    return prune_before(hub.db, hub.clock.now() - older_than, dead=dead, chunk=chunk)


def prune_before(db: Any, cutoff: datetime, *, dead: bool = False, chunk: int = 1000) -> int:
    finished = (M.status.in_((DELIVERED, SKIPPED))) & (M.delivered_at < cutoff)
    if dead:  # a dead letter has no delivered_at: its age is its creation
        finished = finished | ((M.status == DEAD) & (M.created_at < cutoff))
    total = 0
    while True:
        with db.write(durable=False) as s:
            ids = select(M.id).where(finished).order_by(M.id).limit(chunk).scalar_subquery()
            n = s.execute(delete(M).where(M.id.in_(ids)), execution_options={"synchronize_session": False}).rowcount
        total += n
        if n < chunk:
            return total
