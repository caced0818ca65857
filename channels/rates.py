"""Rate limits shared by every hub process through the database (table rate_counters,
migration 0016): several API processes behind a balancer allow the configured rate in all,
not each.

A sliding-window counter: requests are counted per subject in 60-second windows, and the
rate over the last 60 seconds is estimated as the previous window's count, weighted by the
part of it still inside the last 60 seconds, plus the current window's count. Two rows per
subject, one indexed write per request, and no burst of twice the rate at a window's edge as
fixed windows allow. The check and the count are one transaction but not one statement, so
processes racing on one key may let a request or two past the limit: a rate limit, not a
ledger. A refused request is not counted: a client that waits as told is served.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from channels.tables import RateCounterRow
from hub.db.counters import UpsertCounter
from hub.db.database import Database
from hub.domain.clock import Clock

WINDOW = 60  # seconds


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many cases from this channel key; retry after {retry_after} s")
        self.retry_after = retry_after


def window_of(now: datetime) -> tuple[datetime, float]:
    """The start of the 60-second window `now` is in (UTC, on the minute) and the seconds since."""
    seconds = now.timestamp()
    start = math.floor(seconds / WINDOW) * WINDOW
    return datetime.fromtimestamp(start, tz=UTC), seconds - start


def estimate(previous: int, current: int, elapsed: float) -> float:
    """Requests in the last 60 seconds: the previous window's share still inside them, and the current's."""
    return previous * (1 - elapsed / WINDOW) + current


def retry_after(previous: int, current: int, elapsed: float, limit: int) -> int:
    """Seconds until one more request fits under `limit`, if nothing else comes meanwhile."""
    room = limit - 1  # the estimate must fall to this for one more to fit
    if current > room:
        # Not in this window: at its end the current count becomes the previous one, and its
        # weight must then fall until it leaves room.
        wait = (WINDOW - elapsed) + WINDOW * (1 - room / current)
    else:
        # The previous window's weight must fall until previous * (1 - t/60) <= room - current.
        wait = WINDOW * (1 - (room - current) / previous) - elapsed if previous else 0.0
    return max(1, math.ceil(wait - 1e-9))


# Requests per subject and minute window: the one upsert counter of hub/db/counters.py.
_WINDOWS = UpsertCounter(RateCounterRow, ("subject", "window_start"), column="count")


class SharedRateWindow:
    """At most `per_minute` requests per subject in any 60 seconds, across processes."""

    def __init__(self, db: Database, clock: Clock, kind: str, per_minute: int) -> None:
        self.db, self.clock, self.kind, self.per_minute = db, clock, kind, per_minute

    def take(self, key: str) -> None:
        """Counts one request for `key`, or raises RateLimited (with Retry-After) without counting it."""
        subject = f"{self.kind}:{key}"[:80]
        start, elapsed = window_of(self.clock.now())
        previous_start = start - timedelta(seconds=WINDOW)
        # A lost count on a power failure only lets a few more requests through: no fsync.
        with self.db.write(durable=False) as s:
            rows = s.execute(
                select(RateCounterRow.window_start, RateCounterRow.count).where(
                    RateCounterRow.subject == subject, RateCounterRow.window_start >= previous_start
                )
            ).all()
            counts = {when.astimezone(UTC): count for when, count in rows}
            current, previous = counts.get(start, 0), counts.get(previous_start, 0)
            if estimate(previous, current, elapsed) + 1 > self.per_minute:
                raise RateLimited(retry_after(previous, current, elapsed, self.per_minute))
            _WINDOWS.add(s, subject=subject, window_start=start)
            s.execute(delete(RateCounterRow).where(RateCounterRow.subject == subject, RateCounterRow.window_start < previous_start))
