"""The county adapter's repository over its tables (tables.py): the last update applied per
ticket (so an older one is ignored), signatures seen inside the replay window, and poll
cursors. A repository rather than tables, so it keeps its own name: the rows live in
tables.py like every adapter's, and this is what reads and writes them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.county.tables import CountyPollCursorRow, CountySignatureRow, CountyTicketRow
from hub.db.database import Database
from hub.db.models import EventRow
from hub.domain.model import Case


class StaleUpdate(Exception):
    """The hub already holds a newer (or this very) update from the county for this ticket."""

    def __init__(self, held_at: datetime | None, duplicate: bool) -> None:
        self.held_at, self.duplicate = held_at, duplicate
        super().__init__("duplicate" if duplicate else "stale")


@dataclass(frozen=True)
class UpdateMark:
    county: str
    ticket_id: str
    case_number: str
    at: datetime
    update_id: str | None


def is_stale(row: CountyTicketRow | None, at: datetime, update_id: str | None) -> StaleUpdate | None:
    if row is None or row.last_update_at is None:
        return None
    if at < row.last_update_at:
        return StaleUpdate(row.last_update_at, duplicate=False)
    if at == row.last_update_at and update_id == row.last_update_id:
        return StaleUpdate(row.last_update_at, duplicate=True)
    return None


# The case service calls its sinks inside the case's transaction. The update being applied
# is handed to our sink through a context variable, so the "newest update" record and the
# case change commit together, and a stale update rolls the case change back.
_pending: ContextVar[UpdateMark | None] = ContextVar("county_update", default=None)


@contextmanager
def applying(mark: UpdateMark) -> Iterator[None]:
    token = _pending.set(mark)
    try:
        yield
    finally:
        _pending.reset(token)


class CountyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def sink(self, session: Session, case: Case, rows: list[EventRow]) -> None:
        mark = _pending.get()
        if mark is None or not rows or rows[0].case_number != mark.case_number:
            return
        row = session.execute(
            select(CountyTicketRow).where(CountyTicketRow.county == mark.county, CountyTicketRow.ticket_id == mark.ticket_id).with_for_update()
        ).scalar_one_or_none()
        stale = is_stale(row, mark.at, mark.update_id)
        if stale is not None:
            raise stale
        if row is None:
            session.add(
                CountyTicketRow(
                    county=mark.county,
                    ticket_id=mark.ticket_id,
                    case_number=mark.case_number,
                    last_update_at=mark.at,
                    last_update_id=mark.update_id,
                    updated_at=rows[0].occurred_at,
                )
            )
        else:
            row.last_update_at, row.last_update_id, row.updated_at = mark.at, mark.update_id, rows[0].occurred_at
        session.flush()

    def ticket(self, county: str, ticket_id: str) -> CountyTicketRow | None:
        with self.db.read() as s:
            return s.get(CountyTicketRow, (county, ticket_id))

    def remember_signature(self, county: str, signature: str, now: datetime, window: timedelta) -> bool:
        """False if this signature was seen inside the window (a replay)."""
        try:
            with self.db.write() as s:
                s.add(CountySignatureRow(county=county, signature=signature, seen_at=now))
                s.flush()
                # Older signatures cannot be replayed anyway (their timestamp is out of the window).
                s.execute(delete(CountySignatureRow).where(CountySignatureRow.county == county, CountySignatureRow.seen_at < now - 2 * window))
        except IntegrityError:
            return False
        return True

    def cursor(self, county: str) -> str | None:
        with self.db.read() as s:
            row = s.get(CountyPollCursorRow, county)
            return row.cursor if row else None

    def save_cursor(self, county: str, cursor: str | None, now: datetime) -> None:
        with self.db.write() as s:
            row = s.get(CountyPollCursorRow, county)
            if row is None:
                s.add(CountyPollCursorRow(county=county, cursor=cursor, updated_at=now))
            else:
                row.cursor, row.updated_at = cursor, now
