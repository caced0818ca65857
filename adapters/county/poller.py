"""For a county that cannot push: the hub polls the county's feed of tickets and updates.

One poller per polling county; a database lease keeps it to one process at a time, and
the county's cursor is stored after each page so a restart resumes where it stopped.
Items are applied exactly as if the county had pushed them (CountyIntake), as the county.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from adapters.county.config import CountyConfig
from adapters.county.intake import CountyIntake
from adapters.county.mapping import get_path
from adapters.county.refusals import TicketRefused
from adapters.county.store import CountyStore
from adapters.county.wire import CountyWire
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.integration.contract import AdapterError
from hub.leases import Lease
from hub.logmask import mask_text

log = logging.getLogger("hub.county.poller")


@dataclass
class PollResult:
    tickets: int = 0
    updates: int = 0
    refused: list[str] = field(default_factory=list)
    cursor: str | None = None
    leased: bool = True


class CountyPoller:
    def __init__(self, hub: Any, cfg: CountyConfig, intake: CountyIntake, store: CountyStore, url: str, max_pages: int = 20) -> None:
        self.hub, self.cfg, self.intake, self.store, self.url = hub, cfg, intake, store, url
        self.name = f"county-poller-{cfg.county}"
        self.max_pages = max_pages
        self.actor = Actor(party=cfg.key_party, role=Role.COUNTY, divisions=tuple(cfg.divisions))
        interval = cfg.transport.poll_interval_seconds
        self.lease = Lease(hub.db, hub.clock, self.name, timedelta(seconds=max(3 * interval, 30)))
        self._wire = CountyWire(timeout=10.0, connect_timeout=3.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> PollResult:
        """Drain the feed (bounded by max_pages); one page = one stored cursor."""
        result = PollResult()
        if not self.lease.acquire():
            result.leased = False
            return result
        return self.lease.run_pass(lambda: self._drain(result))

    def _drain(self, result: PollResult) -> PollResult:
        t = self.cfg.transport
        for _ in range(self.max_pages):
            cursor = self.store.cursor(self.cfg.county)
            page = self._wire.get_json(self.url, {"cursor": cursor} if cursor else {}, self.hub.clock.now())
            if not isinstance(page, dict):
                raise AdapterError(f"{self.cfg.county} feed answered {type(page).__name__}, not an object")
            tickets = page.get(t.poll_tickets_key) or []
            updates = page.get(t.poll_updates_key) or []
            for i, ticket in enumerate(tickets):
                self._apply(
                    result, f"{t.poll_tickets_key}[{i}].", lambda w=f"{t.poll_tickets_key}[{i}].", tk=ticket: self.intake.push(self.cfg, self.actor, tk, w)
                )
                result.tickets += 1
            for i, update in enumerate(updates):
                where = f"{t.poll_updates_key}[{i}]."
                ticket_id = get_path(update, self.cfg.update.ticket_id) if isinstance(update, dict) else None
                self._apply(
                    result,
                    where,
                    lambda w=where, u=update, tid=ticket_id: (
                        self.intake.update(self.cfg, self.actor, str(tid), u, w) if tid is not None else _no_ticket(w, self.cfg)
                    ),
                )
                result.updates += 1
            next_cursor = page.get(t.poll_cursor_key)
            result.cursor = next_cursor if isinstance(next_cursor, str) else cursor
            if result.cursor == cursor:
                break
            self.store.save_cursor(self.cfg.county, result.cursor, self.hub.clock.now())
            if not tickets and not updates:
                break
        return result

    def _apply(self, result: PollResult, where: str, work) -> None:  # noqa: ANN001
        try:
            answer = work()
        except TicketRefused as exc:
            # A bad item must not stop the feed: it is logged (masked) and skipped.
            result.refused.append(exc.detail)  # the detail names the field, e.g. updates[1].CZLX
            log.warning("county %s feed item %s refused: %s", self.cfg.county, where, mask_text(exc.detail))
            return
        log.debug("county %s feed item %s: %s", self.cfg.county, where, answer.get("status"))

    # -- worker ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except AdapterError as exc:
                log.warning("county %s feed: %s", self.cfg.county, mask_text(str(exc)))
            self._stop.wait(self.cfg.transport.poll_interval_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.lease.release()
        self._wire.close()


def _no_ticket(where: str, cfg: CountyConfig) -> dict:
    raise TicketRefused(
        422,
        "validation",
        "The request is not valid",
        f"{where}{cfg.update.ticket_id}: required",
        [{"field": where + cfg.update.ticket_id, "reason": "required"}],
    )
