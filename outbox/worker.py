"""The relay as a background worker (started by `serve` on SQLite, or by `hotline-hub relay`),
with its wake-ups: LISTEN on PostgreSQL; on SQLite the in-process doorbell for this
process's commits and the file's data_version for other processes'."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from outbox.relay import Relay, build_relay
from outbox.store import CHANNEL, OutboxWriter

if TYPE_CHECKING:
    from hub.container import Hub
    from hub.settings import OutboxSettings
    from outbox.metrics import OutboxMetrics

log = logging.getLogger("hub.outbox")


class _Wakeup:
    """A daemon thread that calls `wake` when the database says something was committed, until
    stopped: what the PostgreSQL listener and the SQLite watcher share."""

    thread_name = "outbox-wakeup"

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


class PgListener(_Wakeup):
    """LISTEN hub_outbox on its own connection; each NOTIFY wakes the relay. Reconnects
    after the server restarts; the relay's idle poll covers what is missed meanwhile."""

    thread_name = "outbox-listen"

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        super().__init__(wake)

    def _run(self) -> None:
        import psycopg  # start-up cost: the PostgreSQL driver (~0.2 s), loaded only by a hub on PostgreSQL

        delay = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.2
                    self.wake()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.wake()
            except psycopg.Error as exc:
                log.info("outbox listener lost the database (%s); reconnecting", type(exc).__name__)
                self._stop.wait(delay)
                delay = min(5.0, delay * 2)


class SqliteWatcher(_Wakeup):
    """The SQLite counterpart of LISTEN: commits made by other processes (a CLI import, a
    poller, a second relay) bump the file's `PRAGMA data_version`, which one idle reader
    connection checks every `interval` seconds; a change wakes the relay. The check reads
    a counter in shared memory, no table, so it costs next to nothing. Commits made in this
    process ring the in-process doorbell without waiting for it."""

    thread_name = "outbox-watch"

    def __init__(self, url: str, wake: Callable[[], None], interval: float = 0.02) -> None:
        path = make_url(url).database
        if not path:  # an in-memory database has no other process to watch for
            raise ValueError(f"the outbox watcher needs a SQLite database file, not {url!r}")
        self.path = path
        self.interval = interval
        super().__init__(wake)

    def _run(self) -> None:
        last = None
        while not self._stop.is_set():
            try:
                conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
                try:
                    while not self._stop.is_set():
                        version = conn.execute("PRAGMA data_version").fetchone()[0]
                        if last is not None and version != last:
                            self.wake()
                        last = version
                        self._stop.wait(self.interval)
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                log.info("outbox watcher lost the database file (%s); retrying", type(exc).__name__)
                last = None
                self._stop.wait(1.0)


class RelayWorker:
    name = "outbox-relay"

    def __init__(self, hub: Hub, writer: OutboxWriter, metrics: OutboxMetrics | None = None) -> None:
        self.hub = hub
        self.writer = writer
        self.metrics = metrics
        self.relay: Relay | None = None
        self.relay_settings: OutboxSettings | None = None  # default: hub.settings.outbox
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: PgListener | SqliteWatcher | None = None

    def start(self) -> None:
        self._stop.clear()
        self.relay = build_relay(self.hub, self.writer, settings=self.relay_settings, metrics=self.metrics)
        if self.hub.db.is_sqlite:
            self._listener = SqliteWatcher(self.hub.db.url, self.relay.wake)
        else:
            self._listener = PgListener(self.hub.db.url, self.relay.wake)
        self._listener.start()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.relay is not None
        log.info("outbox relay %s started", self.relay.id)
        while not self._stop.is_set():
            try:
                self.relay.run_forever(self._stop)
            except Exception:  # a bug in one round must not silently end delivery for the process
                log.exception("outbox relay round failed; carrying on")
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self.relay is not None:
            self.relay.wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._listener is not None:
            self._listener.stop()
        if self.relay is not None:
            self.relay.close()

    def wait(self) -> None:
        """Block until stopped (the CLI's foreground)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)
