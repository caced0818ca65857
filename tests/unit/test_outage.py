"""Which database errors are outages (503 with Retry-After) and which remain bugs (500)."""

from __future__ import annotations

import errno
import sqlite3

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc

from hub.db import outage as o


def _sqlite(message: str, code: int | None = None) -> sa_exc.DBAPIError:
    orig = sqlite3.OperationalError(message)
    if code is not None:
        orig.sqlite_errorcode = code
    return sa_exc.OperationalError("INSERT INTO cases ...", {}, orig)


@pytest.mark.parametrize(
    ("message", "code", "reason"),
    [
        ("database or disk is full", 13, "disk full"),
        ("attempt to write a readonly database", 8, "database is read-only"),
        ("attempt to write a readonly database", 8 | (5 << 8), "database is read-only"),  # SQLITE_READONLY_DBMOVED
        ("unable to open database file", 14, "database unreachable"),
        ("disk I/O error", 10 | (3 << 8), "disk I/O error"),  # SQLITE_IOERR_WRITE
        ("database is locked", 5, "database busy"),
        ("database or disk is full", None, "disk full"),  # a driver without error codes: SQLite's fixed text
        ("attempt to write a readonly database", None, "database is read-only"),
    ],
)
def test_sqlite_outages(message: str, code: int | None, reason: str) -> None:
    found = o.classify(_sqlite(message, code))
    assert found is not None and found.reason == reason and found.retry_after > 0


@pytest.mark.parametrize(("message", "code"), [("no such table: cases", 1), ('near "SELEC": syntax error', 1), ("no such column: x", None)])
def test_sqlite_bugs_stay_bugs(message: str, code: int | None) -> None:
    assert o.classify(_sqlite(message, code)) is None


def _pg(orig: Exception, cls: type[sa_exc.DBAPIError] = sa_exc.OperationalError, invalidated: bool = False):
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


def test_postgresql_refusing_connections_is_unreachable() -> None:
    orig = psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 5999 failed: Connection refused')
    assert o.classify(_pg(orig)) == o.UNREACHABLE


def test_postgresql_closing_the_connection_mid_transaction_is_connection_lost() -> None:
    orig = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
    assert o.classify(_pg(orig)) == o.CONNECTION_LOST
    assert o.classify(_pg(Exception("anything"), sa_exc.DBAPIError, invalidated=True)) == o.CONNECTION_LOST


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [("57P01", o.UNREACHABLE), ("57P03", o.UNREACHABLE), ("08006", o.CONNECTION_LOST), ("53100", o.DISK_FULL), ("53300", o.BUSY), ("25006", o.READ_ONLY)],
)
def test_postgresql_states_that_are_outages(sqlstate: str, expected: o.Outage) -> None:
    orig = pg_errors.lookup(sqlstate)("server says so")
    assert o.classify(_pg(orig)) == expected
    assert o.classify(_pg(orig, sa_exc.InternalError)) == expected  # whatever class the driver maps it to


@pytest.mark.parametrize("sqlstate", ["42P01", "23505", "22P02", "42601"])  # undefined table, unique, bad text, syntax
def test_postgresql_states_that_are_bugs(sqlstate: str) -> None:
    orig = pg_errors.lookup(sqlstate)("server says so")
    assert o.classify(_pg(orig, sa_exc.ProgrammingError)) is None


def test_os_errors_and_pool_timeout() -> None:
    assert o.classify(OSError(errno.ENOSPC, "No space left on device")) == o.DISK_FULL
    assert o.classify(OSError(errno.EROFS, "Read-only file system")) == o.READ_ONLY
    assert o.classify(OSError(errno.ENOENT, "No such file")) is None
    assert o.classify(sa_exc.TimeoutError("QueuePool limit reached")) == o.POOL_EXHAUSTED
    assert o.classify(ValueError("a bug")) is None and o.classify(KeyError("x")) is None
