"""Database engines. SQLite (a file, WAL) is the embedded default; PostgreSQL by URL scales out."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no notice between processes, writers still poll every 2 ms
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 30_000
# How often a writer waiting for another process's write lock tries again. SQLite's own busy
# handler sleeps in growing steps of up to 100 ms and so misses the short gaps a bulk writer
# (a `legacy import` beside `serve`) leaves between its transactions: an API write then
# waited for seconds. Trying every few milliseconds takes the first gap.
_WRITE_LOCK_POLL_SECONDS = 0.002


def waiters_path(database: str) -> str:
    """The file beside a SQLite database through which writers waiting for its write lock
    make themselves known to a bulk writer in another process (`yield_to_waiting_writers`)."""
    return f"{database}-writers"


@contextmanager
def _waiting(path: str | None) -> Iterator[None]:
    """Known as a writer waiting for `path`'s database: a shared lock on its waiters file,
    held until the block ends. Best effort: without the file (a read-only directory), no notice."""
    fd = None
    if path is not None and fcntl is not None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the lock


def yield_to_waiting_writers(path: str, max_wait: float) -> bool:
    """Wait, up to `max_wait` seconds, until no writer of another process is waiting for the
    write lock (each holds a shared lock on the waiters file while it waits, so an exclusive
    one is ours only when none does). A bulk writer calls this between its transactions: the
    gap it leaves lasts until the waiting API write has the lock, however long the machine
    takes to schedule it, instead of the few milliseconds before its own next BEGIN. True
    when some writer was waiting."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    deadline = time.monotonic() + max_wait
    waited = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return waited
            except BlockingIOError:
                waited = True
                if time.monotonic() > deadline:
                    return waited
                time.sleep(0.001)
    finally:
        os.close(fd)


def _begin_immediate(dbapi_conn: sqlite3.Connection, waiters: str | None = None) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    try:
        dbapi_conn.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 5) & 0xFF not in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
            raise
    with _waiting(waiters):
        while True:
            time.sleep(_WRITE_LOCK_POLL_SECONDS)
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", 5) & 0xFF in (5, 6)
                if not busy or time.monotonic() > deadline:
                    raise


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, immediate: bool = True, synchronous: str = "FULL", pool_size: int = 10) -> Engine:
    """One engine per database URL.

    On SQLite every transaction starts with BEGIN IMMEDIATE when `immediate`: a deferred
    transaction that reads and then writes can fail with SQLITE_BUSY on the upgrade, which
    the busy timeout does not cover; taking the write lock up front makes writers queue
    instead. Readers use a second engine with `immediate=False` (WAL lets them run beside
    the writer). synchronous=FULL makes a commit durable across power loss.
    """
    if is_sqlite(url):
        path = make_url(url).database
        waiters = None
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            waiters = waiters_path(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size, max_overflow=pool_size)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            # A writer waits for the write lock in _begin_immediate, not in SQLite's busy handler.
            cur.execute(f"PRAGMA busy_timeout={0 if immediate else BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            if immediate:
                _begin_immediate(conn.connection.dbapi_connection, waiters)
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
