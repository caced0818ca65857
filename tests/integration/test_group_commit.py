"""Group commit on a SQLite file (hub/db/group_commit.py): concurrent units of work share one
transaction and one fsync, each caller answered only after the commit, and one failing unit
never undoes its neighbours."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

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
