"""Core statements run on the DB-API cursor: the intake's hot path on a SQLite file.

SQLAlchemy's execution of a compiled, cached Core statement still costs tens of microseconds
of Python per call (the execution context, the parameter processing, the result object); the
sqlite3 driver's own execute costs a few. A registration runs about seven statements, and on
the embedded default every one of them runs in the group commit's single writer thread
(hub/db/group_commit.py), so that cost was a large share of what bounds intake.

A CursorStatement compiles its statement once for the SQLite dialect and keeps the SQL text
and, for each positional parameter, SQLAlchemy's own bind processor for its column's type
(UTCDateTime's conversion to naive UTC, JSON's serialiser, ...): the values reach the file
exactly as Core would write them. A driver error is wrapped as SQLAlchemy wraps it
(sqlalchemy.exc.DBAPIError.instance), so callers and the outage classification
(hub/db/outage.py) see the same exceptions. Other databases (PostgreSQL) run the statement
through Core unchanged: their hot path is the server, and Core's execution events (the tests'
connection killer) stay in force there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


class CursorStatement:
    """`stmt` with its parameters bound by name at each call. `keys`: the columns an INSERT
    without values() sets (those its callers pass), as Core would infer from the first call."""

    def __init__(self, stmt: Executable, keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.keys = list(keys) if keys is not None else None
        self._sqlite: _Compiled | None = None

    def _compiled(self, dialect: Dialect) -> _Compiled:
        if self._sqlite is None:
            compiled = self.stmt.compile(dialect=dialect, column_keys=self.keys)  # type: ignore[attr-defined]
            processors = compiled._bind_processors  # what Core applies to each bound value
            names = compiled.positiontup  # SQLite's paramstyle is positional (qmark)
            if names is None:
                raise TypeError(f"not a positional paramstyle: {dialect.name}")
            binds: list[tuple[str, Any]] = []
            for name in names:
                bind = compiled.binds[name]
                if bind.expanding:  # rendered at execution by Core: write such a list into the SQL
                    raise TypeError(f"{name}: an expanding IN cannot run on the cursor")
                # A value given when the statement was built (a LIMIT's), unless the call names it.
                binds.append((name, _REQUIRED if bind.required else bind.effective_value))
            process = [(i, processors[name]) for i, name in enumerate(names) if processors.get(name) is not None]
            self._sqlite = _Compiled(compiled.string, binds, process)
        return self._sqlite

    def run(self, session: Session, params: Mapping[str, Any]) -> Any:
        """Execute in the session's transaction; the first column of the first row the
        statement returns (RETURNING, SELECT), or None."""
        row = self.first(session, params)
        return None if row is None else row[0]

    def first(self, session: Session, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute in the session's transaction; the first row the statement returns, or None.
        On SQLite the row is the driver's: for columns that need no conversion on the way
        out (integers, text), as the intake's reads are."""
        driver, dialect = _driver_connection(session)
        if driver is None:
            return _core(session.connection(), self.stmt, params)
        compiled = self._compiled(dialect)
        values = [params[name] if default is _REQUIRED else params.get(name, default) for name, default in compiled.binds]
        for i, process in compiled.process:
            values[i] = process(values[i])
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, values)
            row: tuple[Any, ...] | None = cursor.fetchone()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(compiled.sql, values, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
        return row


@dataclass(frozen=True)
class _Compiled:
    sql: str
    binds: list[tuple[str, Any]]  # (name, _REQUIRED or the value it was built with), in order
    process: list[tuple[int, Callable[[Any], Any]]]  # (position, Core's bind processor)


_REQUIRED = object()
_DRIVER = "hub.db.cursor"  # the session.info key of the transaction's driver connection


def driver_connection(session: Session) -> sqlite3.Connection | None:
    """The sqlite3 connection the session's transaction runs on, or None on another database."""
    return _driver_connection(session)[0]


def execute_on_driver(driver: sqlite3.Connection, sql: str) -> None:
    """A statement without parameters on the driver (a savepoint's), a driver error raised as
    SQLAlchemy raises it, so the outage classification (hub/db/outage.py) still reads it."""
    try:
        driver.execute(sql)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _driver_connection(session: Session) -> tuple[sqlite3.Connection | None, Dialect]:
    """The sqlite3 connection of the session's transaction (None on another database), kept
    in the session's info while that transaction lasts: session.connection() costs more than
    the statement it would run. Kept per innermost transaction: a savepoint (begin_nested)
    is only emitted once its transaction asks for the connection, so each new one does, or
    the cursor's rows would be written outside it and survive its rollback."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    kept = session.info.get(_DRIVER)
    if kept is not None and transaction is not None and kept[0] is transaction:
        return kept[1], kept[2]
    connection = session.connection()
    dialect = connection.dialect
    driver = connection.connection.driver_connection if dialect.name == "sqlite" else None
    session.info[_DRIVER] = (session.get_nested_transaction() or session.get_transaction(), driver, dialect)
    return driver, dialect


def _core(connection: Connection, stmt: Executable, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    result = connection.execute(stmt, dict(params))
    if not result.returns_rows:
        return None
    found = result.first()
    return None if found is None else tuple(found)
