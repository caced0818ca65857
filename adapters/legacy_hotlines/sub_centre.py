"""设分中心: a line folded in as a sub-centre of 12345 takes the cases of its domain. Every
accepted (受理) case whose category a sub-centre line's `categories` cover is dispatched to
that line's `sub_centre_unit`, by the hub itself.

How, and why this way:
- The dispatch is the case engine's own `Dispatch` through `hub.cases.act` as the hub's
  SYSTEM actor: a row of the lifecycle table, a history entry, a `case.dispatched` event
  the outbox delivers, deadlines set, like any dispatch.
- It runs after the accept has committed, never inside it: a sink runs in the case's
  transaction and may not act on cases. The sink here only rings a doorbell after commit;
  the router (a worker, `legacy-sub-centre`) does the acting in its own transactions.
- Idempotent: the router acts only on cases in `accepted`, naming the version it read. A
  case already dispatched (by an agent, or by another router whose lease lapsed) is no longer
  `accepted`, or has moved on (StaleCase): it is left alone. A redone case (重办 -> accepted)
  goes back to the sub-centre, as routing says it should.
- Nothing is lost across processes: the doorbell is only a shortcut; the router also looks
  every `sub_centre.interval_seconds` (lines.yaml), one active across processes (a lease).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from adapters.legacy_hotlines.config import LegacyConfig
from hub.db.models import CaseRow, EventRow
from hub.domain import commands as c
from hub.domain.access import SYSTEM_ACTOR
from hub.domain.errors import ActionNotAllowed, CaseNotFound, RuleViolation, StaleCase
from hub.domain.model import Case, CaseState
from hub.leases import Lease, LeasedWorker
from hub.logmask import mask_text

if TYPE_CHECKING:
    from hub.container import Hub

log = logging.getLogger("adapters.legacy.sub_centre")

LEASE_NAME = "legacy-sub-centre"


@dataclass
class RouteResult:
    leased: bool = True
    dispatched: list[str] = field(default_factory=list)  # "number -> unit (line)"
    skipped: list[str] = field(default_factory=list)  # "number: why"; looked at again next time


class SubCentreRouter(LeasedWorker):
    name = "legacy-sub-centre"

    def __init__(self, hub: Hub, config: LegacyConfig, holder: str | None = None) -> None:
        self.hub, self.config = hub, config
        self.lines = config.sub_centre_lines()
        self.cfg = config.sub_centre
        ttl = timedelta(seconds=max(3 * self.cfg.interval_seconds, 30))
        self.lease = Lease(hub.db, hub.clock, LEASE_NAME, ttl, holder)
        super().__init__()

    # -- what is due ---------------------------------------------------------------------
    def due(self) -> list[tuple[str, int, str]]:
        """(number, version, category) of accepted cases in some sub-centre's domain, oldest first."""
        prefixes = [p for entry in self.lines for p in entry.categories]
        if not prefixes:
            return []
        with self.hub.db.read() as s:
            rows = s.execute(
                select(CaseRow.number, CaseRow.version, CaseRow.category_code)
                .where(CaseRow.state == CaseState.ACCEPTED.value, or_(*(CaseRow.category_code.startswith(p, autoescape=True) for p in prefixes)))
                .order_by(CaseRow.id)
                .limit(self.cfg.batch)
            ).all()
        return [(r.number, r.version, r.category_code) for r in rows]

    # -- one look ------------------------------------------------------------------------
    def run_once(self) -> RouteResult:
        if not self.lines:
            return RouteResult()
        if not self.lease.acquire():
            return RouteResult(leased=False)
        return self.lease.run_pass(self.route)

    def route(self) -> RouteResult:
        result = RouteResult()
        for number, version, category in self.due():
            entry = self.config.sub_centre_for(category)
            if entry is None or entry.sub_centre_unit is None:  # the query and the config agree; a guard
                continue
            try:
                self.hub.cases.act(number, c.Dispatch(lead_unit=entry.sub_centre_unit), SYSTEM_ACTOR, expected_version=version)
            except (StaleCase, ActionNotAllowed, CaseNotFound) as exc:
                result.skipped.append(f"{number}: {exc}")  # someone else moved it: looked at again next time
                continue
            except RuleViolation as exc:
                # e.g. the unit is no longer active in units.yaml: an operator must fix the config.
                log.error("sub-centre %s: cannot dispatch %s to %s: %s", entry.line, number, entry.sub_centre_unit, mask_text(str(exc)))
                result.skipped.append(f"{number}: {exc}")
                continue
            result.dispatched.append(f"{number} -> {entry.sub_centre_unit} ({entry.line})")
        if result.dispatched:
            log.info("sub-centres: dispatched %d case(s)", len(result.dispatched))
        return result

    # -- the doorbell: a sink that rings after the accepting transaction commits -----------------
    def sink(self, session: Session, case: Case, events: list[EventRow]) -> None:
        if not any((ev.payload or {}).get("state") == CaseState.ACCEPTED.value for ev in events):
            return
        key = f"legacy.sub_centre.{id(self)}"  # once per transaction and router
        if session.info.get(key):
            return
        session.info[key] = True

        def ring(_session: Session, *_: Any) -> None:
            session.info.pop(key, None)
            self.wake()

        def forget(_session: Session, *_: Any) -> None:
            session.info.pop(key, None)

        event.listen(session, "after_commit", ring, once=True)
        event.listen(session, "after_rollback", forget, once=True)

    # -- the worker ------------------------------------------------------------------------
    def seconds_between_rounds(self) -> float:
        return self.cfg.interval_seconds

    def round(self) -> None:
        try:
            self.run_once()
        except Exception:  # the loop must outlive a database hiccup; the trace is logged
            log.exception("sub-centre routing failed; retrying after the interval")
