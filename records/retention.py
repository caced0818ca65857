"""Retention of personal data (个人信息保护法: kept only as long as needed).

A case archived (归档) for `retention.archived_years` years loses its caller's name and
phone, its address and coordinates, its attachments (their references, their rows and,
once no other case names the same content, their files) and, for a case filed on the WeChat
official account, the follower's binding (the ref `<openid>:<MsgId>` that ties the follower to
the case, `wechat_binding`): they are erased, not masked, so
nothing can bring them back. The pass also deletes attachment uploads a crash cut short
(hub/attachments.py, `orphans`) and the WeChat guided dialogues past their expiry (what a
follower wrote before confirming, channels/wechat_dialogue_store.py; every write to that table
prunes too, this covers an account that went quiet). What statistics need stays: type, category,
division, dates, units, the reply and the follow-ups' satisfaction. Each erasure appends a
line to the case history (action `erase_personal_data`, by the hub) naming the fields.

The erasure is not a lifecycle action: the state does not move, no party asks for it and
nothing is sent to a peer, so it is written here, through the repository, with the same
history line and version step as every change (`hub.domain.engine.record`) and the same
optimistic version check (a case that moved meanwhile is looked at again on
the next run).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from channels.wechat_dialogue_store import DialogueStore
from hub.db.models import CaseRow, ExternalRefRow
from hub.db.person_seal import seal_of
from hub.db.repository import CaseRepository
from hub.domain.access import Actor, registrant
from hub.domain.clock import LOCAL_TZ
from hub.domain.engine import record
from hub.domain.errors import StaleCase
from hub.domain.model import Case, CaseState, Channel, ExternalRef, Role
from hub.leases import Lease, LeasedWorker

if TYPE_CHECKING:
    from hub.container import Hub

log = logging.getLogger("hub.retention")

ERASE_ACTION = "erase_personal_data"
ERASER = Actor(party="hub-retention", role=Role.SYSTEM)  # who the erasure line names
LEASE_NAME = "retention"


def erasure_due(archived_at: datetime, years: int) -> datetime:
    """When the personal data of a case archived at `archived_at` is to be erased: the same
    local date and time `years` later (29 February falls to 28 February)."""
    local = archived_at.astimezone(LOCAL_TZ)
    try:
        return local.replace(year=local.year + years)
    except ValueError:  # 29 February into a year without one
        return local.replace(year=local.year + years, day=28)


def wechat_binding(case: Case) -> list[ExternalRef]:
    """The refs that bind a WeChat follower to the case: a case filed on the official account
    keeps `<openid>:<MsgId>` in the account's own namespace `channel.<party>` (channels/wechat.py).
    The openid follows one person on the account, so it is personal data like a phone."""
    who = registrant(case)
    if case.intake.channel is not Channel.WECHAT or who is None or who[1] is not Role.CHANNEL:
        return []
    return [r for r in case.external_refs if r.system == f"channel.{who[0]}"]


def personal_fields(case: Case) -> list[str]:
    """The personal fields the case still holds, by their paths."""
    present = []
    if case.person.name:
        present.append("person.name")
    if case.person.phone:
        present.append("person.phone")
    if case.place.address:
        present.append("place.address")
    if case.place.longitude is not None or case.place.latitude is not None:
        present.append("place.coordinates")
    if case.links.attachments:
        present.append("links.attachments")  # the files go with them (Retention.run)
    if wechat_binding(case):
        present.append("external_refs.wechat")  # the follower's openid (Retention.run deletes its index row)
    return present


def erased(case: Case, now: datetime, years: int) -> Case:
    """The case without its personal data, one version on, its history saying so."""
    fields = personal_fields(case)
    binding = wechat_binding(case)
    new = case.model_copy(deep=True)
    new.external_refs = [r for r in new.external_refs if r not in binding]
    new.person.name = None
    new.person.phone = None
    new.place.address = None
    new.place.longitude = None
    new.place.latitude = None
    new.links.attachments = []
    record(
        new,
        ERASER,
        ERASE_ACTION,
        now,
        note=f"归档满 {years} 年, 个人信息已删除 (archived {years} years: personal data erased)",
        data={"fields": fields, "archived_at": case.outcome.archived_at.isoformat() if case.outcome.archived_at else None},
    )
    return new


@dataclass
class RetentionResult:
    leased: bool = True
    erased: list[str] = field(default_factory=list)  # case numbers (or due, on a dry run)
    skipped: list[str] = field(default_factory=list)  # "number: why"
    files_deleted: int = 0  # attachment files of erased cases no other case names
    orphans: list[str] = field(default_factory=list)  # uploads cut short, deleted (or found, on a dry run)
    dialogues_pruned: int = 0  # expired WeChat guided dialogues deleted (channels/wechat_dialogue_store.py)


class Retention:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.years = hub.settings.retention.archived_years

    def due_cases(self, now: datetime) -> list[Case]:
        """Archived cases past their retention that still hold personal data, oldest first."""
        found: list[Case] = []
        last_id = 0
        while True:
            with self.hub.db.read() as s:
                rows = list(
                    s.execute(select(CaseRow).where(CaseRow.state == CaseState.ARCHIVED.value, CaseRow.id > last_id).order_by(CaseRow.id).limit(500)).scalars()
                )
                seal = seal_of(s)
            if not rows:
                return found
            last_id = rows[-1].id
            for row in rows:
                case = Case.model_validate({**seal.open(row.doc), "history": []})
                archived = case.outcome.archived_at
                if archived is not None and now >= erasure_due(archived, self.years) and personal_fields(case):
                    found.append(case)

    def run(self, dry_run: bool = False) -> RetentionResult:
        now = self.hub.clock.now()
        result = RetentionResult()
        attachments = self.hub.attachments
        for due in self.due_cases(now):
            if dry_run:
                result.erased.append(due.number)
                continue
            try:
                with self.hub.db.write() as s:
                    repo = CaseRepository(s)
                    case = repo.get(due.number)
                    if case.state is not CaseState.ARCHIVED or not personal_fields(case):
                        continue
                    row_id = repo.save(erased(case, now, self.years), case.version)
                    if binding := wechat_binding(case):  # the index of refs too: no lookup by openid finds the case
                        s.execute(delete(ExternalRefRow).where(ExternalRefRow.case_id == row_id, ExternalRefRow.system.in_({r.system for r in binding})))
                    shas = attachments.erase_rows(s, case.number)
            except StaleCase as exc:
                result.skipped.append(f"{due.number}: {exc}")
                continue
            result.erased.append(due.number)
            # After the commit: a file goes once no row names it (the rows went with the case's data).
            result.files_deleted += attachments.delete_unnamed(shas)
        result.orphans = attachments.orphans(dry_run=dry_run)
        dialogues = self.hub.handles.find(DialogueStore)
        if dialogues is not None and not dry_run:  # minutes-old answers of abandoned WeChat dialogues
            result.dialogues_pruned = dialogues.prune(now)
        if result.erased and not dry_run:
            log.info("retention: personal data erased from %d archived cases", len(result.erased))
        return result


class RetentionWorker(LeasedWorker):
    """Runs the retention once per `retention.interval_hours` (a day by default) in one
    process at a time (the lease), beside the scheduler."""

    name = "retention"

    def __init__(self, hub: Hub, holder: str | None = None) -> None:
        self.retention = Retention(hub)
        self.cfg = hub.settings.retention
        # The lease outlives the interval: a second process does not run a day's pass again.
        self.lease = Lease(hub.db, hub.clock, LEASE_NAME, timedelta(hours=self.cfg.interval_hours) * 2, holder)
        super().__init__()

    def seconds_between_rounds(self) -> float:
        return self.cfg.interval_hours * 3600

    def run_once(self) -> RetentionResult:
        if not self.lease.acquire():
            return RetentionResult(leased=False)
        return self.lease.run_pass(self.retention.run)
