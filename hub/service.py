"""The application layer: one transaction per command.

Load the case, let the engine decide, store the case, its history and its events, and
hand the events to the sinks (the outbox) inside the same transaction. Commit once.
Nothing here calls a peer.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.calendar_store import CalendarStore
from hub.db.database import Database
from hub.db.idempotency import ANSWERED, REMEMBER_ANSWER
from hub.db.models import EventRow, IdempotencyRow, RepeatCallRow
from hub.db.repository import CaseQuery, CaseRepository
from hub.domain import commands as c
from hub.domain.access import Actor, can_see_case, sees_confidential_person
from hub.domain.clock import Clock
from hub.domain.engine import Engine
from hub.domain.errors import AccessDenied, CaseNotFound, RuleViolation, StaleCase
from hub.domain.model import Case, CaseDraft, ExternalRef, HistoryEntry
from hub.mappings import Catalogue
from hub.settings import Settings

# Called inside the transaction with the case as the transaction leaves it and its stored
# events; the outbox routes them to peers. The case is handed over, not read back.
EventSink = Callable[[Session, Case, list[EventRow]], None]


class NoRepeatCall(CaseNotFound):
    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.args = (f"case {number} was not linked to an earlier case as a repeat call",)


@dataclass(frozen=True)
class RepeatCall:
    row_id: int
    case: str
    earlier_case: str
    earlier_state: str
    status: str  # suggested, confirmed, dismissed
    found_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


class IdempotencyConflict(RuleViolation):
    """The same Idempotency-Key came with a different body."""


class ContentTooLarge(RuleViolation):
    def __init__(self, limit: int, actual: int) -> None:
        self.limit, self.actual = limit, actual
        super().__init__(f"content is {actual} characters; at most {limit} are accepted")


@dataclass(frozen=True)
class Registered:
    case: Case
    created: bool


class CaseService:
    def __init__(
        self, db: Database, settings: Settings, catalogue: Catalogue, clock: Clock, calendars: CalendarStore, sinks: list[EventSink] | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.catalogue = catalogue
        self.clock = clock
        self.calendars = calendars
        self.sinks: list[EventSink] = list(sinks or [])

    def engine(self) -> Engine:
        return Engine(self.calendars.calendar(), self.settings.time_limits, self.catalogue)

    # -- intake --------------------------------------------------------------------------
    def validate_draft(self, draft: CaseDraft) -> None:
        """Codes must exist in mappings/; raises UnknownCode naming the field."""
        self.catalogue.category(draft.category_code)
        self.catalogue.division(draft.place.division_code)
        if len(draft.content) > self.settings.max_content_chars:
            raise ContentTooLarge(self.settings.max_content_chars, len(draft.content))

    def _validate_correction(self, command: c.Correct) -> None:
        """A correction's codes must exist in mappings/ as at intake; raises UnknownCode naming the field."""
        if command.category_code is not None:
            self.catalogue.category(command.category_code, field="category_code")
        if command.place is not None:
            self.catalogue.division(command.place.division_code, field="place.division_code")
        if command.content is not None and len(command.content) > self.settings.max_content_chars:
            raise ContentTooLarge(self.settings.max_content_chars, len(command.content))

    def register(self, draft: CaseDraft, actor: Actor, idempotency_key: str | None = None, refs_by_adapter: bool = False) -> Registered:
        self.validate_draft(draft)
        digest = _digest(draft) if idempotency_key is not None else ""
        for attempt in range(3):
            reserved = self._numbers_apart(actor, [idempotency_key])
            number = reserved[0] if reserved else None
            try:
                # On a SQLite file concurrent registrations share a commit (hub/db/group_commit.py);
                # this returns once this case is durable.
                return self.db.write_unit(
                    partial(self._register_in, draft=draft, actor=actor, key=idempotency_key, digest=digest, refs_by_adapter=refs_by_adapter, reserved=number),
                    # An adapter's registration (refs_by_adapter) meets its ORM sink (the county's
                    # ticket row): it keeps the ORM savepoint rather than run twice.
                    cursor_only=not refs_by_adapter,
                )
            except IntegrityError:
                # Two requests with one key raced on PostgreSQL; the loser finds the winner's row.
                if attempt == 2 or idempotency_key is None:
                    raise
        raise AssertionError("unreachable")

    async def register_async(self, draft: CaseDraft, actor: Actor, idempotency_key: str | None = None) -> Registered:
        """register for the API's event loop (Database.write_unit_async): the same checks and
        unit of work, awaited instead of holding a worker thread while the commit is made."""
        self.validate_draft(draft)
        digest = _digest(draft) if idempotency_key is not None else ""
        for attempt in range(3):
            reserved = None if self.db.is_sqlite else await asyncio.to_thread(self._numbers_apart, actor, [idempotency_key])
            number = reserved[0] if reserved else None
            try:
                return await self.db.write_unit_async(
                    partial(self._register_in, draft=draft, actor=actor, key=idempotency_key, digest=digest, reserved=number), cursor_only=True
                )
            except IntegrityError:
                # Two requests with one key raced on PostgreSQL; the loser finds the winner's row.
                if attempt == 2 or idempotency_key is None:
                    raise
        raise AssertionError("unreachable")

    def register_many(
        self, drafts: builtins.list[tuple[CaseDraft, str | None]], actor: Actor, refs_by_adapter: bool = False
    ) -> builtins.list[Registered | Exception]:
        """Register several cases (a county's batch), each (draft, idempotency key or None),
        so that one refused or failing draft never undoes the others. Each draft's Registered
        or its error, in order.

        All are tried first as one unit of work: one savepoint for the batch instead of one
        each (on a SQLite file a unit's savepoint cost about a quarter of a registration's
        CPU in the group commit's single writer). If any of them fails, that unit is rolled
        back whole (the ORM's state with it) and each draft is registered again as its own
        unit, as before: the bad one is answered with its error, its neighbours registered.
        Numbers taken in the rolled-back unit were never committed, so none is lost or given twice."""
        out: builtins.list[Registered | Exception | None] = [None] * len(drafts)
        units: builtins.list[Callable[[Session], Registered]] = []
        places = []
        valid: builtins.list[tuple[int, CaseDraft, str | None]] = []
        for i, (draft, key) in enumerate(drafts):
            try:
                self.validate_draft(draft)
            except Exception as exc:  # the draft's refusal is its answer; the others go on
                out[i] = exc
                continue
            valid.append((i, draft, key))
        reserved = self._numbers_apart(actor, [key for _, _, key in valid])
        for n, (i, draft, key) in enumerate(valid):
            number = reserved[n] if reserved else None
            digest = _digest(draft) if key is not None else ""
            units.append(partial(self._register_in, draft=draft, actor=actor, key=key, digest=digest, refs_by_adapter=refs_by_adapter, reserved=number))
            places.append(i)
        results: builtins.list[Registered | BaseException] = []
        cursor_only = not refs_by_adapter  # a county sink writes its ticket row through the ORM
        if len(units) > 1:
            together = self.db.write_units([partial(_all_of, units=units)], cursor_only=cursor_only)[0]
            if not isinstance(together, BaseException):
                results = list(together)
            elif not isinstance(together, Exception):
                raise together
        if not results and units:
            results = self.db.write_units(units, cursor_only=cursor_only)
        for i, result in zip(places, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            out[i] = result
        return [r for r in out if r is not None]

    def _numbers_apart(self, actor: Actor, keys: builtins.list[str | None]) -> builtins.list[tuple[datetime, str | None]] | None:
        """On PostgreSQL, case numbers for registrations about to run, taken in a short
        transaction of their own: taken in the registration's, the day's counter row stays
        locked until that commits, so concurrent registrations queue on it one whole
        transaction at a time (124 cases/s with one thread fell to 68 with sixteen). A
        registration that then fails leaves a gap in the day's numbers, as a sequence does; a
        number is never given twice. The counter's commit skips the fsync: the registration's
        own commit comes later in the one write-ahead log and flushes it too, and if that never
        commits no case holds the number. A key already answered gets no number (its
        registration replays). None on SQLite, where the one writer makes the counter no queue."""
        if self.db.is_sqlite:
            return None
        now = self.clock.now()
        with self.db.write(durable=False) as own:
            fresh = [key is None or own.get(IdempotencyRow, (actor.party, key)) is None for key in keys]
            numbers = iter(CaseRepository(own).reserve_numbers(self.settings.region_code, [now] * sum(fresh)))
        return [(now, next(numbers) if is_fresh else None) for is_fresh in fresh]

    def _register_in(
        self,
        s: Session,
        draft: CaseDraft,
        actor: Actor,
        key: str | None,
        digest: str,
        refs_by_adapter: bool = False,
        reserved: tuple[datetime, str | None] | None = None,
    ) -> Registered:
        now, number = reserved or (self.clock.now(), None)
        repo = CaseRepository(s)
        if key is not None:
            seen = ANSWERED.first(s, {"scope": actor.party, "key": key})
            if seen is not None:
                request_hash, case_number = seen
                if request_hash != digest:
                    raise IdempotencyConflict(f"Idempotency-Key {key!r} was used for a different request (case {case_number})")
                return Registered(repo.get(case_number), created=False)
        outcome = self.engine().register(draft, number or repo.next_number(self.settings.region_code, now), actor, now, refs_by_adapter)
        case_id = repo.add(outcome.case)
        repo.link_repeat_call(case_id, outcome.case, self.settings.repeat_call_days, now)
        self._emit(s, repo, case_id, outcome.events, outcome.case)
        if key is not None:
            REMEMBER_ANSWER.run(s, {"scope": actor.party, "key": key, "request_hash": digest, "case_number": outcome.case.number, "created_at": now})
        # Every row above went through the cursor's statements (no ORM object to flush): the
        # unit is submitted cursor_only, in the group commit's savepoint on the driver connection.
        return Registered(outcome.case, created=True)

    # -- transitions ---------------------------------------------------------------------
    def act(self, number: str, command: c.Command, actor: Actor, expected_version: int | None = None) -> Case:
        now = self.clock.now()
        with self.db.write() as s:
            repo = CaseRepository(s)
            case = repo.get(number)
            self._check_visible(actor, case)
            if expected_version is not None and expected_version != case.version:
                raise StaleCase(number, expected_version, case.version)
            related = None
            if isinstance(command, c.Correct):
                self._validate_correction(command)
            if isinstance(command, c.Merge):
                try:
                    related = repo.get(command.into)
                except CaseNotFound:
                    raise RuleViolation(f"case {command.into} to merge into was not found") from None
            outcome = self.engine().act(case, command, actor, now, related)
            case_id = repo.save(outcome.case, case.version)
            self._emit(s, repo, case_id, outcome.events, outcome.case)
            if outcome.related is not None and related is not None:
                repo.save(outcome.related, related.version)
            return outcome.case

    def attach(self, number: str, attachment: dict, actor: Actor, add_row: Callable[[Session, Case], None]) -> Case:
        """Record an attachment whose file is stored (hub/attachments.py): `add_row` adds its
        row in the same transaction as the case's history line and event."""
        now = self.clock.now()
        with self.db.write() as s:
            repo = CaseRepository(s)
            case = repo.get(number)
            outcome = self.engine().attach(case, attachment, actor, now)
            add_row(s, case)
            case_id = repo.save(outcome.case, case.version)
            self._emit(s, repo, case_id, outcome.events, outcome.case)
            return outcome.case

    def _emit(self, s: Session, repo: CaseRepository, case_id: int, events: list, case: Case) -> None:
        rows = repo.record_events(case_id, events)
        for sink in self.sinks:
            sink(s, case, rows)

    # -- peers' ids, recorded by the outbox relay inside its own transaction ----------------
    def record_peer_ref(self, s: Session, number: str, ref: ExternalRef) -> bool:
        """Attach the id a peer gave the case (answered on delivery), inside the caller's
        transaction `s`, in a savepoint: a conflicting id raises RuleViolation and leaves
        the caller's other writes standing. False if the case already had it."""
        with s.begin_nested():
            return CaseRepository(s).attach_ref(number, ref)

    def peer_refs(self, s: Session, numbers: set[str], systems: set[str]) -> dict[tuple[str, str], str]:
        """{(case number, system): the peer's id} for those cases and systems, read in `s`."""
        if not numbers or not systems:
            return {}
        return CaseRepository(s).external_ids(numbers, systems)

    # -- reads -----------------------------------------------------------------------------
    def get(self, number: str, actor: Actor) -> Case:
        with self.db.read() as s:
            case = CaseRepository(s).get(number)
        self._check_visible(actor, case)
        return case

    def get_any(self, number: str) -> Case:
        """The case, whoever asks: the caller applies its own access rule (a channel's own case)."""
        with self.db.read() as s:
            return CaseRepository(s).get(number)

    def history(self, number: str, actor: Actor) -> list[HistoryEntry]:
        return self.get(number, actor).history

    def list(self, query: CaseQuery, actor: Actor) -> tuple[list[Case], str | None]:
        with self.db.read() as s:
            return CaseRepository(s).list(query, actor, self.clock.now())

    def caller_history(self, phone: str, actor: Actor, days: int, limit: int = 50) -> tuple[datetime, int, int, builtins.list[Case]]:
        """A caller's earlier cases at intake (the phone normalised): only for those who see
        every caller's phone (the centre), since the answer reveals who called about what."""
        if not sees_confidential_person(actor):
            raise AccessDenied("the caller's history is the centre's: only agents and supervisors see callers' phones")
        since = self.clock.now() - timedelta(days=days)
        with self.db.read() as s:
            in_window, total, cases = CaseRepository(s).caller_history(phone, since, limit)
        return since, in_window, total, cases

    # -- repeat calls (重复来电) -----------------------------------------------------------------
    def repeat_call(self, number: str, actor: Actor) -> RepeatCall:
        """The earlier case a case was linked to at registration (same phone, same category,
        open, within settings.repeat_call_days). The centre's: the link says who called again."""
        self._check_centre(actor)
        with self.db.read() as s:
            return self._repeat_call(CaseRepository(s), number)

    def decide_repeat_call(self, number: str, confirm: bool, actor: Actor, note: str | None = None, merge: bool = False) -> RepeatCall:
        """Confirm (optionally merging the case into the earlier one through the merge action,
        first, so a refused merge leaves the link undecided) or dismiss the link."""
        self._check_centre(actor)
        with self.db.read() as s:
            link = self._repeat_call(CaseRepository(s), number)
        if link.status != "suggested":
            raise RuleViolation(f"the repeat call of case {number} was already {link.status}")
        if merge:
            self.act(number, c.Merge(into=link.earlier_case), actor)
        with self.db.write() as s:
            row = s.get(RepeatCallRow, link.row_id)
            if row is None or row.status != "suggested":
                raise RuleViolation(f"the repeat call of case {number} was decided meanwhile")
            row.status, row.decided_at, row.decided_by, row.note = ("confirmed" if confirm else "dismissed"), self.clock.now(), actor.party, note
        with self.db.read() as s:
            return self._repeat_call(CaseRepository(s), number)

    @staticmethod
    def _check_centre(actor: Actor) -> None:
        if not sees_confidential_person(actor):
            raise AccessDenied("repeat calls are the centre's: only agents and supervisors see callers' phones")

    @staticmethod
    def _repeat_call(repo: CaseRepository, number: str) -> RepeatCall:
        repo.get(number, with_history=False)  # 404 for an unknown case
        found = repo.repeat_call(number)
        if found is None:
            raise NoRepeatCall(number)
        row, earlier, state = found
        return RepeatCall(
            row_id=row.case_id,
            case=number,
            earlier_case=earlier,
            earlier_state=state,
            status=row.status,
            found_at=row.found_at,
            decided_at=row.decided_at,
            decided_by=row.decided_by,
            note=row.note,
        )

    def find_by_ref(self, system: str, external_id: str) -> Case | None:
        with self.db.read() as s:
            return CaseRepository(s).find_by_ref(system, external_id)

    @staticmethod
    def _check_visible(actor: Actor, case: Case) -> None:
        if not can_see_case(actor, case):
            # Same answer as for a case that does not exist would hide existence; we say
            # 403 so a county knows the case is real but not theirs (the centre's choice).
            raise AccessDenied(f"case {case.number} is not visible to party '{actor.party}'")


def _all_of(s: Session, units: list[Callable[[Session], Registered]]) -> list[Registered]:
    """Several registrations as one unit of work: the first error undoes them all (register_many)."""
    return [unit(s) for unit in units]


def _digest(draft: CaseDraft) -> str:
    body = json.dumps(draft.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def event_rows(s: Session, case_number: str) -> list[EventRow]:
    return list(s.execute(select(EventRow).where(EventRow.case_number == case_number).order_by(EventRow.id)).scalars())
