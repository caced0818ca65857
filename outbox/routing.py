"""Routing: which destinations hear about which case events (their subscriptions in
Settings.destinations), as a sink inside the case transaction."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hub.db.models import EventRow
from hub.domain.access import export_view
from hub.domain.model import Case
from hub.settings import CaseScope, DestinationConfig
from outbox.store import OutboxWriter


@dataclass(frozen=True)
class Subscription:
    destination: str
    events: re.Pattern[str]
    scope: CaseScope
    personal_data: bool

    def wants_event(self, event_type: str) -> bool:
        return self.events.match(event_type) is not None

    def wants_case(self, case: Case) -> bool:
        scope = self.scope
        if not scope.wants_category(case.category_code):
            return False
        if scope.with_ref is None and not scope.units and not scope.divisions:
            return True
        if scope.with_ref is not None and any(r.system == scope.with_ref for r in case.external_refs):
            return True
        if scope.units and any(u in scope.units for u in case.units):
            return True
        return bool(scope.divisions) and any(case.place.division_code.startswith(d) for d in scope.divisions)

    def snapshot(self, case: Case) -> dict[str, Any]:
        shown = case if self.personal_data else export_view(case)
        return shown.model_dump(mode="json", exclude={"history"})


def subscriptions(destinations: dict[str, DestinationConfig]) -> list[Subscription]:
    out = []
    for name, config in destinations.items():
        if not config.enabled or not config.events:
            continue
        pattern = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in config.events))
        out.append(Subscription(name, pattern, config.cases, config.personal_data))
    return out


class CaseEventRouter:
    """The sink: one outbox row per (event, subscribed destination), ordered per case."""

    def __init__(self, subs: list[Subscription], writer: OutboxWriter) -> None:
        self.subs = subs
        self.writer = writer

    def __call__(self, session: Session, case: Case, events: list[EventRow]) -> None:
        """`case` is the case as this transaction leaves it: the events' version."""
        if not self.subs:
            return
        now = self.writer.clock.now()
        for ev in events:
            for sub in self.subs:
                if not sub.wants_event(ev.type) or not sub.wants_case(case):
                    continue
                self.writer.write_message(
                    session,
                    destination=sub.destination,
                    ordering_key=ev.case_number,
                    event_type=ev.type,
                    event=ev.payload,
                    case=sub.snapshot(case),
                    case_number=ev.case_number,
                    idempotency_key=f"{sub.destination}:{ev.id}",
                    now=now,
                )
