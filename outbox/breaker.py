"""The circuit breaker as one relay sees it between commits.

The shared breaker lives in the database (`outbox_destinations`: consecutive failures, a
pause until a time, counted by outbox/record.py). Between two commits a relay already
holds claimed messages; this local breaker keeps it from sending them to a destination
that just failed `failures` times in a row. Once the tripping failure is recorded, the
database's pause state is the truth: an operator's resume (or another relay's success that
reset the count) lifts the local pause too.

Thread-safe: deliveries report from the relay's pool threads.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from hub.domain.clock import Clock


class LocalBreaker:
    def __init__(self, clock: Clock, failures: int, pause_seconds: float) -> None:
        self.clock = clock
        self.failures = failures
        self.pause_seconds = pause_seconds
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}
        self._pause: dict[str, datetime] = {}
        # Local pauses whose tripping failure is recorded in the database.
        self._recorded: set[str] = set()

    def note(self, destination: str, failed: bool) -> bool:
        """Count a delivery's result; True when this failure trips the breaker (pauses the
        destination here for `pause_seconds`, and starts counting again from zero)."""
        with self._lock:
            if not failed:
                self._count[destination] = 0
                return False
            n = self._count[destination] = self._count.get(destination, 0) + 1
            if n < self.failures:
                return False
            self._pause[destination] = self.clock.now() + timedelta(seconds=self.pause_seconds)
            self._recorded.discard(destination)
            self._count[destination] = 0
            return True

    def is_open(self, destination: str) -> bool:
        """Paused here: messages already claimed for it are not sent."""
        with self._lock:
            until = self._pause.get(destination)
        return until is not None and until > self.clock.now()

    def recorded(self, destinations: set[str]) -> None:
        """The failures that tripped these destinations are committed to the database."""
        with self._lock:
            self._recorded |= destinations & set(self._pause)

    def follow(self, paused_in_database: list[str]) -> None:
        """Drop the local pauses the database no longer holds once their failure is recorded:
        resumed by an operator, or never reached there because another relay's success reset
        the count. Before it is recorded, the local pause is all that stops this relay."""
        with self._lock:
            for destination in self._recorded - set(paused_in_database):
                self._pause.pop(destination, None)
                self._recorded.discard(destination)
