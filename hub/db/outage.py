"""Which database errors are outages (the database cannot serve now: retry later) and which are bugs.

An outage is answered 503 with Retry-After and reported by /ready; anything else stays a 500.
The decision is a pure function of the exception so every branch has a unit test.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

# SQLite primary result codes (the low byte of the extended code).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_PROTOCOL = 13, 14, 15


@dataclass(frozen=True)
class Outage:
    reason: str  # a fixed phrase, never the driver's message (it may quote SQL parameters)
    retry_after: int  # seconds a client should wait before trying again


UNREACHABLE = Outage("database unreachable", 5)
CONNECTION_LOST = Outage("connection to the database lost", 5)
BUSY = Outage("database busy", 2)
DISK_FULL = Outage("disk full", 60)
READ_ONLY = Outage("database is read-only", 60)
IO_ERROR = Outage("disk I/O error", 30)
POOL_EXHAUSTED = Outage("no database connection free", 2)

_SQLITE = {
    _SQLITE_BUSY: BUSY,
    _SQLITE_LOCKED: BUSY,
    _SQLITE_PROTOCOL: BUSY,
    _SQLITE_READONLY: READ_ONLY,
    _SQLITE_IOERR: IO_ERROR,
    _SQLITE_FULL: DISK_FULL,
    _SQLITE_CANTOPEN: UNREACHABLE,
}
# Older drivers carry no error code: the message is SQLite's fixed text for the code.
_SQLITE_TEXT = {
    "database or disk is full": DISK_FULL,
    "attempt to write a readonly database": READ_ONLY,
    "unable to open database file": UNREACHABLE,
    "disk i/o error": IO_ERROR,
    "database is locked": BUSY,
    "database table is locked": BUSY,
}
_OS = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EROFS: READ_ONLY, errno.EIO: IO_ERROR}


def _postgres(sqlstate: str) -> Outage | None:
    if sqlstate.startswith("08"):  # connection exception
        return CONNECTION_LOST
    if sqlstate in ("57P01", "57P02", "57P03"):  # admin shutdown, crash shutdown, cannot connect now
        return UNREACHABLE
    if sqlstate == "53100":  # disk full
        return DISK_FULL
    if sqlstate.startswith("53") or sqlstate in ("55P03", "57014"):  # out of resources, lock not available, timeout
        return BUSY
    if sqlstate == "25006":  # read-only transaction: a standby, or default_transaction_read_only
        return READ_ONLY
    return None


def _is_connect_failure(orig: BaseException | None) -> bool:
    text = str(orig).lower()
    return "connection refused" in text or "connection failed" in text or "could not connect" in text


def classify(error: BaseException) -> Outage | None:
    """The outage `error` stands for, or None when it is not one (a bug: a 500)."""
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give within its timeout
        return POOL_EXHAUSTED
    if isinstance(error, OSError) and error.errno in _OS:
        return _OS[error.errno]
    if not isinstance(error, sa_exc.DBAPIError):
        return None
    orig = error.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE:
            return _SQLITE[code & 0xFF]
        return _SQLITE_TEXT.get(str(orig).strip().lower())
    if error.connection_invalidated:
        return CONNECTION_LOST
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return _postgres(sqlstate)
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        # No answer from a server at all: refused at connect, or closed under a transaction.
        return UNREACHABLE if _is_connect_failure(orig) else CONNECTION_LOST
    return None
