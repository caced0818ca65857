"""The relay: claims due messages with a lease, hands them to the adapters, records what
happened. Several relays may run on one PostgreSQL; on SQLite there is one writer.

Guarantees (docs/outbox.md): at-least-once with a stable Idempotency-Key; strictly in
order per (destination, ordering key): a message is only claimable while no earlier one
of its key is pending, in flight or dead (a dead letter holds its key until replayed or
skipped); attempts are counted when claimed, so a relay that
dies mid-delivery still uses one up; a dead relay's claims are taken over once its
heartbeat stops (outbox/heartbeat.py), a hung one's when its lease lapses.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, aliased

from hub.db.repository import CaseRepository
from hub.domain.errors import RuleViolation
from hub.db.models import CaseRow, ExternalRefRow
from hub.integration.contract import (
    Adapter, AdapterContext, AdapterError, ConfigurationError, Delivery, OutboundMessage, PermanentError, TransientError,
)
from hub.integration.registry import build_adapter, discover
from hub.logmask import carrying_request_id, mask_text
from hub.settings import OutboxSettings
from outbox import store
from outbox.admin import prune_before
from outbox.decide import Dead, Defer, decide
from outbox.heartbeat import Heartbeat, Watch
from outbox.tables import DEAD, DELIVERED, HOLDING, IN_FLIGHT, PENDING, OutboxDestinationRow, OutboxMessageRow, OutboxRelayRow

if TYPE_CHECKING:
    from hub.container import Hub
    from outbox.metrics import OutboxMetrics

log = logging.getLogger("hub.outbox")

M = OutboxMessageRow
RECORD_GROUP = 32  # outcomes recorded in one transaction, at most this many waiting
PRUNE_EVERY = 300.0  # seconds between prunes of old delivered messages
RECORD_DELAY = 0.005  # seconds an outcome may wait for others to share its commit


@dataclass(frozen=True)
class Claimed:
    id: int
    destination: str
    case_number: str | None
    attempts: int
    created_at: datetime
    body: dict[str, Any]
    external_id: str | None = None  # the peer's id for the case as the case holds it now


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    kind: str  # "delivered" | "transient" | "permanent" | "deferred" (not sent: breaker open, or misconfigured)
    delivery: Delivery | None = None
    error: str | None = None
    retry_after: float | None = None
    tripped: bool = False  # this failure paused the destination in this relay (the breaker, locally)
    misconfigured: bool = False  # deferred because the destination's settings or files are wrong: pause it


class Relay:
    def __init__(self, hub: "Hub", *, batch: int | None = None, lease_seconds: float | None = None,
                 concurrency: int | None = None, settings: OutboxSettings | None = None,
                 metrics: "OutboxMetrics | None" = None, relay_id: str | None = None) -> None:
        cfg = settings or hub.settings.outbox
        overrides = {k: v for k, v in (("batch", batch), ("lease_seconds", lease_seconds), ("concurrency", concurrency)) if v is not None}
        self.cfg = cfg.model_copy(update=overrides)
        self.hub = hub
        self.db = hub.db
        self.clock = hub.clock
        self.metrics = metrics
        self.id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._kick = threading.Event()  # any reason to run the loop: a wake-up or a finished delivery
        self._woken = threading.Event()  # new work may be due (not just our own delivery finishing)
        self._local = threading.local()
        self._adapters: list[Adapter] = []
        self._adapters_lock = threading.Lock()
        self._available: dict[str, type[Adapter]] | None = None
        self._pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="outbox-deliver")
        self._inflight: dict[Future[list[Outcome]], int] = {}  # each delivery and how many messages it carries
        self._unrecorded: list[Outcome] = []
        self._last_reap = 0.0
        self._last_prune = time.monotonic()  # the first prune waits a while: a starting relay has work to do
        # The breaker as this relay sees it between commits: messages it already claimed
        # are not sent to a destination that just failed breaker_failures times in a row.
        self._breaker_lock = threading.Lock()
        self._local_failures: dict[str, int] = {}
        self._local_pause: dict[str, datetime] = {}
        # Local pauses whose tripping failure is recorded: from then on the database's pause
        # state is the truth (an operator's resume lifts it for every relay, this one too).
        self._pause_recorded: set[str] = set()
        self._url = self.db.url
        self._adapter_facts: dict[str, tuple[str | None, int]] = {}
        # Claims carry self.id; the heartbeat says it is alive, the watch finds dead holders.
        self._heart = Heartbeat(self.db, self.clock, self.id, self.cfg.heartbeat_seconds)
        self._watch = Watch(self.id, self.cfg.takeover_seconds)
        self._last_watch = 0.0

    # -- the public loop pieces ---------------------------------------------------------------
    def wake(self) -> None:
        """Something was committed (a new message, a replay, a resume): look for work now."""
        self._woken.set()
        self._kick.set()

    def run_once(self) -> int:
        """Claim one batch, deliver it, record the outcomes. Returns how many were claimed."""
        self.reap()
        claimed = self.claim(self.cfg.batch)
        outcomes = [o for group in self._pool.map(self._deliver_group, self._groups(claimed)) for o in group]
        self.record(outcomes)
        return len(claimed)

    def drain(self, timeout: float = 10.0) -> int:
        """Deliver until nothing is due and nothing is in flight (tests). Returns messages handled."""
        return self._pump(stop=None, deadline=time.monotonic() + timeout)

    def run_forever(self, stop: threading.Event) -> int:
        return self._pump(stop=stop, deadline=None)

    # -- claim ----------------------------------------------------------------------------
    def claim(self, limit: int) -> list[Claimed]:
        return self.record_and_claim([], limit)

    def record_and_claim(self, outcomes: list[Outcome], limit: int) -> list[Claimed]:
        """Record finished deliveries and claim the next ones in one transaction.

        Not fsynced (durable=False): if a power failure loses it, the messages it recorded
        or claimed are claimed and sent again with the same idempotency key, which the
        peer dedupes; the case data that caused them was committed durably before."""
        if not outcomes and limit <= 0:
            return []
        if limit > 0 and len(self._adapter_facts) < len(self.hub.settings.destinations):
            # Build the adapters (files, clients) before taking the writer, not inside the claim.
            for destination in self.hub.settings.destinations:
                self._facts(destination)
        if limit > 0 and time.monotonic() - self._heart.last_beat >= self.cfg.heartbeat_seconds:
            self._heart.beat()  # our row exists before any claim names us (the thread keeps it counting)
        now = self.clock.now()
        with self.db.write(durable=False) as s:
            if outcomes:
                self._record(s, outcomes, now)
            claimed = self._claim(s, limit, now) if limit > 0 else []
        if outcomes and self.metrics is not None:
            for o in outcomes:
                self.metrics.observe(o, now)
        return claimed

    def _claim(self, s: Session, limit: int, now: datetime) -> list[Claimed]:
        paused = self._paused(s, now)
        self._follow_database_pauses(paused)
        earlier = aliased(M)
        blocked = exists().where(earlier.destination == M.destination, earlier.ordering_key == M.ordering_key,
                                 earlier.sequence < M.sequence, earlier.status.in_(HOLDING))
        # Only destinations this relay can build: another relay may have one this relay's
        # settings lack (a rolling change), and a disabled destination keeps its backlog.
        deliverable = [name for name, d in self.hub.settings.destinations.items() if d.enabled]
        due = (select(M.id).where(M.status == PENDING, M.available_at <= now, ~blocked, M.destination.in_(deliverable))
               .order_by(M.id).limit(limit))
        probing = [d for d in self._half_open(s, now) if d in deliverable and d not in paused]
        if paused or probing:
            due = due.where(M.destination.not_in(paused + probing))
        postgres = s.get_bind().dialect.name == "postgresql"
        if postgres:
            due = due.with_for_update(skip_locked=True, of=M)
        chosen = M.id.in_(due.scalar_subquery())
        probes = self._probes(s, probing, now, blocked, postgres)
        if probes:
            chosen = or_(chosen, M.id.in_(probes))
        stmt = (update(M).where(chosen)
                .values(status=IN_FLIGHT, attempts=M.attempts + 1, leased_by=self.id,
                        lease_until=now + timedelta(seconds=self.cfg.lease_seconds))
                .returning(M.id, M.destination, M.case_number, M.attempts, M.created_at, M.body))
        rows = s.execute(stmt, execution_options={"synchronize_session": False}).all()
        rows.sort(key=lambda r: r.id)
        ids = self._external_ids(s, rows)
        return [Claimed(r.id, r.destination, r.case_number, r.attempts, r.created_at, r.body,
                        ids.get((r.destination, r.case_number))) for r in rows]

    def _external_ids(self, s: Session, rows: list[Any]) -> dict[tuple[str, str], str]:
        """The peer's own id of each claimed case, read when claimed: an id the peer gave for
        an earlier message of the case reaches the later ones even though their bodies were
        written before it existed."""
        systems = {r.destination: self._system(r.destination) for r in rows if r.case_number}
        wanted = {sys for sys in systems.values() if sys}
        if not wanted:
            return {}
        numbers = {r.case_number for r in rows if r.case_number and systems.get(r.destination)}
        found = s.execute(select(CaseRow.number.label("case_number"), ExternalRefRow.system, ExternalRefRow.external_id)
                          .join(CaseRow, CaseRow.id == ExternalRefRow.case_id)
                          .where(CaseRow.number.in_(numbers), ExternalRefRow.system.in_(wanted))).all()
        by_case = {(f.case_number, f.system): f.external_id for f in found}
        return {(d, n): by_case[(n, systems[d])] for d, n in {(r.destination, r.case_number) for r in rows}
                if systems.get(d) and (n, systems[d]) in by_case}

    @staticmethod
    def _paused(s: Session, now: datetime) -> list[str]:
        return list(s.execute(select(OutboxDestinationRow.destination).where(
            or_(OutboxDestinationRow.paused_by_operator.is_(True), OutboxDestinationRow.paused_until > now))).scalars())

    def _half_open(self, s: Session, now: datetime) -> list[str]:
        """Destinations whose breaker pause is over but not yet closed by a success: the next
        claim sends them one probe, not a burst of everything that waited."""
        D = OutboxDestinationRow
        return list(s.execute(select(D.destination).where(
            D.consecutive_failures >= self.cfg.breaker_failures, D.paused_by_operator.is_(False),
            or_(D.paused_until.is_(None), D.paused_until <= now))).scalars())

    @staticmethod
    def _probes(s: Session, destinations: list[str], now: datetime, blocked: Any, postgres: bool) -> list[int]:
        """One due message per half-open destination, unless a probe is already in flight
        there. The destination's row is locked (PostgreSQL) so two relays do not both probe."""
        ids: list[int] = []
        for destination in sorted(destinations):
            if postgres:
                s.execute(select(OutboxDestinationRow.destination)
                          .where(OutboxDestinationRow.destination == destination).with_for_update())
            if s.execute(select(M.id).where(M.destination == destination, M.status == IN_FLIGHT).limit(1)).first():
                continue
            probe = (select(M.id).where(M.destination == destination, M.status == PENDING, M.available_at <= now, ~blocked)
                     .order_by(M.id).limit(1))
            if postgres:
                probe = probe.with_for_update(skip_locked=True, of=M)
            found = s.execute(probe).scalar()
            if found is not None:
                ids.append(found)
        return ids

    def reap(self, force: bool = False) -> int:
        """Return to the queue the claims of relays that died (their heartbeat stopped, every
        heartbeat interval) or hung (their lease lapsed, every few seconds)."""
        mono = time.monotonic()
        n = 0
        if force or mono - self._last_watch >= self.cfg.heartbeat_seconds:
            self._last_watch = mono
            n += self.take_over()
        if not force and mono - self._last_reap < min(5.0, self.cfg.lease_seconds / 2):
            return n
        self._last_reap = mono
        now = self.clock.now()
        with self.db.write(durable=False) as s:
            lapsed = s.execute(update(M).where(M.status == IN_FLIGHT, M.lease_until < now)
                               .values(status=PENDING, lease_until=None, leased_by=None,
                                       last_error=func.coalesce(M.last_error, "lease expired: the relay stopped before recording"))
                               ).rowcount
        if lapsed:
            log.warning("returned %d messages whose lease expired", lapsed)
        if mono - self._last_prune >= PRUNE_EVERY:
            self._last_prune = mono
            self.prune()
        return n + lapsed

    def take_over(self) -> int:
        """Return the claims of dead holders (outbox/heartbeat.py) to the queue: a read, and a
        write only when a holder died. Their attempt stays counted, as after a lapsed lease."""
        with self.db.read() as s:
            dead = self._watch.dead_holders(s)
        if not dead:
            return 0
        with self.db.write(durable=False) as s:
            n = s.execute(update(M).where(M.status == IN_FLIGHT, M.leased_by.in_(dead))
                          .values(status=PENDING, lease_until=None, leased_by=None,
                                  last_error=func.coalesce(M.last_error, "taken over: its relay stopped beating before recording"))
                          ).rowcount
            s.execute(delete(OutboxRelayRow).where(OutboxRelayRow.relay_id.in_(dead)))
            if n:
                store.announce(s)
        if n:
            log.warning("took over %d messages claimed by %s (no heartbeat)", n, ", ".join(dead))
        return n

    def prune(self) -> int:
        """Delete delivered messages older than outbox.keep_delivered_hours (every few minutes
        from the loop): the table holds the backlog and recent history, not every message ever."""
        pruned = prune_before(self.db, self.clock.now() - timedelta(hours=self.cfg.keep_delivered_hours))
        if pruned:
            log.info("pruned %d delivered messages older than %.0f h", pruned, self.cfg.keep_delivered_hours)
        return pruned

    # -- deliver (in the pool; one adapter instance per thread) -------------------------------
    def _adapter(self, destination: str) -> Adapter:
        cache: dict[str, Adapter] = self._local.__dict__.setdefault("adapters", {})
        adapter = cache.get(destination)
        if adapter is None:
            config = self.hub.settings.destinations.get(destination)
            if config is None or not config.enabled:
                raise ConfigurationError(f"destination {destination!r} is not configured (or disabled) on this relay")
            if self._available is None:
                self._available = discover()
            context = AdapterContext(destination, self.clock, self.hub.settings.mappings_dir)
            adapter = build_adapter(destination, config.adapter, config.settings, context, self._available)
            cache[destination] = adapter
            with self._adapters_lock:
                self._adapters.append(adapter)
        return adapter

    def _facts(self, destination: str) -> tuple[str | None, int]:
        """(external system, batch limit) of a destination's adapter, asked once."""
        facts = self._adapter_facts.get(destination)
        if facts is None:
            try:
                adapter = self._adapter(destination)
                facts = (adapter.external_system(), max(1, int(adapter.batch_limit())))
            except Exception:  # noqa: BLE001 - a broken adapter fails its delivery, recorded there
                facts = (None, 1)
            self._adapter_facts[destination] = facts
        return facts

    def _system(self, destination: str) -> str | None:
        return self._facts(destination)[0]

    def _groups(self, claimed: list[Claimed]) -> list[list[Claimed]]:
        """Claimed messages as deliveries: alone, or in batches for adapters that take them.
        A claim holds at most one message per ordering key, so a batch never carries two
        messages of one case."""
        by_destination: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_destination.setdefault(c.destination, []).append(c)
        groups: list[list[Claimed]] = []
        for destination, items in by_destination.items():
            limit = self._facts(destination)[1]
            groups.extend(items[i:i + limit] for i in range(0, len(items), limit))
        return groups

    def _note(self, destination: str, failed: bool) -> bool:
        """Count a delivery's result for the local breaker; True when this failure trips it."""
        with self._breaker_lock:
            if not failed:
                self._local_failures[destination] = 0
                return False
            n = self._local_failures[destination] = self._local_failures.get(destination, 0) + 1
            if n < self.cfg.breaker_failures:
                return False
            self._local_pause[destination] = self.clock.now() + timedelta(seconds=self.cfg.breaker_pause_seconds)
            self._pause_recorded.discard(destination)
            self._local_failures[destination] = 0
            return True

    def _follow_database_pauses(self, paused: list[str]) -> None:
        """Drop the local pauses the database no longer holds once their failure is recorded:
        resumed by an operator, or never reached there because another relay's success reset
        the count. Before it is recorded, the local pause is all that stops this relay."""
        with self._breaker_lock:
            for destination in self._pause_recorded - set(paused):
                self._local_pause.pop(destination, None)
                self._pause_recorded.discard(destination)

    def _message(self, c: Claimed) -> OutboundMessage:
        body = dict(c.body)
        body["attempt"] = c.attempts
        if c.external_id and not body.get("external_id"):
            body["external_id"] = c.external_id
        return OutboundMessage.model_validate(body)

    def _paused_here(self, destination: str) -> bool:
        with self._breaker_lock:
            until = self._local_pause.get(destination)
        return until is not None and until > self.clock.now()

    def _deliver_group(self, group: list[Claimed]) -> list[Outcome]:
        """Deliver one message, or one batch of one destination; an outcome per message."""
        first = group[0]
        if self._paused_here(first.destination):
            return [Outcome(c, "deferred", error="not sent: the destination is paused by the circuit breaker") for c in group]
        try:
            adapter = self._adapter(first.destination)
        except ConfigurationError as exc:
            return [self._misconfigured(c, exc) for c in group]
        try:
            if len(group) == 1:
                try:
                    with carrying_request_id(first.body.get("request_id")):  # its log lines and the peer call
                        results: list[Any] = [adapter.deliver(self._message(first))]
                except AdapterError as exc:
                    results = [exc]
            else:
                results = list(adapter.deliver_batch([self._message(c) for c in group]))
                if len(results) != len(group):
                    raise TypeError(f"deliver_batch answered {len(results)} results for {len(group)} messages")
        except ConfigurationError as exc:  # deliver_batch raised it for the whole exchange
            return [self._misconfigured(c, exc) for c in group]
        except Exception as exc:  # an adapter broke the contract; retrying is safer than losing the message
            log.exception("adapter for %s raised %s outside the contract", first.destination, type(exc).__name__)
            error = f"adapter raised {type(exc).__name__} (not a contract error): {mask_text(str(exc))}"
            return [Outcome(c, "transient", error=error) for c in group]
        return [self._outcome(c, r) for c, r in zip(group, results)]

    def _outcome(self, c: Claimed, result: Any) -> Outcome:
        if isinstance(result, Delivery):
            self._note(c.destination, failed=False)
            return Outcome(c, "delivered", delivery=result)
        if isinstance(result, TransientError):
            tripped = self._note(c.destination, failed=True)
            return Outcome(c, "transient", error=_describe(result), retry_after=result.retry_after, tripped=tripped)
        if isinstance(result, ConfigurationError):
            return self._misconfigured(c, result)
        if isinstance(result, PermanentError):
            return Outcome(c, "permanent", error=_describe(result))
        log.error("adapter for %s answered %s outside the contract", c.destination, type(result).__name__)
        return Outcome(c, "transient", error=f"adapter answered {type(result).__name__} (not a Delivery or contract error)")

    def _misconfigured(self, c: Claimed, exc: ConfigurationError) -> Outcome:
        """The destination's settings or files are wrong (a file gone or changed since the
        start checked them, a setting only this adapter call reads). Neither the peer nor the
        message is at fault, so no attempt is used up and nothing goes to dead letters: the
        message waits, and the destination pauses for everyone with the reason in its pause
        state (`outbox status`). After the pause the adapter is built again, so a restored
        file heals by itself; `outbox resume` retries at once (hence no pause kept in this
        relay alone: other messages it already claimed meet the same error, at no cost)."""
        return Outcome(c, "deferred", error=f"misconfigured: {mask_text(str(exc))[:1500]}", misconfigured=True)

    # -- record ---------------------------------------------------------------------------------
    def record(self, outcomes: list[Outcome]) -> None:
        if outcomes:
            self.record_and_claim(outcomes, 0)

    def _record(self, s: Session, outcomes: list[Outcome], now: datetime) -> None:
        cfg = self.cfg
        ok_destinations: set[str] = set()
        failing: dict[str, tuple[int, str]] = {}
        delivered: list[int] = []
        misconfigured: dict[str, str] = {}
        for o in outcomes:
            c = o.claimed
            if o.kind == "delivered":
                _log_delivered(c, o.delivery)
                delivered.append(c.id)
                self._attach(s, c, o.delivery)
                ok_destinations.add(c.destination)
                continue
            verdict = decide(o, c.attempts, cfg, now=now)
            mine = (M.id == c.id, M.status == IN_FLIGHT, M.leased_by == self.id)
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
                values = dict(status=PENDING, available_at=verdict.at, lease_until=None, leased_by=None,
                              last_error=verdict.reason)
            s.execute(update(M).where(*mine).values(**values))
            _log_failed(c, isinstance(verdict, Dead), verdict.reason, values.get("available_at"), now)
            if o.kind == "transient":
                count, _ = failing.get(c.destination, (0, ""))
                failing[c.destination] = (count + 1, o.error or "")
        if delivered:
            # The peer has them: recorded even if our lease lapsed meanwhile.
            s.execute(update(M).where(M.id.in_(delivered), M.status.in_((PENDING, IN_FLIGHT)))
                      .values(status=DELIVERED, delivered_at=now, lease_until=None, last_error=None))
        for destination in ok_destinations - set(failing):
            s.execute(update(OutboxDestinationRow).where(OutboxDestinationRow.destination == destination,
                                                         OutboxDestinationRow.consecutive_failures > 0)
                      .values(consecutive_failures=0, updated_at=now))
        for destination, (count, error) in failing.items():
            self._count_failures(s, destination, count, error, now)
        tripped = {o.claimed.destination for o in outcomes if o.tripped}
        if tripped:
            with self._breaker_lock:
                self._pause_recorded |= tripped & set(self._local_pause)
        for destination, error in misconfigured.items():
            self._pause_misconfigured(s, destination, error, now)
        store.announce(s)  # followers of what we finished may now be due, on every relay

    def _attach(self, s: Session, c: Claimed, delivery: Delivery | None) -> None:
        if delivery is None or delivery.external_ref is None or not c.case_number:
            return
        try:
            with s.begin_nested():
                CaseRepository(s).attach_ref(c.case_number, delivery.external_ref)
        except RuleViolation as exc:
            # The delivery stands; a conflicting id is an operator's matter, not a retry.
            log.warning("case %s: %s answered with a ref we cannot attach: %s", c.case_number, c.destination, exc)

    def _count_failures(self, s: Session, destination: str, count: int, error: str, now: datetime) -> None:
        row = s.get(OutboxDestinationRow, destination, with_for_update=True)
        if row is None:
            row = OutboxDestinationRow(destination=destination, paused_by_operator=False, consecutive_failures=0, updated_at=now)
            s.add(row)
        row.consecutive_failures += count
        row.updated_at = now
        if row.consecutive_failures >= self.cfg.breaker_failures and not row.paused_by_operator:
            row.paused_until = now + timedelta(seconds=self.cfg.breaker_pause_seconds)
            row.reason = f"circuit breaker: {row.consecutive_failures} failures in a row; last: {error[:300]}"
            log.warning("destination %s paused for %.0fs: %s", destination, self.cfg.breaker_pause_seconds, mask_text(row.reason))
        s.flush()

    def _pause_misconfigured(self, s: Session, destination: str, error: str, now: datetime) -> None:
        self._adapter_facts.pop(destination, None)  # ask the rebuilt adapter again after the pause
        row = s.get(OutboxDestinationRow, destination, with_for_update=True)
        if row is None:
            row = OutboxDestinationRow(destination=destination, paused_by_operator=False, consecutive_failures=0, updated_at=now)
            s.add(row)
        row.updated_at = now
        if not row.paused_by_operator:
            row.paused_until = now + timedelta(seconds=self.cfg.breaker_pause_seconds)
            row.reason = error
        log.error("destination %s paused for %.0fs, its messages kept: %s", destination, self.cfg.breaker_pause_seconds, error)
        s.flush()

    # -- the loop -------------------------------------------------------------------------------
    def _pump(self, stop: threading.Event | None, deadline: float | None) -> int:
        handled = 0
        failures_in_a_row = 0
        first_unrecorded = 0.0
        more_due = True
        store.listen(self._url, self.wake)
        self._heart.start()
        try:
            while True:
                if stop is not None and stop.is_set():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    break
                self._kick.clear()
                self._gather()
                if self._unrecorded and not first_unrecorded:
                    first_unrecorded = time.monotonic()
                # Record in groups: right away when nothing else is in flight, else once a
                # group has formed or its first outcome has waited a few milliseconds.
                record_now = bool(self._unrecorded) and (
                    not self._inflight or len(self._unrecorded) >= RECORD_GROUP
                    or time.monotonic() - first_unrecorded >= RECORD_DELAY)
                woken = self._woken.is_set()
                if woken:
                    self._woken.clear()
                room = self.cfg.batch - sum(self._inflight.values())
                # Claim when there is room and a reason to think something is due: a wake-up,
                # the last claim filling up, or a record (claiming then shares its commit).
                claim_now = (room > 0 and (room >= max(1, self.cfg.batch // 2) or not self._inflight)
                             and (woken or more_due or record_now))
                claimed: list[Claimed] = []
                if record_now or claim_now:
                    outcomes = self._unrecorded if record_now else []
                    try:
                        self.reap()
                        claimed = self.record_and_claim(outcomes, room if claim_now else 0)
                        failures_in_a_row = 0
                        if claim_now:
                            more_due = len(claimed) == room
                    except (OperationalError, DBAPIError) as exc:
                        # The database went away (restart, failover): keep what we hold, back off, reconnect.
                        failures_in_a_row += 1
                        wait = min(5.0, 0.2 * 2 ** min(failures_in_a_row, 5))
                        log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, wait)
                        self._sleep(wait, stop)
                        more_due = True
                        continue
                    if record_now:
                        handled += len(outcomes)
                        self._unrecorded = []
                        first_unrecorded = 0.0
                for group in self._groups(claimed):
                    fut = self._pool.submit(self._deliver_group, group)
                    fut.add_done_callback(self._done)
                    self._inflight[fut] = len(group)
                if claimed:
                    continue
                if stop is None and not self._inflight and not self._unrecorded:
                    break
                if self._unrecorded:
                    self._kick.wait(RECORD_DELAY)
                elif not self._kick.wait(self.cfg.idle_poll_seconds if self._inflight else self._idle_wait()):
                    more_due = True  # nobody rang: look anyway (a backoff ended, a NOTIFY was missed)
        finally:
            store.unlisten(self._url, self.wake)
            self._finish_inflight()
            self._heart.stop()
        return handled

    def _idle_wait(self) -> float:
        """Sleep until the next backoff ends, a wake-up, or the idle poll, whichever is first."""
        now = self.clock.now()
        try:
            with self.db.read() as s:
                nxt = s.execute(select(func.min(M.available_at)).where(M.status == PENDING, M.available_at > now)).scalar()
        except (OperationalError, DBAPIError):
            return self.cfg.idle_poll_seconds
        # Another relay holds claims: look at its heartbeat again soon.
        longest = min(self.cfg.idle_poll_seconds, self.cfg.heartbeat_seconds) if self._watch.watching else self.cfg.idle_poll_seconds
        if nxt is None:
            return longest
        return max(0.01, min(longest, (nxt - now).total_seconds()))

    def _done(self, _future: Future[list[Outcome]]) -> None:
        self._kick.set()

    def _gather(self) -> None:
        done = [f for f in self._inflight if f.done()]
        for f in done:
            del self._inflight[f]
            self._unrecorded.extend(f.result())

    def _finish_inflight(self) -> None:
        """Wait for deliveries already sent and record them, so a clean stop leaves no lease behind."""
        for f in list(self._inflight):
            try:
                f.result(timeout=self.cfg.lease_seconds)
            except Exception:  # noqa: BLE001 - the reaper returns it after the lease
                pass
        self._gather()
        if not self._unrecorded:
            return
        try:
            self.record(self._unrecorded)
            self._unrecorded = []
        except (OperationalError, DBAPIError):
            log.warning("could not record %d outcomes at stop; their leases will lapse", len(self._unrecorded))

    def _sleep(self, seconds: float, stop: threading.Event | None) -> None:
        if stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._adapters_lock:
            adapters, self._adapters = self._adapters, []
        for a in adapters:
            a.close()


def _describe(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    text = f"{type(exc).__name__}: {exc}" + (f" | {detail}" if detail else "")
    return mask_text(text)[:2000]



# -- one line per delivery, for an operator watching a destination's first cases go out ------------
def _what(c: Claimed) -> str:
    """'<destination> case <number> seq <n> <event type> (attempt <k>)': case numbers are not personal data."""
    return (f"{c.destination} case {c.case_number or '-'} seq {c.body.get('sequence', '?')} "
            f"{c.body.get('event_type', '?')} (attempt {c.attempts})")


def _log_delivered(c: Claimed, delivery: Delivery | None) -> None:
    detail = mask_text(delivery.detail) if delivery is not None and delivery.detail else ""
    if detail.startswith("not sent"):  # the adapter decided the peer does not take it: said, not hidden
        log.info("%s: %s", _what(c), detail)
        return
    ref = delivery.external_ref if delivery is not None else None
    log.info("%s: delivered%s%s", _what(c), f", the peer's id {ref.system}:{ref.external_id}" if ref else "",
             f" ({detail})" if detail else "")


def _log_failed(c: Claimed, dead: bool, reason: str | None, retry_at: datetime | None, now: datetime) -> None:
    if dead:
        log.warning("%s: dead letter: %s", _what(c), reason)
    elif retry_at is not None:
        log.info("%s: failed, retried in %.1fs: %s", _what(c), (retry_at - now).total_seconds(), reason)
