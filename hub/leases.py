"""Leader leases in the database: "only one active across processes" for pollers and the
scheduler. A holder renews before expiry; a dead holder's lease lapses and another takes it.

The acquire is one conditional UPDATE (or an INSERT when the row is new), so two
processes racing for it cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hub.db.database import Database
from hub.db.models import LeaseRow
from hub.domain.clock import Clock


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(self, db: Database, clock: Clock, name: str, ttl: timedelta, holder: str | None = None) -> None:
        self.db, self.clock, self.name, self.ttl = db, clock, name, ttl
        self.holder = holder or holder_id()

    def acquire(self) -> bool:
        """Take or renew the lease; True while this holder has it."""
        now = self.clock.now()
        with self.db.write() as s:
            taken = s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name, (LeaseRow.holder == self.holder) | (LeaseRow.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.ttl)
            ).rowcount
            if taken:
                return True
            exists = s.execute(select(LeaseRow.name).where(LeaseRow.name == self.name)).scalar_one_or_none()
            if exists is not None:
                return False
            try:
                with s.begin_nested():
                    s.add(LeaseRow(name=self.name, holder=self.holder, expires_at=now + self.ttl))
            except IntegrityError:  # another process inserted it first
                return False
            return True

    def release(self) -> None:
        with self.db.write() as s:
            s.execute(update(LeaseRow).where(LeaseRow.name == self.name, LeaseRow.holder == self.holder)
                      .values(expires_at=self.clock.now() - timedelta(seconds=1)))
