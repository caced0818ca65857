"""The relay's SQL for what became of its deliveries: each failure's verdict comes from the
pure `decide` (outbox/decide.py); this module only applies it, counts the shared breaker's
failures, pauses a misconfigured destination, and records the peer's id for the case
through the case service (never the case tables)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from hub.domain.errors import RuleViolation
from hub.domain.model import ExternalRef
from hub.integration.contract import Delivery
from hub.logmask import mask_text
from hub.settings import OutboxSettings
from outbox.claim import Claimed
from outbox.decide import Dead, Defer, decide
from outbox.delivery import Outcome
from outbox.tables import DEAD, DELIVERED, IN_FLIGHT, PENDING, OutboxDestinationRow, OutboxMessageRow

log = logging.getLogger("hub.outbox")

M = OutboxMessageRow
D = OutboxDestinationRow


class PeerRefs(Protocol):
    """The case service's part the relay uses (hub/service.py CaseService)."""

    def record_peer_ref(self, s: Session, number: str, ref: ExternalRef) -> bool: ...

    def peer_refs(self, s: Session, numbers: set[str], systems: set[str]) -> dict[tuple[str, str], str]: ...


def apply(s: Session, outcomes: list[Outcome], *, holder: str, cfg: OutboxSettings, now: datetime, cases: PeerRefs) -> dict[str, str]:
    """Record `outcomes` of the claims `holder` made. Returns {destination: reason} of the
    destinations paused as misconfigured (the caller forgets their adapters)."""
    ok_destinations: set[str] = set()
    failing: dict[str, tuple[int, str]] = {}
    delivered: list[int] = []
    misconfigured: dict[str, str] = {}
    logged: dict[str, list[tuple[Claimed, Delivery | None]]] = {}
    for o in outcomes:
        c = o.claimed
        if o.kind == "delivered":
            logged.setdefault(c.destination, []).append((c, o.delivery))
            delivered.append(c.id)
            if o.delivery is not None and o.delivery.external_ref is not None:
                _attach(s, c, o.delivery, cases)
            ok_destinations.add(c.destination)
            continue
        verdict = decide(o, c.attempts, cfg, now=now)
        mine = (M.id == c.id, M.status == IN_FLIGHT, M.leased_by == holder)
        if isinstance(verdict, Defer):  # never sent: the claim gives its attempt back
            values: dict[str, Any] = dict(status=PENDING, attempts=M.attempts - 1, lease_until=None, leased_by=None)
            if verdict.reason is not None:
                values["last_error"] = verdict.reason
            if verdict.pause_reason is not None:
                misconfigured[c.destination] = verdict.pause_reason
            s.execute(update(M).where(*mine).values(**values))
            continue
        if isinstance(verdict, Dead):
            values = dict(status=DEAD, lease_until=None, leased_by=None, last_error=verdict.reason)
        else:
            values = dict(status=PENDING, available_at=verdict.at, lease_until=None, leased_by=None, last_error=verdict.reason)
        s.execute(update(M).where(*mine).values(**values))
        _log_failed(c, isinstance(verdict, Dead), verdict.reason, values.get("available_at"), now)
        if o.kind == "transient":
            count, _ = failing.get(c.destination, (0, ""))
            failing[c.destination] = (count + 1, o.error or "")
    if delivered:
        # The peer has them: recorded even if our lease lapsed meanwhile.
        s.execute(_DELIVERED, {"ids": delivered, "now": now})
    succeeded = sorted(ok_destinations - set(failing))
    if succeeded:
        s.execute(_RESET, {"destinations": succeeded, "now": now})
    for destination, (count, error) in failing.items():
        _count_failures(s, destination, count, error, now, cfg)
    for destination, error in misconfigured.items():
        _pause_misconfigured(s, destination, error, now, cfg)
    if logged and log.isEnabledFor(logging.INFO):
        for items in logged.values():
            _log_delivered(items)
    return misconfigured


# Built once, run with parameters (the ORM's bulk-update path costs more than the statement).
_T, _DT = M.__table__, D.__table__
_DELIVERED = (
    update(_T)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.status.in_((PENDING, IN_FLIGHT)))
    .values(status=DELIVERED, delivered_at=bindparam("now"), lease_until=None, last_error=None)
)
_RESET = (
    update(_DT)
    .where(_DT.c.destination.in_(bindparam("destinations", expanding=True)), _DT.c.consecutive_failures > 0)
    .values(consecutive_failures=0, updated_at=bindparam("now"))
)


def external_ids(s: Session, rows: list[Any], systems: dict[str, str | None], cases: PeerRefs) -> dict[tuple[str, str], str]:
    """The peer's own id of each claimed case, read when claimed: an id the peer gave for
    an earlier message of the case reaches the later ones even though their bodies were
    written before it existed. `systems`: each destination's external system (or None)."""
    wanted = {systems[r.destination] for r in rows if r.case_number and systems.get(r.destination)}
    if not wanted:
        return {}
    numbers = {r.case_number for r in rows if r.case_number and systems.get(r.destination)}
    by_case = cases.peer_refs(s, numbers, {w for w in wanted if w})
    out: dict[tuple[str, str], str] = {}
    for d, n in {(r.destination, r.case_number) for r in rows}:
        system = systems.get(d)
        if system and (n, system) in by_case:
            out[(d, n)] = by_case[(n, system)]
    return out


def _attach(s: Session, c: Claimed, delivery: Delivery | None, cases: PeerRefs) -> None:
    if delivery is None or delivery.external_ref is None or not c.case_number:
        return
    try:
        cases.record_peer_ref(s, c.case_number, delivery.external_ref)
    except RuleViolation as exc:
        # The delivery stands; a conflicting id is an operator's matter, not a retry.
        log.warning("case %s: %s answered with a ref we cannot attach: %s", c.case_number, c.destination, exc)


def _destination_row(s: Session, destination: str, now: datetime) -> OutboxDestinationRow:
    row = s.get(D, destination, with_for_update=True)
    if row is None:
        row = D(destination=destination, paused_by_operator=False, consecutive_failures=0, updated_at=now)
        s.add(row)
    return row


def _count_failures(s: Session, destination: str, count: int, error: str, now: datetime, cfg: OutboxSettings) -> None:
    row = _destination_row(s, destination, now)
    row.consecutive_failures += count
    row.updated_at = now
    if row.consecutive_failures >= cfg.breaker_failures and not row.paused_by_operator:
        row.paused_until = now + timedelta(seconds=cfg.breaker_pause_seconds)
        row.reason = f"circuit breaker: {row.consecutive_failures} failures in a row; last: {error[:300]}"
        log.warning("destination %s paused for %.0fs: %s", destination, cfg.breaker_pause_seconds, mask_text(row.reason))
    s.flush()


def _pause_misconfigured(s: Session, destination: str, error: str, now: datetime, cfg: OutboxSettings) -> None:
    row = _destination_row(s, destination, now)
    row.updated_at = now
    if not row.paused_by_operator:
        row.paused_until = now + timedelta(seconds=cfg.breaker_pause_seconds)
        row.reason = error
    log.error("destination %s paused for %.0fs, its messages kept: %s", destination, cfg.breaker_pause_seconds, error)
    s.flush()


# -- one line per delivery, for an operator watching a destination's first cases go out ------------
def _what(c: Claimed) -> str:
    """'<destination> case <number> seq <n> <event type> (attempt <k>)': case numbers are not personal data."""
    return f"{c.destination} case {c.case_number or '-'} seq {c.body.get('sequence', '?')} {c.body.get('event_type', '?')} (attempt {c.attempts})"


def _log_delivered(items: list[tuple[Claimed, Delivery | None]]) -> None:
    """The deliveries of one destination recorded together: one line for them all, each with
    its case, sequence, event type and the peer's id (a single delivery: its own line as
    before), and a line of its own for each one an adapter did not send (its note)."""
    sent: list[tuple[str, str]] = []
    for c, delivery in items:
        detail = mask_text(delivery.detail) if delivery is not None and delivery.detail else ""
        if detail.startswith("not sent"):  # the adapter decided the peer does not take it: said, not hidden
            log.info("%s: %s", _what(c), detail)
            continue
        ref = delivery.external_ref if delivery is not None else None
        sent.append((_what(c), (f", the peer's id {ref.system}:{ref.external_id}" if ref else "") + (f" ({detail})" if detail else "")))
    if len(sent) == 1:
        log.info("%s: delivered%s", *sent[0])
    elif sent:
        log.info("%s: delivered %d messages: %s", items[0][0].destination, len(sent), "; ".join(f"{what}{rest}" for what, rest in sent))


def _log_failed(c: Claimed, dead: bool, reason: str | None, retry_at: datetime | None, now: datetime) -> None:
    if dead:
        log.warning("%s: dead letter: %s", _what(c), reason)
    elif retry_at is not None:
        log.info("%s: failed, retried in %.1fs: %s", _what(c), (retry_at - now).total_seconds(), reason)
