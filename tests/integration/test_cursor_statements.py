"""Statements on the DB-API cursor (hub/db/cursor.py): on a SQLite file they store exactly what
Core stores for the same statement and values (aware datetimes as naive UTC, JSON as text,
booleans as integers), inside the session's transaction, and a driver error reaches the
caller as SQLAlchemy's own exception type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from hub.db.cursor import CursorStatement
from hub.db.database import Database
from hub.db.models import UTCDateTime

META = MetaData()
ROWS = Table(
    "cursor_rows",
    META,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), unique=True),
    Column("at", UTCDateTime()),
    Column("doc", JSON),
    Column("flag", Boolean),
)
KEYS = ("name", "at", "doc", "flag")
INSERT = CursorStatement(ROWS.insert().returning(ROWS.c.id), KEYS)
NEWEST = CursorStatement(select(ROWS.c.id, ROWS.c.name).where(ROWS.c.name != bindparam("not_name")).order_by(ROWS.c.id.desc()).limit(1))

CHINA = timezone(timedelta(hours=8))


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}", phone_index_key=b"k" * 32, group_commit=False)
    META.create_all(database.writer)
    yield database
    database.dispose()


def _raw(db: Database, name: str) -> tuple:
    with db.read() as s:
        return tuple(s.execute(text("SELECT at, doc, flag FROM cursor_rows WHERE name = :n"), {"n": name}).one())


def test_the_cursor_stores_what_core_stores_for_the_same_values(db: Database) -> None:
    values = {"at": datetime(2025, 9, 26, 9, 58, 0, 123456, tzinfo=CHINA), "doc": {"标题": "小区噪音", "n": [1, None]}, "flag": True}
    with db.write() as s:
        s.connection().execute(ROWS.insert(), {"name": "core", **values})
        new_id = INSERT.run(s, {"name": "cursor", **values})
    assert isinstance(new_id, int) and new_id > 0
    assert _raw(db, "cursor") == _raw(db, "core")
    with db.read() as s:
        row = s.execute(select(ROWS).where(ROWS.c.id == new_id)).one()
    assert row.at == datetime(2025, 9, 26, 1, 58, 0, 123456, tzinfo=UTC)  # the same instant, read back aware
    assert row.doc == values["doc"] and row.flag is True


def test_a_value_given_when_the_statement_was_built_is_used_and_rows_come_back_whole(db: Database) -> None:
    with db.write() as s:
        for name in ("a", "b", "c"):
            INSERT.run(s, {"name": name, "at": datetime.now(UTC), "doc": {}, "flag": False})
        assert NEWEST.first(s, {"not_name": "c"}) == (2, "b")  # LIMIT 1, bound when built
        assert NEWEST.first(s, {"not_name": "zzz"}) == (3, "c")


def test_the_cursor_writes_inside_the_sessions_transaction(db: Database) -> None:
    class Refused(Exception):
        pass

    with pytest.raises(Refused), db.write() as s:
        INSERT.run(s, {"name": "gone", "at": datetime.now(UTC), "doc": {}, "flag": False})
        raise Refused()
    with db.read() as s:
        assert s.execute(text("SELECT count(*) FROM cursor_rows")).scalar_one() == 0


def test_a_savepoint_rolled_back_undoes_the_cursors_rows_written_in_it(db: Database) -> None:
    class Refused(Exception):
        pass

    def row(name: str) -> dict:
        return {"name": name, "at": datetime.now(UTC), "doc": {}, "flag": False}

    with db.write() as s:
        INSERT.run(s, row("before"))  # the transaction's connection is the cursor's already
        for name in ("undone", "again undone"):
            with pytest.raises(Refused), s.begin_nested():
                INSERT.run(s, row(name))
                raise Refused()
        with s.begin_nested():
            INSERT.run(s, row("kept"))
    with db.read() as s:
        assert list(s.execute(text("SELECT name FROM cursor_rows ORDER BY id")).scalars()) == ["before", "kept"]


def test_a_driver_error_is_raised_as_sqlalchemys_exception(db: Database) -> None:
    with pytest.raises(IntegrityError, match="UNIQUE"), db.write() as s:
        INSERT.run(s, {"name": "twice", "at": datetime.now(UTC), "doc": {}, "flag": False})
        INSERT.run(s, {"name": "twice", "at": datetime.now(UTC), "doc": {}, "flag": False})


def test_an_expanding_in_is_refused_before_it_runs(db: Database) -> None:
    listed = CursorStatement(select(ROWS.c.id).where(ROWS.c.name.in_(["a", "b"])))
    with pytest.raises(TypeError, match="expanding"), db.write() as s:
        listed.run(s, {})
