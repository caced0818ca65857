"""Many cases at once: the bulk write behind `CaseRepository.add_historical`.

A historical import (another line's records, years old) writes cases that arrive whole, with
one history line each, by the hundred thousand. `CaseRepository.add` takes several
statements per case and a pydantic dump; this takes a few multi-row statements per batch,
with the same rows and values (the columns of repository.CASE_COLUMNS). On SQLite the values
are rendered as the column types would store them and go to the driver's executemany
(`SqliteRows`); elsewhere through SQLAlchemy Core with the model's types (`CoreRows`).
`bulk_rows(session)` gives the same writer to a feature for its own tables beside the cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex, DropIndex

from hub.db.models import CaseRow, CaseUnitRow, ExternalRefRow, HistoryRow
from hub.db.phone_index import phone_hash


@dataclass(slots=True)
class HistoricalCase:
    """A case that arrives whole with its history's one line. Codes are the enums' values;
    `doc` is the case document as JSON text, as `Case.model_dump(mode="json", exclude={"history"})`
    would give it; `phone` is normalised (indexed as the repository's phone hash)."""

    number: str
    state: str
    request_type: str
    category_code: str
    division_code: str
    urgency: str
    channel: str
    lead_unit: str | None
    received_at: datetime
    search_text: str
    doc: str
    phone: str | None
    ref_system: str  # the id the case has on the system it came from
    ref_id: str
    actor: str  # the history line: who wrote it, the action, its data as JSON text
    action: str
    history_data: str


def sqlite_time(value: datetime) -> str:
    """UTCDateTime's value on SQLite: naive UTC, as SQLAlchemy's DATETIME writes it."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database; the clock gives aware ones")
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


class CoreRows:
    """Batch inserts through SQLAlchemy Core: the model's column types bind the values."""

    def __init__(self, s: Session) -> None:
        self.s = s

    @staticmethod
    def time(value: datetime) -> Any:
        return value

    @staticmethod
    def doc(text: str) -> Any:
        """A JSON column's value, from JSON text: the type dumps it again."""
        return json.loads(text)

    def cases(self, columns: tuple[str, ...], rows: list[tuple]) -> list[int]:
        table = CaseRow.__table__
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return [r[0] for r in self.s.execute(stmt, [dict(zip(columns, r)) for r in rows])]

    def insert(self, model: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self.s.execute(model.__table__.insert(), [dict(zip(columns, r)) for r in rows])


class SqliteRows(CoreRows):
    """Batch inserts straight to sqlite3's executemany, in the session's transaction, with
    values rendered as the columns' types render them on SQLite (UTCDateTime: naive UTC
    text with microseconds; JSON: the dialect's serializer, json.dumps by default). The unit
    tests hold them equal to the types' own bind processors."""

    def __init__(self, s: Session) -> None:
        super().__init__(s)
        self.conn = s.connection()
        serializer = getattr(self.conn.dialect, "_json_serializer", None)
        if serializer is not None:  # an engine with its own JSON serializer: let it write the text
            self.doc = lambda text: serializer(json.loads(text))  # type: ignore[method-assign]

    @staticmethod
    def doc(text: str) -> Any:
        return text  # written as json.dumps, the JSON type's default serializer, would

    time = staticmethod(sqlite_time)

    def cases(self, columns: tuple[str, ...], rows: list[tuple]) -> list[int]:
        # The transaction holds the write lock (BEGIN IMMEDIATE; the number upsert wrote already):
        # the new rows are exactly those above the old max id.
        last = self.conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM cases").scalar_one()
        self._executemany("cases", columns, rows)
        ids: dict[str, int] = dict(self.conn.exec_driver_sql("SELECT number, id FROM cases WHERE id > ?", (last,)).all())
        return [ids[r[0]] for r in rows]

    def insert(self, model: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self._executemany(model.__tablename__, columns, rows)

    def _executemany(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        self.conn.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)


# The index of the cases by phone hash (hub.db.phone_index): its key is a keyed hash, so each
# case lands at a random place in it and a batch of a thousand dirties a page of it per case,
# all written to the WAL at every commit. A large load into a hub nobody is using (the legacy
# import with a fixed batch size) leaves it out and builds it once at the end: one sort.
# While it is out, a search by phone reads the table instead: slower, never wrong.
PHONE_INDEX = next(i for i in CaseRow.__table__.indexes if i.name == "ix_cases_phone_hash")


def drop_phone_index(s: Session) -> None:
    # IF EXISTS rather than checkfirst: that reflects every index of `cases`, and warns of the
    # expression-based ones it cannot read.
    s.execute(DropIndex(PHONE_INDEX, if_exists=True))


def ensure_phone_index(s: Session) -> None:
    """Put the index back (a no-op when present): after a load that left it out, and before
    the next one in case a crash did not get to it."""
    s.execute(CreateIndex(PHONE_INDEX, if_not_exists=True))


def phone_index_missing(s: Session) -> bool:
    """A load killed while the index was out never put it back (SQLite only: PostgreSQL keeps it)."""
    if s.get_bind().dialect.name != "sqlite":
        return False
    return not s.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = :name"), {"name": PHONE_INDEX.name}).scalar_one()


def bulk_rows(s: Session) -> CoreRows:
    """The batch writer for this session's database."""
    return SqliteRows(s) if s.get_bind().dialect.name == "sqlite" else CoreRows(s)


_HISTORY_COLUMNS = ("case_id", "seq", "at", "actor", "role", "action", "from_state", "to_state", "note", "data")


def add_historical(s: Session, columns: tuple[str, ...], phone_key: bytes, cases: list[HistoricalCase], now: datetime) -> list[int]:
    """Write the cases, their external refs, lead units and history lines; their row ids in order.
    `columns` is the repository's CASE_COLUMNS: the tuples below follow it."""
    out = bulk_rows(s)
    ts, doc = out.time, out.doc
    now_db = ts(now)
    rows = []
    for c in cases:
        at = ts(c.received_at)
        rows.append(
            (
                c.number,
                1,
                c.state,
                c.request_type,
                c.category_code,
                c.division_code,
                c.division_code[:6],
                c.urgency,
                c.channel,
                c.lead_unit,
                None,
                None,
                False,
                False,
                at,
                now_db,
                c.search_text,
                doc(c.doc),
                phone_hash(phone_key, c.phone) if c.phone else None,
                at,
            )
        )
    ids = out.cases(columns, rows)
    out.insert(ExternalRefRow, ("system", "external_id", "case_id"), [(c.ref_system, c.ref_id, i) for c, i in zip(cases, ids)])
    units = [(i, c.lead_unit, "lead") for c, i in zip(cases, ids) if c.lead_unit]
    if units:
        out.insert(CaseUnitRow, ("case_id", "unit_code", "role"), units)
    out.insert(
        HistoryRow, _HISTORY_COLUMNS, [(i, 1, now_db, c.actor, "system", c.action, None, c.state, None, doc(c.history_data)) for c, i in zip(cases, ids)]
    )
    return ids
