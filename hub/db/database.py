"""The database handle: a writer and a reader session factory over one URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from hub.db.engine import is_sqlite, make_engine


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        self.writer: Engine = make_engine(url, immediate=True, synchronous=sqlite_synchronous, pool_size=pool_size)
        # WAL readers never wait for the writer, so reads get their own deferred engine.
        self.reader: Engine = (make_engine(url, immediate=False, synchronous=sqlite_synchronous, pool_size=pool_size)
                               if self.is_sqlite else self.writer)
        self._write = sessionmaker(self.writer, expire_on_commit=False)
        self._read = sessionmaker(self.reader, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed if the block returns, rolled back if it raises."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
