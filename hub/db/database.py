"""The database handle: a writer and a reader session factory over one URL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hub.db.engine import is_sqlite, make_engine, waiters_path, yield_to_waiting_writers
from hub.db.group_commit import GroupCommitter
from hub.db.outage import IO_ERROR, READ_ONLY, UNREACHABLE, Outage, classify
from hub.db.person_seal import DEFAULT_KEY_FILE as SEAL_KEY_FILE
from hub.db.person_seal import remember_engine_seal_key
from hub.db.phone_index import key_from_file, remember_engine_key

T = TypeVar("T")

# How long a failed write keeps /ready reporting the outage when no write succeeds after it.
# It lapses on its own so that a balancer which stopped sending traffic sends some again.
OUTAGE_MEMORY_SECONDS = 30.0

# SQLite has one writer per file. Writers of one process queue on this lock, so the next
# one starts the moment the last commits; without it they would meet SQLITE_BUSY and
# sleep in the busy handler's growing steps (up to 100 ms a try), which is most of the
# tail latency under mixed load. Other processes still wait through busy_timeout.
_file_locks: dict[str, threading.RLock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(url: str) -> threading.RLock:
    key = make_url(url).database or url
    with _file_locks_guard:
        return _file_locks.setdefault(key, threading.RLock())


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        pool_size: int = 10,
        phone_index_key: bytes | None = None,
        person_seal_key: bytes | None = None,
        group_commit: bool = True,
    ) -> None:
        self.url = url
        # The phone index's key (hub.db.phone_index) and the person seal's (hub.db.person_seal),
        # handed to repositories through the sessions' info; None: the key file's.
        self.phone_index_key = phone_index_key if phone_index_key is not None else key_from_file()
        self.person_seal_key = person_seal_key if person_seal_key is not None else key_from_file(SEAL_KEY_FILE)
        info = {"phone_index_key": self.phone_index_key, "person_seal_key": self.person_seal_key}
        self.is_sqlite = is_sqlite(url)
        self.writer: Engine = make_engine(url, immediate=True, synchronous=sqlite_synchronous, pool_size=pool_size)
        # WAL readers never wait for the writer, so reads get their own deferred engine.
        self.reader: Engine = make_engine(url, immediate=False, synchronous=sqlite_synchronous, pool_size=pool_size) if self.is_sqlite else self.writer
        # Bookkeeping that may be lost on power failure without harm (see write(durable=False)):
        # on SQLite a writer whose commits skip the fsync; a later durable commit syncs them too.
        self.relaxed_writer: Engine = (
            make_engine(url, immediate=True, synchronous="NORMAL", pool_size=2) if self.is_sqlite and sqlite_synchronous != "NORMAL" else self.writer
        )
        for engine in {self.writer, self.reader, self.relaxed_writer}:
            remember_engine_key(engine, self.phone_index_key)
            remember_engine_seal_key(engine, self.person_seal_key)
        self._write = sessionmaker(self.writer, expire_on_commit=False, info=info)
        self._write_relaxed = sessionmaker(self.relaxed_writer, expire_on_commit=False, info=info)
        self._read = sessionmaker(self.reader, expire_on_commit=False, info=info)
        self._lock = _file_lock(url) if self.is_sqlite else None
        self._outage: tuple[Outage, float] | None = None
        # On a SQLite file, units of work (write_unit) share commits: hub/db/group_commit.py.
        path = make_url(url).database if self.is_sqlite else None
        self.group: GroupCommitter | None = (
            GroupCommitter(self.write, fatal=lambda exc: classify(exc) is not None) if group_commit and path and path != ":memory:" else None
        )

    def write_unit(self, unit: Callable[[Session], T], cursor_only: bool = False) -> T:
        """Run `unit` in a durable write transaction and return its result once committed.

        On a SQLite file the unit joins the group commit (hub/db/group_commit.py): it runs in a
        savepoint of a transaction shared with other callers' units, and this returns after
        that transaction's one fsync. Its error is raised here, and undoes its own writes only.
        Elsewhere (PostgreSQL, which groups commits itself; :memory:) it is its own transaction.
        `cursor_only`: the unit writes through hub/db/cursor.py, not the ORM's unit of work, and
        gets the group commit's cheaper savepoint (hub/db/group_commit.py)."""
        if self.group is None or self.group.in_writer():
            with self.write() as s:
                return unit(s)
        return self.group.run(unit, cursor_only)

    async def write_unit_async(self, unit: Callable[[Session], T], cursor_only: bool = False) -> T:
        """write_unit for the event loop: on a SQLite file the loop awaits the group commit
        without holding a thread (so under load only the loop and the writer want the
        interpreter lock, and the writer is not starved by dozens of waiting request threads);
        elsewhere the unit runs in a worker thread."""
        if self.group is None:
            return await asyncio.to_thread(self.write_unit, unit)
        return await asyncio.wrap_future(self.group.submit(unit, cursor_only))

    def write_units(self, units: Sequence[Callable[[Session], T]], cursor_only: bool = False) -> list[T | BaseException]:
        """Several units at once (write_unit's rules for each): each one's result or error,
        in order. On a SQLite file they may share one commit; one unit's error never undoes another's."""
        if self.group is None or self.group.in_writer():
            out: list[T | BaseException] = []
            for unit in units:
                try:
                    out.append(self.write_unit(unit))
                except Exception as exc:
                    out.append(exc)
            return out
        return self.group.run_many(list(units), cursor_only)

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Session]:
        """One transaction: committed if the block returns, rolled back if it raises.

        durable=False is for writes whose loss on a power failure only repeats work that is
        safe to repeat (the outbox's claims and acknowledgements: a lost one means a message
        is sent again with its idempotency key). The commit then skips the fsync (SQLite
        synchronous=NORMAL in WAL mode, PostgreSQL synchronous_commit off); it is never torn
        and never reordered before an earlier durable commit.
        """
        factory = self._write if durable else self._write_relaxed
        try:
            if self._lock is None:
                with factory() as session, session.begin():
                    if not durable:
                        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                    yield session
            else:
                with self._lock, factory() as session, session.begin():
                    yield session
        except Exception as exc:
            outage = classify(exc)
            if outage is not None:
                self._outage = (outage, time.monotonic())
                if self.is_sqlite and outage in (READ_ONLY, UNREACHABLE, IO_ERROR):
                    # A connection opened while the file was read-only (or unopenable) stays so
                    # after the file is writable again: drop the pooled ones, the next write opens anew.
                    self.writer.dispose()
                    if self.relaxed_writer is not self.writer:
                        self.relaxed_writer.dispose()
            raise
        self._outage = None

    def yield_writer(self, max_wait: float = 1.0) -> bool:
        """For a bulk writer between its transactions (an import, the duplicate search): on a
        SQLite file, wait (up to `max_wait` s) until the writers of other processes waiting for
        the write lock have had it (hub.db.engine.yield_to_waiting_writers); True if any was.
        PostgreSQL has no single writer: nothing to wait for."""
        if not self.is_sqlite:
            return False
        path = make_url(self.url).database
        if not path or path == ":memory:":
            return False
        return yield_to_waiting_writers(waiters_path(path), max_wait)

    def recent_outage(self) -> Outage | None:
        """The outage the last write met, unless a write succeeded since or it is old.

        A read-only file or a full disk still answers SELECT 1, so readiness asks this too."""
        seen = self._outage
        if seen is None or time.monotonic() - seen[1] > OUTAGE_MEMORY_SECONDS:
            return None
        return seen[0]

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self.group is not None:
            self.group.stop()
        self.writer.dispose()
        if self.relaxed_writer is not self.writer:
            self.relaxed_writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
