"""Cases a 双号并行 line takes itself come into 12345: pull, register once, acknowledge,
store the cursor. The line's id is the dedupe key, so a lost ack or a crash between
register and ack only means the same case is acknowledged again."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from adapters.legacy_hotlines.bridge import LegacyBridgeAdapter
from adapters.legacy_hotlines.tables import LegacyCursorRow
from hub.db.repository import DuplicateExternalRef
from hub.domain.access import Actor
from hub.domain.errors import DomainError
from hub.domain.model import Role
from hub.integration.contract import AdapterError, TransientError
from hub.leases import Lease
from hub.logmask import mask_text
from hub.mappings import UnknownCode

log = logging.getLogger("adapters.legacy.puller")


@dataclass
class PullResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    cursor: str | None = None
    leader: bool = True


class LegacyPuller:
    def __init__(self, hub: Any, adapter: LegacyBridgeAdapter, max_pages: int = 20) -> None:
        self.hub, self.adapter, self.line = hub, adapter, adapter.settings.line
        self.name = f"legacy-puller-{self.line}"
        self.actor = Actor(party=f"legacy-{self.line}", role=Role.SYSTEM)
        self.max_pages = max_pages
        self.lease = Lease(hub.db, hub.clock, self.name, timedelta(seconds=max(3 * adapter.settings.poll_interval, 30)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def cursor(self) -> str | None:
        with self.hub.db.read() as s:
            row = s.get(LegacyCursorRow, self.line)
            return row.cursor if row else None

    def _save(self, cursor: str | None) -> None:
        with self.hub.db.write() as s:
            row = s.get(LegacyCursorRow, self.line)
            if row is None:
                s.add(LegacyCursorRow(line=self.line, cursor=cursor, updated_at=self.hub.clock.now()))
            else:
                row.cursor, row.updated_at = cursor, self.hub.clock.now()

    def run_once(self) -> PullResult:
        result = PullResult()
        if not self.lease.acquire():
            result.leader = False
            return result
        cursor = self.cursor()
        for _ in range(self.max_pages):
            batch = self.adapter.pull(cursor)
            result.refused.extend(self.adapter.last_refused)
            for item in batch.items:
                held = self.hub.cases.find_by_ref(item.ref.system, item.ref.external_id)
                if held is None:
                    try:
                        held = self.hub.cases.register(item.draft, self.actor).case
                        result.created.append(held.number)
                    except DuplicateExternalRef:
                        held = self.hub.cases.find_by_ref(item.ref.system, item.ref.external_id)
                    except (DomainError, UnknownCode) as exc:
                        result.refused.append(f"{item.ref.external_id}: {exc}")
                        continue
                else:
                    result.existing.append(held.number)
                if held is not None:
                    self.adapter.acknowledge(item, held.number)
            result.cursor = batch.next_cursor
            if batch.next_cursor == cursor or not batch.items:
                if batch.next_cursor != cursor:
                    self._save(batch.next_cursor)
                break
            self._save(batch.next_cursor)
            cursor = batch.next_cursor
        for line in result.refused:
            log.warning("line %s outgoing item refused: %s", self.line, mask_text(line))
        return result

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except TransientError as exc:
                log.info("line %s pull: %s (retrying)", self.line, mask_text(str(exc)))
            except AdapterError as exc:
                log.warning("line %s pull: %s", self.line, mask_text(str(exc)))
            self._stop.wait(self.adapter.settings.poll_interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.adapter.settings.timeout + 5)
            self._thread = None
        self.lease.release()
        self.adapter.close()
