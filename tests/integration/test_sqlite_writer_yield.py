"""A bulk writer on a SQLite file lets waiting writers go first (hub/db/engine.py): a writer
waiting for the write lock is known through the waiters file beside the database, and
`yield_to_waiting_writers` returns only once it has the lock. Each connection here stands
for a process (flock is per open file, so threads of one process see each other's locks
as other processes would)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from hub.db.database import Database
from hub.db.engine import waiters_path, yield_to_waiting_writers


def test_a_bulk_writer_yields_until_the_waiting_writer_has_the_lock(tmp_path) -> None:
    db_file = tmp_path / "hub.db"
    api = Database(f"sqlite:///{db_file}")
    bulk = sqlite3.connect(db_file, isolation_level=None, timeout=0, check_same_thread=False)  # no busy wait
    try:
        bulk.execute("PRAGMA journal_mode=WAL")
        bulk.execute("CREATE TABLE t (v TEXT)")
        waiters = waiters_path(str(db_file))
        assert yield_to_waiting_writers(waiters, max_wait=60) is False  # nobody waits: on at once

        bulk.execute("BEGIN IMMEDIATE")  # the bulk writer's batch in hand
        bulk.execute("INSERT INTO t VALUES ('bulk')")
        release = threading.Event()

        def api_write() -> None:
            with api.write() as s:  # waits for the lock, known as waiting
                s.execute(text("INSERT INTO t VALUES ('api')"))
                release.wait(60)

        writer = threading.Thread(target=api_write)
        writer.start()
        _until_someone_waits(waiters)
        bulk.execute("COMMIT")  # the batch ends ...
        assert yield_to_waiting_writers(waiters, max_wait=60) is True  # ... and the bulk writer waits
        # ... until the API write has the lock: the bulk writer cannot take it now.
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            bulk.execute("BEGIN IMMEDIATE")
        release.set()
        writer.join(timeout=60)
        assert [r[0] for r in bulk.execute("SELECT v FROM t ORDER BY rowid")] == ["bulk", "api"]
        assert api.yield_writer(max_wait=60) is False
    finally:
        bulk.close()
        api.dispose()


def _until_someone_waits(path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        fd = os.open(path, os.O_RDWR) if os.path.exists(path) else None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            finally:
                os.close(fd)
        assert time.monotonic() < deadline, "the API writer never waited"
        time.sleep(0.005)
