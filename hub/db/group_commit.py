"""Group commit for a SQLite file: concurrent writers' transactions share one fsync.

On SQLite every commit at synchronous=FULL waits for its own fsync, and one process's writers
queue for the file's single write lock (hub/db/database.py). Under load most of a request's
time was that queue. Here one writer thread takes the units of work waiting in a queue (each a
function of a Session), runs each in its own savepoint inside one transaction, commits once,
and only then answers each caller: a unit's caller hears "done" after its own rows are
durable, never before. A unit that raises has its savepoint rolled back and gets its error;
its neighbours in the batch are not touched. If the commit itself fails, every unit of the
batch gets that error (none of them was stored).

A unit submitted as `cursor_only` (the intake's registration: its rows go through
hub/db/cursor.py's statements, none through the ORM's unit of work) gets its savepoint on the
driver connection instead: SAVEPOINT / RELEASE / ROLLBACK TO issued directly, without
SQLAlchemy's nested-transaction bookkeeping, which cost about a quarter of the writer's time per
case. The ORM is kept out of it: outside the ORM's own savepoints (begin_nested) a flush is
refused before it writes anything (a failing ORM flush there would roll back the whole batch's
transaction), and a unit that tried one, or leaves ORM changes in the session (a sink that adds
a row object), is undone and run again in an ORM savepoint, whose outcome stands.

PostgreSQL groups concurrent commits' WAL flushes in the server itself: there a unit runs in
its own transaction (Database.write_unit).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from hub.db.cursor import driver_connection, execute_on_driver

log = logging.getLogger("hub.db")

T = TypeVar("T")

# Enough to take every request thread's unit in one go (anyio's pool has 40 threads) while
# keeping one batch's transaction short.
MAX_BATCH = 64

# A writer with nothing to do for this long ends; the next unit starts another (a process
# with many idle Database handles, like the tests, keeps no thread per handle).
IDLE_SECONDS = 5.0

Unit = Callable[[Session], Any]
_STOP = object()
_SAVEPOINT = "hub_unit"  # a cursor-only unit's savepoint on the driver connection
_IN_CURSOR_UNIT = "hub.group_commit.cursor_unit"  # session.info key while a cursor-only unit runs


class OrmFlushRefused(Exception):
    """A cursor-only unit asked the ORM to flush outside an ORM savepoint: it is run again in one."""


@event.listens_for(Session, "before_flush")
def _refuse_flush_outside_orm_savepoint(session: Session, _context: Any, _instances: Any) -> None:
    # before_flush runs before the flush opens its subtransaction: refusing here changes nothing.
    if session.info.get(_IN_CURSOR_UNIT) and session.get_nested_transaction() is None:
        raise OrmFlushRefused("a cursor-only unit used the ORM's unit of work")


class GroupCommitter:
    """One writer thread over `begin` (a Database's durable write transaction)."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Session]],
        name: str = "group-commit",
        max_batch: int = MAX_BATCH,
        fatal: Callable[[Exception], bool] = lambda exc: False,
    ) -> None:
        self._begin = begin
        # An error that says the database itself is unusable (read-only, full, gone): it fails
        # the whole batch through `begin`, which records the outage (Database.write).
        self._fatal = fatal
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._name = name
        self.batches = 0  # commits made (tests, metrics)
        self.units = 0

    def in_writer(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, unit: Callable[[Session], T], cursor_only: bool = False) -> Future[T]:
        """Queue `unit`; its future resolves after the batch holding it commits (durably), or
        with the unit's own error, or with the commit's. `cursor_only`: the unit writes through
        hub/db/cursor.py (and Core), not the ORM's unit of work (module docstring)."""
        return self.submit_many([unit], cursor_only)[0]

    def submit_many(self, units: list[Callable[[Session], T]], cursor_only: bool = False) -> list[Future[T]]:
        """Queue `units` together: they go into the same batch."""
        futures: list[Future[T]] = [Future() for _ in units]
        # Each unit runs in its caller's context: context variables the caller set (the request
        # id on log lines, a channel's slot for the retrieval code it issues) reach it.
        context = contextvars.copy_context()
        self._queue.put(
            [(unit, future, context, cursor_only) for unit, future in zip(units, futures, strict=True)]
        )  # before the start check: an idle writer leaving sees it (_loop)
        self._ensure_started()
        return futures

    def run(self, unit: Callable[[Session], T], cursor_only: bool = False) -> T:
        return self.submit(unit, cursor_only).result()

    def run_many(self, units: list[Callable[[Session], T]], cursor_only: bool = False) -> list[T | BaseException]:
        """Several units at once (they share a commit); each one's result or error, in order."""
        out: list[T | BaseException] = []
        for f in self.submit_many(units, cursor_only):
            exc = f.exception()
            out.append(exc if exc is not None else f.result())
        return out

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                item = _STOP
            if item is _STOP:  # stopped, or idle: leave unless a unit came meanwhile
                with self._lock:
                    if self._queue.empty():  # a unit queued after this check starts a new writer
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                continue
            batch = list(item)
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # after this batch
                    break
                batch.extend(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Unit, Future[Any], contextvars.Context, bool]]) -> None:
        done: list[tuple[Future[Any], Any]] = []
        try:
            with self._begin() as s:
                for unit, future, context, cursor_only in batch:
                    if not future.set_running_or_notify_cancel():
                        continue
                    try:
                        result = _on_driver(s, unit, context) if cursor_only else _in_orm_savepoint(s, unit, context)
                    except Exception as exc:  # the unit's own refusal or failure goes to its caller alone
                        if self._fatal(exc) or _transaction_lost(s):
                            raise
                        future.set_exception(exc)
                    else:
                        done.append((future, result))
        except BaseException as exc:  # the commit failed: nothing of this batch is stored
            for future, _ in done:
                future.set_exception(exc)
            for _, future, _, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.units += len(done)
        for future, result in done:
            future.set_result(result)


def _in_orm_savepoint(s: Session, unit: Unit, context: contextvars.Context) -> Any:
    with s.begin_nested():  # released (flushed) on success, rolled back on error
        return context.run(unit, s)


def _on_driver(s: Session, unit: Unit, context: contextvars.Context) -> Any:
    """A cursor-only unit in a savepoint on the driver connection: released on success, rolled
    back (with the session's identity map cleared) on error. A unit that used the ORM's unit of
    work after all is undone and run again in an ORM savepoint, whose outcome stands."""
    driver = driver_connection(s)
    if driver is None:  # not SQLite: no group commit runs there, but stay correct
        return _in_orm_savepoint(s, unit, context)
    execute_on_driver(driver, f"SAVEPOINT {_SAVEPOINT}")
    s.info[_IN_CURSOR_UNIT] = True
    try:
        result = context.run(unit, s)
    except Exception as exc:
        s.info.pop(_IN_CURSOR_UNIT, None)
        if not driver.in_transaction:
            raise  # SQLite rolled the whole transaction back (a full disk, an I/O error): _commit fails the batch
        touched = isinstance(exc, OrmFlushRefused) or _orm_changes_pending(s)
        _undo(s, driver)
        if touched:
            return _in_orm_savepoint(s, unit, context)  # it used the ORM: its ORM run's outcome stands
        raise
    s.info.pop(_IN_CURSOR_UNIT, None)
    if _orm_changes_pending(s):
        _undo(s, driver)
        return _in_orm_savepoint(s, unit, context)
    execute_on_driver(driver, f"RELEASE {_SAVEPOINT}")
    return result


def _transaction_lost(s: Session) -> bool:
    """True when SQLite ended the batch's transaction itself after an error (it does on a full
    disk or an I/O error): the units after it would otherwise run outside any transaction."""
    try:
        driver = driver_connection(s)
    except Exception:  # no connection to ask: nothing more can run in this transaction either
        return True
    return driver is not None and not driver.in_transaction


def _orm_changes_pending(s: Session) -> bool:
    return bool(s.new or s.dirty or s.deleted)


def _undo(s: Session, driver: Any) -> None:
    execute_on_driver(driver, f"ROLLBACK TO {_SAVEPOINT}")
    execute_on_driver(driver, f"RELEASE {_SAVEPOINT}")
    # Objects the unit loaded or added may describe rows the rollback removed: the next units
    # read from the file. Earlier units' objects were flushed already; nothing is lost.
    s.expunge_all()
