"""Counters kept in a table by an upsert: `INSERT … ON CONFLICT (key) DO UPDATE SET last =
last + step RETURNING last`. On PostgreSQL the row lock serialises concurrent writers of one
key, so two processes never take the same value; SQLite serialises all writers anyway.

Case numbers (hub/db/numbering.py, a sequence per local day) and the outbox's sequences
(outbox/store.py, one per destination and ordering key) count this way, and so do the channels'
shared rate windows (channels/rates.py, requests per subject and minute, in the column `count`). The statement is built
once per dialect and kept: it runs on every case registered and every message enqueued.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.db.cursor import CursorStatement
from hub.db.models import Base


class UpsertCounter:
    """The counters of the table `row` maps, one row per value of its `keys` columns, the
    count in `column`."""

    def __init__(self, row: type[Base], keys: Sequence[str], column: str = "last") -> None:
        self.table = row.__table__
        self.keys = tuple(keys)
        self.column = column
        self._statements: dict[str, CursorStatement] = {}  # dialect name -> statement

    def add(self, session: Session, step: int = 1, **key: object) -> int:
        """Add `step` to the counter named by `key` (a new counter starts at `step`) and return
        its value now: the last of the `step` values taken."""
        dialect = session.get_bind().dialect.name
        # On the DB-API cursor on SQLite (hub/db/cursor.py): intake takes a number per case, and
        # Core's and the ORM's bookkeeping for one statement cost more than the statement.
        value: int = self._statement(dialect).run(session, {**key, "step": step})
        return value

    def _statement(self, dialect: str) -> CursorStatement:
        stmt = self._statements.get(dialect)
        if stmt is None:
            table = self.table
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = CursorStatement(
                insert(table)
                # Each key bound with its column's type: a timezone-aware window start is stored
                # as the column stores it, so the conflict finds the row an earlier write made.
                .values({**{k: bindparam(k, type_=table.c[k].type) for k in self.keys}, self.column: bindparam("step")})
                .on_conflict_do_update(index_elements=list(self.keys), set_={self.column: table.c[self.column] + bindparam("step")})
                .returning(table.c[self.column])
            )
            self._statements[dialect] = stmt
        return stmt
