"""The operator-edited calendar overrides and the imported years, read through a short cache.

Both change a few times a year, deadlines are computed on every dispatch: each process
re-reads the small tables at most every `ttl` seconds, and at once after its own edit.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from hub.db.database import Database
from hub.db.models import CalendarOverrideRow, CalendarYearRow
from hub.domain.calendar import WorkingCalendar
from hub.domain.calendar_year import YearSchedule


class CalendarStore:
    def __init__(self, db: Database, ttl: float = 30.0) -> None:
        self.db = db
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: WorkingCalendar | None = None
        self._loaded_at = 0.0

    def calendar(self) -> WorkingCalendar:
        with self._lock:
            if self._cached is None or time.monotonic() - self._loaded_at > self.ttl:
                with self.db.read() as s:
                    self._cached = self.calendar_in(s)
                self._loaded_at = time.monotonic()
            return self._cached

    @staticmethod
    def calendar_in(s: Session) -> WorkingCalendar:
        """The calendar as this session sees it (an import counts cases again inside its own transaction)."""
        overrides = {r.day: r.is_workday for r in s.execute(select(CalendarOverrideRow)).scalars()}
        years = {r.year: YearSchedule.model_validate(r.schedule).days() for r in s.execute(select(CalendarYearRow)).scalars()}
        return WorkingCalendar(overrides, years)

    def years(self) -> list[CalendarYearRow]:
        """The imported years, oldest first (detached rows)."""
        with self.db.read() as s:
            rows = list(s.execute(select(CalendarYearRow).order_by(CalendarYearRow.year)).scalars())
            s.expunge_all()
            return rows

    def schedule(self, year: int) -> YearSchedule | None:
        with self.db.read() as s:
            row = s.get(CalendarYearRow, year)
            return None if row is None else YearSchedule.model_validate(row.schedule)

    def overrides(self) -> list[tuple[date, bool, str | None]]:
        with self.db.read() as s:
            rows = s.execute(select(CalendarOverrideRow).order_by(CalendarOverrideRow.day)).scalars()
            return [(r.day, r.is_workday, r.note) for r in rows]

    def set(self, day: date, is_workday: bool, note: str | None, by: str, now: datetime) -> None:
        with self.db.write() as s:
            row = s.get(CalendarOverrideRow, day)
            if row is None:
                s.add(CalendarOverrideRow(day=day, is_workday=is_workday, note=note, updated_at=now, updated_by=by))
            else:
                row.is_workday, row.note, row.updated_at, row.updated_by = is_workday, note, now, by
        self.invalidate()

    def remove(self, day: date) -> bool:
        with self.db.write() as s:
            gone = cast("CursorResult[Any]", s.execute(delete(CalendarOverrideRow).where(CalendarOverrideRow.day == day))).rowcount
        self.invalidate()
        return bool(gone)

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None
