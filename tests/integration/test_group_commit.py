"""Group commit on a SQLite file (hub/db/group_commit.py): concurrent units of work share one
transaction and one fsync, each caller answered only after the commit, and one failing unit
never undoes its neighbours."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from hub.db.cursor import CursorStatement
from hub.db.database import Database
from hub.db.group_commit import GroupCommitter


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}", phone_index_key=b"k" * 32)
    with database.write() as s:
        s.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
    yield database
    database.dispose()


def _rows(db: Database) -> list[str]:
    with db.read() as s:
        return [r[0] for r in s.execute(text("SELECT v FROM t ORDER BY v"))]


def _insert(v: str):
    def unit(s: Session) -> str:
        s.execute(text("INSERT INTO t VALUES (:v)"), {"v": v})
        return v

    return unit


class Refused(Exception):
    pass


def _insert_then_refuse(v: str):
    def unit(s: Session) -> str:
        s.execute(text("INSERT INTO t VALUES (:v)"), {"v": v})
        raise Refused(v)

    return unit


def test_a_failing_unit_undoes_its_own_rows_only(db: Database) -> None:
    results = db.write_units([_insert("a"), _insert_then_refuse("b"), _insert("a"), _insert("c")])
    assert results[0] == "a" and results[3] == "c"
    assert isinstance(results[1], Refused)
    assert "UNIQUE" in str(results[2])  # the second "a" met the first one in the same transaction
    assert _rows(db) == ["a", "c"]
    assert db.group is not None and db.group.batches == 1  # the four shared one commit


def test_a_unit_error_is_raised_to_its_caller(db: Database) -> None:
    with pytest.raises(Refused):
        db.write_unit(_insert_then_refuse("x"))
    assert db.write_unit(_insert("y")) == "y"
    assert _rows(db) == ["y"]


def test_concurrent_callers_share_commits_and_each_sees_its_row_stored(db: Database) -> None:
    def one(i: int) -> bool:
        v = db.write_unit(_insert(f"v{i:03d}"))
        # Answered after the commit: another connection sees the row at once.
        with db.read() as s:
            return s.execute(text("SELECT count(*) FROM t WHERE v = :v"), {"v": v}).scalar_one() == 1

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(one, range(200)))
    assert len(_rows(db)) == 200
    assert db.group is not None and db.group.units == 200


def test_a_failed_commit_fails_every_unit_of_its_batch(db: Database) -> None:
    class Boom(Exception):
        pass

    started = threading.Event()

    def begin():
        started.set()
        raise Boom("disk gone")

    group = GroupCommitter(begin)
    try:
        with pytest.raises(Boom):
            group.run(_insert("z"))
        assert all(isinstance(r, Boom) for r in group.run_many([_insert("p"), _insert("q")]))
    finally:
        group.stop()
    assert started.is_set() and _rows(db) == []


def test_an_opted_out_database_writes_each_unit_alone(tmp_path) -> None:
    alone = Database(f"sqlite:///{tmp_path / 'alone.db'}", phone_index_key=b"k" * 32, group_commit=False)
    try:
        assert alone.group is None
        with alone.write() as s:
            s.execute(text("CREATE TABLE t (v TEXT UNIQUE)"))
        assert alone.write_units([_insert("a"), _insert_then_refuse("b")])[0] == "a"
        assert _rows(alone) == ["a"]
    finally:
        alone.dispose()


def test_an_error_saying_the_database_is_unusable_fails_the_whole_batch(db: Database) -> None:
    # (A read-only or full file: Database passes hub.db.outage.classify, so write() records the outage.)
    group = GroupCommitter(db.write, fatal=lambda exc: isinstance(exc, Refused))
    try:
        results = group.run_many([_insert("a"), _insert_then_refuse("b"), _insert("c")])
    finally:
        group.stop()
    assert all(isinstance(r, Refused) for r in results)
    assert _rows(db) == []


# -- cursor-only units: their savepoint on the driver connection ----------------------------------

META = MetaData()
CURSOR_ROWS = Table("cursor_unit_rows", META, Column("id", Integer, primary_key=True), Column("v", String(20), unique=True))
INSERT_ROW = CursorStatement(CURSOR_ROWS.insert().returning(CURSOR_ROWS.c.id), ("v",))


class OrmRow(DeclarativeBase):
    pass


class Tagged(OrmRow):
    __tablename__ = "orm_unit_rows"
    v: Mapped[str] = mapped_column(String(20), primary_key=True)


def _cursor_rows(db: Database) -> list[str]:
    with db.read() as s:
        return [r[0] for r in s.execute(text("SELECT v FROM cursor_unit_rows ORDER BY v"))]


def _tagged(db: Database) -> list[str]:
    with db.read() as s:
        return [r[0] for r in s.execute(text("SELECT v FROM orm_unit_rows ORDER BY v"))]


def _on_cursor(v: str, refuse: bool = False, orm: str | None = None, flush: bool = False):
    def unit(s: Session) -> str:
        INSERT_ROW.run(s, {"v": v})
        if orm is not None:  # a sink that uses the ORM after all
            s.add(Tagged(v=orm))
            if flush:
                s.flush()
        if refuse:
            raise Refused(v)
        return v

    return unit


@pytest.fixture
def cursor_db(db: Database) -> Database:
    META.create_all(db.writer)
    OrmRow.metadata.create_all(db.writer)
    return db


def test_a_refused_cursor_only_unit_leaves_no_row_and_its_neighbours_keep_theirs(cursor_db: Database) -> None:
    db = cursor_db
    results = db.write_units([_on_cursor("a"), _on_cursor("b", refuse=True), _on_cursor("a"), _on_cursor("c")], cursor_only=True)
    assert results[0] == "a" and results[3] == "c"
    assert isinstance(results[1], Refused)
    assert isinstance(results[2], IntegrityError)  # the second "a" met the first one in the same transaction
    assert _cursor_rows(db) == ["a", "c"]
    assert db.group is not None and db.group.batches == 1


def test_cursor_only_and_orm_units_share_a_batch_each_undoing_only_itself(cursor_db: Database) -> None:
    db = cursor_db
    units = [_on_cursor("a"), _insert_then_refuse("x"), _on_cursor("b", refuse=True), _insert("y"), _on_cursor("c")]
    futures = [db.group.submit(u, cursor_only=(i % 2 == 0)) for i, u in enumerate(units)]  # type: ignore[union-attr]
    outcomes = [f.exception() or f.result() for f in futures]
    assert outcomes[0] == "a" and outcomes[3] == "y" and outcomes[4] == "c"
    assert isinstance(outcomes[1], Refused) and isinstance(outcomes[2], Refused)
    assert _cursor_rows(db) == ["a", "c"] and _rows(db) == ["y"]


def test_a_cursor_only_unit_that_uses_the_orm_is_stored_once(cursor_db: Database) -> None:
    db = cursor_db
    results = db.write_units([_on_cursor("a", orm="A"), _on_cursor("b", orm="B", flush=True), _on_cursor("c")], cursor_only=True)
    assert results == ["a", "b", "c"]
    assert _cursor_rows(db) == ["a", "b", "c"]  # run again in an ORM savepoint: its first run was undone
    assert _tagged(db) == ["A", "B"]


def test_a_failing_orm_flush_in_a_cursor_only_unit_undoes_that_unit_alone(cursor_db: Database) -> None:
    db = cursor_db
    # The second unit's ORM row repeats the first's key: its flush fails. Outside an ORM savepoint
    # that failure would roll back the whole batch's transaction; here it is that unit's error.
    results = db.write_units([_on_cursor("a", orm="K"), _on_cursor("b", orm="K", flush=True), _on_cursor("c", orm="L")], cursor_only=True)
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], IntegrityError)
    assert _cursor_rows(db) == ["a", "c"]
    assert _tagged(db) == ["K", "L"]


def test_a_refused_cursor_only_unit_that_used_the_orm_leaves_nothing(cursor_db: Database) -> None:
    db = cursor_db
    results = db.write_units([_on_cursor("a", orm="A", refuse=True), _on_cursor("b")], cursor_only=True)
    assert isinstance(results[0], Refused) and results[1] == "b"
    assert _cursor_rows(db) == ["b"] and _tagged(db) == []
