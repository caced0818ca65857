"""The relay: claims due messages with a lease, hands them to the adapters, records what
happened. Several relays may run on one PostgreSQL; on SQLite there is one writer.

Guarantees (docs/outbox.md): at-least-once with a stable Idempotency-Key; strictly in
order per (destination, ordering key) (outbox/claim.py); attempts are counted when
claimed, so a relay that dies mid-delivery still uses one up; a dead relay's claims are
taken over once its heartbeat stops (outbox/heartbeat.py), a hung one's when its lease lapses.

The pieces: outbox/claim.py (claim, reap, prune: SQL), outbox/delivery.py (the adapters,
in a thread pool), outbox/breaker.py (this relay's breaker between commits),
outbox/decide.py (what a failure means, pure) and outbox/record.py (applying it). This
module is the loop. The relay is given the database, the clock, the outbox settings, an
adapter factory, the case service's peer-id methods and the hub's OutboxWriter: not the hub.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from hub.db.database import Database
from hub.domain.clock import Clock
from hub.settings import OutboxSettings
from outbox import claim as claim_sql
from outbox import record as record_sql
from outbox.breaker import LocalBreaker
from outbox.claim import Claimed
from outbox.delivery import AdapterFactory, Deliverer, DestinationAdapters, Outcome
from outbox.heartbeat import Heartbeat, Watch
from outbox.record import PeerRefs
from outbox.store import OutboxWriter

if TYPE_CHECKING:
    from hub.container import Hub
    from outbox.metrics import OutboxMetrics

__all__ = ["Claimed", "Outcome", "Relay", "build_relay"]

log = logging.getLogger("hub.outbox")

RECORD_GROUP = 32  # outcomes recorded in one transaction, at most this many waiting
PRUNE_EVERY = 300.0  # seconds between prunes of old delivered messages
RECORD_DELAY = 0.005  # seconds an outcome may wait for others to share its commit
PIPELINE = 2  # batches a relay holds in flight at most


class Relay:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: OutboxSettings,
        adapters: AdapterFactory,
        cases: PeerRefs,
        writer: OutboxWriter,
        *,
        metrics: OutboxMetrics | None = None,
        relay_id: str | None = None,
    ) -> None:
        self.cfg = settings
        self.db = db
        self.clock = clock
        self.adapters = adapters
        self.cases = cases
        self.writer = writer
        self.metrics = metrics
        self.id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._kick = threading.Event()  # any reason to run the loop: a wake-up or a finished delivery
        self._woken = threading.Event()  # new work may be due (not just our own delivery finishing)
        self.breaker = LocalBreaker(clock, self.cfg.breaker_failures, self.cfg.breaker_pause_seconds)
        self.deliverer = Deliverer(adapters, self.breaker)
        self._pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="outbox-deliver")
        self._inflight: dict[Future[list[Outcome]], int] = {}  # each delivery and how many messages it carries
        self._unrecorded: list[Outcome] = []
        self._last_reap = 0.0
        self._last_prune = time.monotonic()  # the first prune waits a while: a starting relay has work to do
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
        outcomes = [o for group in self._pool.map(self.deliverer.deliver, self.deliverer.groups(claimed)) for o in group]
        self.record(outcomes)
        return len(claimed)

    def drain(self, timeout: float = 10.0) -> int:
        """Deliver until nothing is due and nothing is in flight (tests). Returns messages handled."""
        return self._pump(stop=None, deadline=time.monotonic() + timeout)

    def run_forever(self, stop: threading.Event) -> int:
        return self._pump(stop=stop, deadline=None)

    # -- claim and record, in one transaction ---------------------------------------------------
    def claim(self, limit: int) -> list[Claimed]:
        return self.record_and_claim([], limit)

    def record(self, outcomes: list[Outcome]) -> None:
        if outcomes:
            self.record_and_claim(outcomes, 0)

    def record_and_claim(self, outcomes: list[Outcome], limit: int) -> list[Claimed]:
        """Record finished deliveries and claim the next ones in one transaction.

        Not fsynced (durable=False): if a power failure or a database crash loses it, the
        messages it recorded or claimed are claimed and sent again with the same idempotency
        key, which the peer dedupes; the case data that caused them was committed durably before."""
        if not outcomes and limit <= 0:
            return []
        if limit > 0:
            self.deliverer.know_all()
        if limit > 0 and time.monotonic() - self._heart.last_beat >= self.cfg.heartbeat_seconds:
            self._heart.beat()  # our row exists before any claim names us (the thread keeps it counting)
        now = self.clock.now()
        with self.db.write(durable=False) as s:
            if outcomes:
                self._record(s, outcomes, now)
            claimed = self._claim(s, limit, now) if limit > 0 else []
        if outcomes and self.metrics is not None:
            self.metrics.observe_all(outcomes, now)
        return claimed

    def _claim(self, s: Session, limit: int, now: datetime) -> list[Claimed]:
        paused, half_open = claim_sql.destination_states(s, now, self.cfg.breaker_failures)
        self.breaker.follow(paused)
        deliverable = self.adapters.deliverable()
        probing = [d for d in half_open if d in deliverable]
        rows = claim_sql.claim(
            s, holder=self.id, limit=limit, now=now, lease_seconds=self.cfg.lease_seconds, deliverable=deliverable, paused_now=paused, probing=probing
        )
        systems = {r.destination: self.deliverer.system(r.destination) for r in rows if r.case_number}
        ids = record_sql.external_ids(s, rows, systems, self.cases)
        return [Claimed(r.id, r.destination, r.case_number, r.attempts, r.created_at, r.body, ids.get((r.destination, r.case_number))) for r in rows]

    def _record(self, s: Session, outcomes: list[Outcome], now: datetime) -> None:
        misconfigured = record_sql.apply(s, outcomes, holder=self.id, cfg=self.cfg, now=now, cases=self.cases)
        for destination in misconfigured:
            self.deliverer.forget(destination)  # ask the rebuilt adapter again after the pause
        self.breaker.recorded({o.claimed.destination for o in outcomes if o.tripped})
        self.writer.announce(s)  # followers of what we finished may now be due, on every relay

    # -- give back what dead or hung relays hold; forget what was delivered long ago ------------
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
            lapsed = claim_sql.release_lapsed(s, now)
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
            n = claim_sql.release_holders(s, dead)
            if n:
                self.writer.announce(s)
        if n:
            log.warning("took over %d messages claimed by %s (no heartbeat)", n, ", ".join(dead))
        return n

    def prune(self) -> int:
        """Delete delivered messages older than outbox.keep_delivered_hours (every few minutes
        from the loop): the table holds the backlog and recent history, not every message ever."""
        pruned = claim_sql.prune(self.db, self.clock.now(), self.cfg.keep_delivered_hours)
        if pruned:
            log.info("pruned %d delivered messages older than %.0f h", pruned, self.cfg.keep_delivered_hours)
        return pruned

    # -- the loop -------------------------------------------------------------------------------
    def _pump(self, stop: threading.Event | None, deadline: float | None) -> int:
        handled = 0
        failures_in_a_row = 0
        first_unrecorded = 0.0
        more_due = True
        self.writer.listen(self.wake)
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
                    not self._inflight or len(self._unrecorded) >= RECORD_GROUP or time.monotonic() - first_unrecorded >= RECORD_DELAY
                )
                woken = self._woken.is_set()
                if woken:
                    self._woken.clear()
                # Up to two batches in flight: a whole batch is claimed while the last one is
                # still out, so each claim's look for the heads serves a full batch.
                room = min(self.cfg.batch, PIPELINE * self.cfg.batch - sum(self._inflight.values()))
                # Claim when there is room and a reason to think something is due: a wake-up,
                # the last claim filling up, or a record (claiming then shares its commit).
                claim_now = room > 0 and (room >= self.cfg.batch or not self._inflight) and (woken or more_due or record_now)
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
                for group in self.deliverer.groups(claimed):
                    fut = self._pool.submit(self.deliverer.deliver, group)
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
            self.writer.unlisten(self.wake)
            self._finish_inflight()
            self._heart.stop()
        return handled

    def _idle_wait(self) -> float:
        """Sleep until the next backoff ends, a wake-up, or the idle poll, whichever is first."""
        now = self.clock.now()
        try:
            with self.db.read() as s:
                nxt = claim_sql.next_available(s, now)
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
        self.deliverer.close()


def build_relay(
    hub: Hub,
    writer: OutboxWriter,
    *,
    settings: OutboxSettings | None = None,
    metrics: OutboxMetrics | None = None,
    relay_id: str | None = None,
    **overrides: Any,
) -> Relay:
    """A relay from the hub's parts: its database, clock, outbox settings (`settings`, else
    the hub's, with `overrides`), its destinations' adapters and its case service. The hub
    itself stays out of the relay."""
    cfg = (settings or hub.settings.outbox).model_copy(update={k: v for k, v in overrides.items() if v is not None})
    adapters = DestinationAdapters(hub.settings.destinations, hub.clock, hub.settings.mappings_dir)
    return Relay(hub.db, hub.clock, cfg, adapters, hub.cases, writer, metrics=metrics, relay_id=relay_id)
