"""Who holds a claim, and whether it is still alive: a relay's heartbeat and the watch that
takes a dead holder's claims over in seconds instead of waiting for its lease.

Every claim carries its relay's id (`outbox_messages.leased_by`, "host:pid:random"). A
running relay counts up its row in `outbox_relays` every `outbox.heartbeat_seconds` from
its own thread. Another relay watching the claims decides that a holder is dead when

- its row is gone (it stopped cleanly, or it ran a version without heartbeats), or
- it ran on this machine and its process no longer exists (a relay starting after a kill -9
  takes its claims over at once; on SQLite every relay shares the machine), or
- its count has not moved for `outbox.takeover_seconds`, measured on the watcher's own
  monotonic clock, so the machines' clocks need not agree.

The lease (`lease_until`) stays as the backstop for a holder that beats but hangs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from hub.db.database import Database
from hub.domain.clock import Clock
from outbox.tables import IN_FLIGHT, OutboxMessageRow, OutboxRelayRow

log = logging.getLogger("hub.outbox")

M = OutboxMessageRow
R = OutboxRelayRow


class Heartbeat:
    """A relay's row in outbox_relays, counted up from its own thread while it runs."""

    def __init__(self, db: Database, clock: Clock, relay_id: str, interval: float) -> None:
        self.db, self.clock, self.relay_id, self.interval = db, clock, relay_id, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_beat = 0.0  # monotonic time of the last beat written

    def beat(self) -> None:
        """Count up (the row is made on the first beat). Not fsynced: a beat lost to a crash
        only makes a live relay look silent for one more interval."""
        with self._lock:
            now = self.clock.now()
            with self.db.write(durable=False) as s:
                n = cast("CursorResult[Any]", s.execute(update(R).where(R.relay_id == self.relay_id).values(beats=R.beats + 1, beat_at=now))).rowcount
                if not n:
                    s.add(R(relay_id=self.relay_id, beats=1, started_at=now, beat_at=now))
            self.last_beat = time.monotonic()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(max(0.0, self.interval - (time.monotonic() - self.last_beat))):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while; beat again next time
                log.info("relay %s: heartbeat not written (%s)", self.relay_id, type(exc).__name__)
                self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop beating and remove the row: claims still held after a clean stop (outcomes the
        relay could not record) are taken over at once rather than after the takeover time."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            with self._lock, self.db.write(durable=False) as s:
                s.execute(delete(R).where(R.relay_id == self.relay_id))
        except Exception as exc:  # noqa: BLE001 - then the others see the count stand still
            log.info("relay %s: heartbeat row not removed (%s)", self.relay_id, type(exc).__name__)


def process_gone(holder: str, host: str | None = None) -> bool:
    """True when `holder` ("host:pid:...") ran on this machine in a process that no longer
    exists. Unknown shapes, other machines and this very process answer False."""
    parts = holder.split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    if parts[0] != (host or socket.gethostname()):
        return False
    pid = int(parts[1])
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, another user's
        return False
    return False


class Watch:
    """Finds the holders of in-flight claims that are dead (see the module's rules)."""

    def __init__(
        self, own_id: str, takeover_seconds: float, *, monotonic: Callable[[], float] = time.monotonic, gone: Callable[[str], bool] = process_gone
    ) -> None:
        self.own_id = own_id
        self.takeover_seconds = takeover_seconds
        self._monotonic = monotonic
        self._gone = gone
        self._seen: dict[str, tuple[int, float]] = {}  # holder -> (beats, first seen at that count)

    @property
    def watching(self) -> bool:
        """Some other relay holds claims: worth looking again soon."""
        return bool(self._seen)

    def dead_holders(self, s: Session) -> list[str]:
        holders = {h for h in s.execute(select(M.leased_by).where(M.status == IN_FLIGHT, M.leased_by.is_not(None)).distinct()).scalars() if h is not None} - {
            self.own_id
        }
        if not holders:
            self._seen.clear()
            return []
        beats = dict(s.execute(select(R.relay_id, R.beats).where(R.relay_id.in_(holders))).all())
        now = self._monotonic()
        dead = []
        for holder in sorted(holders):
            count = beats.get(holder)
            if count is None or self._gone(holder):
                dead.append(holder)
                self._seen.pop(holder, None)
                continue
            seen = self._seen.get(holder)
            if seen is None or seen[0] != count:
                self._seen[holder] = (count, now)
            elif now - seen[1] >= self.takeover_seconds:
                dead.append(holder)
                self._seen.pop(holder, None)
        for holder in set(self._seen) - holders:
            del self._seen[holder]
        return dead
