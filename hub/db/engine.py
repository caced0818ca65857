"""Database engines. SQLite (a file, WAL) is the embedded default; PostgreSQL by URL scales out."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


BUSY_TIMEOUT_MS = 30_000
# How often a writer waiting for another process's write lock tries again. SQLite's own busy
# handler sleeps in growing steps of up to 100 ms and so misses the short gaps a bulk writer
# (a `legacy import` beside `serve`) leaves between its transactions: an API write then
# waited for seconds. Trying every few milliseconds takes the first gap.
_WRITE_LOCK_POLL_SECONDS = 0.002


def _begin_immediate(dbapi_conn: sqlite3.Connection) -> None:
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 5) & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(_WRITE_LOCK_POLL_SECONDS)


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
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=pool_size)

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
                _begin_immediate(conn.connection.dbapi_connection)
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
