"""Cases a 双号并行 line takes itself come into 12345: pull, register once, acknowledge,
store the cursor. The line's id is the dedupe key, so a lost ack or a crash between
register and ack only means the same case is acknowledged again.

None is lost: an item the hub cannot take (a code the line's mapping lacks, a draft the
hub refuses, an acknowledgement the line refuses) is recorded in legacy_bridge_refusals,
with the item, before the cursor moves past it (refusals.py). `retry` takes it again once
the mapping is fixed; an item the line offers again after the fix settles it too."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from adapters.legacy_hotlines.bridge.adapter import LegacyBridgeAdapter
from adapters.legacy_hotlines.bridge.refusals import ACKNOWLEDGE, MAP, REGISTER, Refusal, Refusals
from adapters.legacy_hotlines.mapping import RowRefused
from adapters.legacy_hotlines.tables import LegacyCursorRow
from hub.db.repository import DuplicateExternalRef
from hub.domain.access import Actor
from hub.domain.errors import DomainError
from hub.domain.model import Role
from hub.integration.contract import AdapterError, PermanentError, PulledCase, TransientError
from hub.leases import Lease, LeasedWorker
from hub.logmask import mask_text
from hub.mappings import UnknownCode

log = logging.getLogger("adapters.legacy.puller")


@dataclass
class PullResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "<line's id>: why", each recorded in legacy_bridge_refusals
    cursor: str | None = None
    leader: bool = True


class LegacyPuller(LeasedWorker):
    def __init__(self, hub: Any, adapter: LegacyBridgeAdapter, max_pages: int = 20) -> None:
        self.hub, self.adapter, self.line = hub, adapter, adapter.settings.line
        self.name = f"legacy-puller-{self.line}"
        self.actor = Actor(party=f"legacy-{self.line}", role=Role.SYSTEM)
        self.max_pages = max_pages
        self.refusals = Refusals(hub)
        self.lease = Lease(hub.db, hub.clock, self.name, timedelta(seconds=max(3 * adapter.settings.poll_interval, 30)))
        super().__init__()

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
        """Read the line's list from the stored cursor. Every item of a page is taken or
        recorded as refused before the cursor moves past the page; a TransientError stops
        the round with the cursor where it was (the page is read again, its taken items only
        acknowledged again)."""
        result = PullResult()
        if not self.lease.acquire():
            result.leader = False
            return result
        return self.lease.run_pass(lambda: self._pull(result))

    def _pull(self, result: PullResult) -> PullResult:
        cursor = self.cursor()
        pending = self.refusals.pending_ids(self.line)
        for _ in range(self.max_pages):
            batch = self.adapter.take(cursor)
            for refused in batch.refused:
                self._refuse(result, refused.line_case_id, MAP, refused.reason, refused.raw)
            for item, raw in batch.items:
                self._take(item, raw, result, pending)
            result.cursor = batch.next_cursor
            if batch.next_cursor == cursor or not (batch.items or batch.refused):
                if batch.next_cursor != cursor:
                    self._save(batch.next_cursor)
                break
            self._save(batch.next_cursor)
            cursor = batch.next_cursor
        return result

    def _take(self, item: PulledCase, raw: Any, result: PullResult, pending: set[str]) -> None:
        line_id = item.ref.external_id
        held = self.hub.cases.find_by_ref(item.ref.system, line_id)
        if held is None:
            try:
                held = self.hub.cases.register(item.draft, self.actor).case
                result.created.append(held.number)
            except DuplicateExternalRef:  # registered meanwhile (a retry, another process)
                held = self.hub.cases.find_by_ref(item.ref.system, line_id)
                result.existing.append(held.number)
            except (DomainError, UnknownCode, ValidationError) as exc:
                self._refuse(result, line_id, REGISTER, f"{type(exc).__name__}: {exc}", raw)
                return
        else:
            result.existing.append(held.number)
        try:
            self.adapter.acknowledge(item, held.number)
        except PermanentError as exc:  # the case is in 12345; the line is owed its acknowledgement
            self._refuse(result, line_id, ACKNOWLEDGE, f"{type(exc).__name__}: {exc}", raw, held.number)
            return
        if line_id in pending:  # refused earlier, offered again once the mapping was fixed
            self.refusals.settle_item(self.line, line_id, held.number, self.name)
            pending.discard(line_id)

    def _refuse(self, result: PullResult, line_id: str | None, stage: str, reason: str, raw: Any, case_number: str | None = None) -> None:
        refusal = self.refusals.record(self.line, line_id, stage, reason, raw, case_number)
        result.refused.append(f"{line_id or '?'}: {reason}")
        log.warning(
            "line %s case %s not taken (%s, refusal %d, attempt %d): %s", self.line, line_id or "?", stage, refusal.id, refusal.attempts, mask_text(reason)
        )

    def retry(self, refusal_id: int, actor: Actor) -> Refusal:
        """Take a refused item again with the mapping as it is now: map the stored item,
        register it once, acknowledge it. Refused again, it stays pending with the new reason."""
        r = self.refusals.pending(refusal_id)
        if r.line != self.line:
            raise ValueError(f"refusal {refusal_id} is line {r.line}'s, not {self.line}'s")
        number, line_id = r.case_number, r.line_case_id
        if number is None or line_id is None:  # (a registered item always has its line id: it was acknowledged by it)
            raw = self.refusals.item(refusal_id)
            try:
                item = self.adapter.map_item(raw)
            except (RowRefused, UnknownCode, ValidationError) as exc:
                return self.refusals.again(refusal_id, MAP, str(exc))
            line_id = item.ref.external_id
            held = self.hub.cases.find_by_ref(item.ref.system, line_id)
            if held is None:
                try:
                    held = self.hub.cases.register(item.draft, self.actor).case
                except DuplicateExternalRef:
                    held = self.hub.cases.find_by_ref(item.ref.system, line_id)
                except (DomainError, UnknownCode, ValidationError) as exc:
                    return self.refusals.again(refusal_id, REGISTER, f"{type(exc).__name__}: {exc}")
            number = held.number
        try:
            self.adapter.transport.acknowledge(line_id, number)
        except AdapterError as exc:  # registered: only the line's acknowledgement is still owed
            return self.refusals.again(refusal_id, ACKNOWLEDGE, f"{type(exc).__name__}: {exc}", number)
        log.info("line %s case %s taken on retry as %s (refusal %d, by %s)", self.line, line_id, number, refusal_id, actor.party)
        return self.refusals.settle(refusal_id, number, actor.party)

    def seconds_between_rounds(self) -> float:
        return self.adapter.settings.poll_interval

    def join_timeout(self) -> float:
        return self.adapter.settings.timeout + 5

    def round(self) -> None:
        try:
            self.run_once()
        except TransientError as exc:
            log.info("line %s pull: %s (retrying)", self.line, mask_text(str(exc)))
        except AdapterError as exc:
            log.warning("line %s pull: %s", self.line, mask_text(str(exc)))

    def stop(self) -> None:
        super().stop()
        self.adapter.close()
