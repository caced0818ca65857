"""Leader leases in the database: "only one active across processes" for pollers and the
scheduler. A holder renews before expiry; a dead holder's lease lapses and another takes it.

The acquire is one conditional UPDATE (or an INSERT when the row is new), so two
processes racing for it cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from hub.db.database import Database
from hub.db.models import LeaseRow, WorkerPassRow
from hub.domain.clock import Clock
from hub.logmask import mask_text

log = logging.getLogger("hub.leases")

T = TypeVar("T")
ERROR_CHARS = 500  # a failed pass's reason as kept in worker_passes


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(self, db: Database, clock: Clock, name: str, ttl: timedelta, holder: str | None = None) -> None:
        self.db, self.clock, self.name, self.ttl = db, clock, name, ttl
        self.holder = holder or holder_id()

    def acquire(self) -> bool:
        """Take or renew the lease; True while this holder has it."""
        now = self.clock.now()
        with self.db.write() as s:
            taken = cast(
                "CursorResult[Any]",
                s.execute(  # an UPDATE's result: a CursorResult, with rowcount
                    update(LeaseRow)
                    .where(LeaseRow.name == self.name, (LeaseRow.holder == self.holder) | (LeaseRow.expires_at < now))
                    .values(holder=self.holder, expires_at=now + self.ttl)
                ),
            ).rowcount
            if taken:
                return True
            exists = s.execute(select(LeaseRow.name).where(LeaseRow.name == self.name)).scalar_one_or_none()
            if exists is not None:
                return False
            try:
                with s.begin_nested():
                    s.add(LeaseRow(name=self.name, holder=self.holder, expires_at=now + self.ttl))
            except IntegrityError:  # another process inserted it first
                return False
            return True

    def held_by(self) -> tuple[str, datetime] | None:
        """Who holds the lease now and until when (None: nobody), for messages to people."""
        with self.db.read() as s:
            row = s.execute(select(LeaseRow.holder, LeaseRow.expires_at).where(LeaseRow.name == self.name)).first()
        if row is None or row.expires_at <= self.clock.now():
            return None
        return row.holder, row.expires_at

    # -- passes: what /metrics says of the leader's work (hub_worker_last_success_timestamp_seconds)
    def passed(self) -> None:
        """The leader finished a pass of its work: recorded under the lease's name, by the clock."""
        self._record(last_success_at=self.clock.now())

    def failed(self, reason: str) -> None:
        """The leader's pass failed (an error, a peer that cannot be reached): the time and the
        reason, masked; the last success stays where it was. Never raises: it is called while
        handling a failure, maybe a database outage that keeps this write out too."""
        try:
            self._record(last_error_at=self.clock.now(), last_error=mask_text(reason)[:ERROR_CHARS])
        except Exception:  # noqa: BLE001 - the pass's own failure is what gets logged
            log.warning("%s: could not record the failed pass", self.name, exc_info=True)

    def run_pass(self, work: Callable[[], T]) -> T:
        """`work()` as one pass: recorded as passed when it returns, as failed (and re-raised) when it raises."""
        try:
            result = work()
        except Exception as exc:
            self.failed(f"{type(exc).__name__}: {exc}")
            raise
        self.passed()
        return result

    def _record(self, **values: Any) -> None:
        with self.db.write() as s:
            done = cast("CursorResult[Any]", s.execute(update(WorkerPassRow).where(WorkerPassRow.name == self.name).values(**values))).rowcount
            if done:
                return
            try:
                with s.begin_nested():
                    s.add(WorkerPassRow(name=self.name, **values))
            except IntegrityError:  # a process that held the lease before inserted it meanwhile
                s.execute(update(WorkerPassRow).where(WorkerPassRow.name == self.name).values(**values))

    def release(self) -> None:
        with self.db.write() as s:
            s.execute(
                update(LeaseRow).where(LeaseRow.name == self.name, LeaseRow.holder == self.holder).values(expires_at=self.clock.now() - timedelta(seconds=1))
            )


class LeasedWorker:
    """The loop every leader worker runs (scheduler, pollers, pullers, router): `round()` on its
    own thread every `seconds_between_rounds()`, or sooner when woken, until stopped; the lease
    given back when it stops. A subclass sets `name` and `lease`, calls `__init__`, and supplies
    `seconds_between_rounds()` and `run_once()`; `round()` says how a round's errors are logged."""

    name: str
    lease: Lease

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def seconds_between_rounds(self) -> float:
        raise NotImplementedError

    def join_timeout(self) -> float:
        """How long `stop` waits for a round in progress."""
        return 30.0

    def run_once(self) -> object:
        raise NotImplementedError

    def round(self) -> None:
        """One round; the loop must outlive a database hiccup, so errors are logged, not raised."""
        try:
            self.run_once()
        except Exception:
            log.exception("%s: round failed; retrying after the interval", self.name)

    def wake(self) -> None:
        """Run the next round now instead of after the interval."""
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout())
            self._thread = None
        try:
            self.lease.release()
        except Exception:  # the database may already be gone at shutdown; the lease lapses anyway
            log.warning("%s: could not release the lease", self.name, exc_info=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.round()
            self._wake.wait(self.seconds_between_rounds())
