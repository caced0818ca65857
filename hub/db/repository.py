"""Cases in and out of the database. Optimistic concurrency lives here: a write names the
version it read, and a stale one is refused rather than overwriting somebody's change.

Case numbers are counted in hub/db/numbering.py and bulk writes go through hub/db/bulk.py;
this module keeps the reads, the writes and the one column list (CASE_COLUMNS) they share.

Over 400 lines on purpose: the reads and writes share the one column list and the seal at the
document's boundary; splitting reads from writes would split both.
"""

from __future__ import annotations

import base64
import builtins
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, CursorResult, Integer, and_, bindparam, column, delete, exists, func, literal_column, or_, select, table, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from hub.db import numbering
from hub.db.bulk import HistoricalCase, add_historical
from hub.db.case_pages import MAX_ARMS, counties_under, due_page, merged_page
from hub.db.cursor import CursorStatement
from hub.db.models import (
    CASE_TEXT_TABLE,
    RUNNING_STATE_VALUES,
    TOWNSHIP_DIGITS,
    CaseRow,
    CaseUnitRow,
    EventRow,
    ExternalRefRow,
    HistoryRow,
    RepeatCallRow,
    overdue_flag_clause,
    running_cases_clause,
    running_due,
    township_code,
)
from hub.db.person_seal import PersonSeal, PersonSealKeyMismatch, seal_of
from hub.db.phone_index import key_from_file, phone_hash
from hub.domain.access import Actor, sees_confidential_person
from hub.domain.engine import record
from hub.domain.errors import CaseNotFound, RuleViolation, StaleCase
from hub.domain.events import DomainEvent
from hub.domain.model import Case, ExternalRef, HistoryEntry, Role


class DuplicateExternalRef(RuleViolation):
    def __init__(self, ref: ExternalRef, holder: str | None) -> None:
        self.ref, self.holder = ref, holder
        super().__init__(f"{ref.system} id {ref.external_id!r} already belongs to case {holder}")


@dataclass(frozen=True)
class CaseQuery:
    state: list[str] | None = None
    unit: str | None = None
    division: str | None = None
    request_type: str | None = None
    overdue: bool | None = None
    # 预警 or overdue, among the running cases only (OPEN_HANDLING_STATES, through the state index;
    # the warned flag is the `warned` column the writes keep in step with the document).
    warning: bool | None = None
    due_before: datetime | None = None
    text: str | None = None
    channel: str | None = None
    category: str | None = None  # exactly this category code
    phone: str | None = None  # normalised (normalise_phone): matched exactly, through the phone index
    received_from: datetime | None = None  # intake.received_at >= this
    received_to: datetime | None = None  # intake.received_at < this
    cursor: str | None = None
    limit: int = 50


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": row_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises ValueError for anything that is not a cursor this hub made."""
    padded = cursor + "=" * (-len(cursor) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    row_id = data["id"]
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 1 <= row_id <= 2**63 - 1:
        raise ValueError("bad cursor")
    return row_id


# The cases table's columns a write sets, in this order: `_columns` (one case, keyed by name)
# and `add_historical` (many, as tuples; hub/db/bulk.py) both follow it, and a unit test holds
# `_columns` to it, so a new column is added here once.
CASE_COLUMNS = (
    "number",
    "version",
    "state",
    "request_type",
    "category_code",
    "division_code",
    "county_code",
    "urgency",
    "channel",
    "lead_unit",
    "sign_off_due",
    "due_at",
    "overdue",
    "warned",
    "created_at",
    "updated_at",
    "search_text",
    "doc",
    "phone_hash",
    "received_at",
)


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.phone_key: bytes = session.info.get("phone_index_key") or key_from_file()
        # The caller's name and phone are sealed in the stored document (hub.db.person_seal).
        self.seal: PersonSeal = seal_of(session)

    def phone_hash(self, phone: str) -> str:
        """The index's value for a normalised phone (hub.db.phone_index)."""
        return phone_hash(self.phone_key, phone)

    # -- numbers (hub/db/numbering.py) ---------------------------------------------------
    def next_number(self, region_code: str, now: datetime) -> str:
        return numbering.next_number(self.session, region_code, now)

    def reserve_numbers(self, region_code: str, received: list[datetime]) -> list[str]:
        return numbering.reserve_numbers(self.session, region_code, received)

    # -- reads ---------------------------------------------------------------------------
    def _row(self, number: str) -> CaseRow:
        row = self.session.execute(select(CaseRow).where(CaseRow.number == number)).scalar_one_or_none()
        if row is None:
            raise CaseNotFound(number)
        return row

    def get(self, number: str, with_history: bool = True) -> Case:
        # Three indexed reads on the Core connection, each a statement compiled once: the case's
        # id and document (not the row: its text is the document's again), its history lines,
        # its refs. The lines go into the one validation of the case (no model built per line).
        conn = self.session.connection()
        found = conn.execute(_CASE_BY_NUMBER, {"number": number}).first()
        if found is None:
            raise CaseNotFound(number)
        case_id, doc = found
        history = [r._asdict() for r in conn.execute(_HISTORY_OF, {"case_id": case_id})] if with_history else []
        # The refs table is the truth: adapters attach a peer's id without a new version.
        refs = [{"system": system, "external_id": external_id} for system, external_id in conn.execute(_REFS_OF, {"case_id": case_id})]
        return Case.model_validate({**self.seal.open(doc), "history": history, "external_refs": refs})

    def attach_ref(self, number: str, ref: ExternalRef) -> bool:
        """Record a peer's id for the case (e.g. after delivery). False if already there."""
        row = self._row(number)
        existing = self.session.execute(
            select(ExternalRefRow).where(ExternalRefRow.case_id == row.id, ExternalRefRow.system == ref.system)
        ).scalar_one_or_none()
        if existing is not None:
            if existing.external_id != ref.external_id:
                raise RuleViolation(f"case {number} already has {ref.system} id {existing.external_id!r}, not {ref.external_id!r}")
            return False
        self._write_refs(row.id, [ref])
        return True

    def external_ids(self, numbers: set[str], systems: set[str]) -> dict[tuple[str, str], str]:
        """{(case number, system): external id} of the given cases' refs in the given systems."""
        found = self.session.execute(
            select(CaseRow.number, ExternalRefRow.system, ExternalRefRow.external_id)
            .join(CaseRow, CaseRow.id == ExternalRefRow.case_id)
            .where(CaseRow.number.in_(numbers), ExternalRefRow.system.in_(systems))
        ).all()
        return {(number, system): external_id for number, system, external_id in found}

    def note(self, number: str, *, at: datetime, actor: str, role: Role, action: str, note: str | None, data: dict) -> HistoryEntry:
        """Append a history line that changes no state and emits no event (an operator's act
        beside the lifecycle, e.g. skipping an outbox message): a new version, so a change
        prepared on the version before fails as stale instead of losing this line."""
        case = self.get(number)
        new = case.model_copy(deep=True)
        entry = record(new, Actor(party=actor, role=role), action, at, note=note, data=data)
        self.save(new, case.version)
        return entry

    def _history(self, case_id: int) -> list[HistoryEntry]:
        return _HISTORY_LINES.validate_python([r._asdict() for r in self.session.connection().execute(_HISTORY_OF, {"case_id": case_id})])

    def history(self, number: str) -> list[HistoryEntry]:
        return self._history(self._row(number).id)

    def held_refs(self, system: str, external_ids: list[str]) -> list[str]:
        """Which of these ids of `system` a case already holds."""
        if not external_ids:
            return []
        return list(
            self.session.execute(
                select(ExternalRefRow.external_id).where(ExternalRefRow.system == system, ExternalRefRow.external_id.in_(external_ids))
            ).scalars()
        )

    def find_by_ref(self, system: str, external_id: str) -> Case | None:
        number = self.session.execute(
            select(CaseRow.number)
            .join(ExternalRefRow, ExternalRefRow.case_id == CaseRow.id)
            .where(ExternalRefRow.system == system, ExternalRefRow.external_id == external_id)
        ).scalar_one_or_none()
        return self.get(number) if number else None

    def list(self, query: CaseQuery, actor: Actor, now: datetime) -> tuple[list[Case], str | None]:
        # The id and the document only (the text column is the document's title and content again).
        stmt = select(CaseRow.id, CaseRow.doc)
        stmt = stmt.where(*self.visibility(actor))
        sqlite = self.session.get_bind().dialect.name == "sqlite"
        ranged = bool(query.received_from or query.received_to or query.due_before)
        # SQLite's planner cannot tell a deadline range of every finished case from one of a few,
        # nor rare states from common ones: such pages are found by what the database holds
        # (hub/db/case_pages.py). Not beside `q=`, whose pages are the text index's order, nor for
        # running cases only (the console's 三日内到期), whose deadlines have their own index (0027).
        # Several states and a short place prefix on PostgreSQL too: its plan for the IN, or the
        # prefix, walked the primary key past every case when few or none matched (bench/RESULTS.md).
        running = bool(query.state) and set(query.state or ()) <= set(OPEN_HANDLING_STATES)
        due_apart = sqlite and query.due_before is not None and not query.text and not running
        states_apart = len(query.state or ()) > 1 and not running and not ranged and not query.text
        # A prefix shorter than a county's code: each county under it in id order, merged.
        short_division = bool(query.division) and len(query.division or "") < COUNTY_DIGITS
        counties = (
            counties_under(self.session, query.division or "", COUNTY_DIGITS, MAX_ARMS)
            if short_division and not (due_apart or states_apart or ranged or query.text)
            else None
        )
        if counties is not None and not counties:
            return [], None  # no case's place starts with it
        division_apart = counties is not None and len(counties) <= MAX_ARMS
        if query.state and not states_apart:
            stmt = stmt.where(CaseRow.state.in_(query.state))
            if len(query.state) > 1 and running and not query.warning:
                # The same cases, through the running cases' index.
                stmt = stmt.where(running_cases_clause())
        if query.unit:
            stmt = stmt.where(exists().where(CaseUnitRow.case_id == CaseRow.id, CaseUnitRow.unit_code == query.unit))
        if query.division:
            # The cases, named by the township or county the prefix lies in: each a range of its
            # index in id order (0025), where the prefix alone is a walk of every case. A prefix
            # that is a whole county or township code is that equality alone (the prefix said
            # again would only make PostgreSQL guess fewer cases than a page, and sort them all).
            digits = len(query.division)
            if digits >= TOWNSHIP_DIGITS:
                stmt = stmt.where(township_code() == query.division[:TOWNSHIP_DIGITS])
            elif digits >= COUNTY_DIGITS:
                stmt = stmt.where(CaseRow.county_code == query.division[:COUNTY_DIGITS])
            if digits not in (COUNTY_DIGITS, TOWNSHIP_DIGITS):
                stmt = stmt.where(CaseRow.division_code.startswith(query.division, autoescape=True))
        if query.request_type:
            stmt = stmt.where(CaseRow.request_type == query.request_type)
        if query.overdue is not None:
            # Overdue is derived from the deadline so the list is right even before the
            # scheduler has flagged the case.
            # Each side of the OR through its partial index (the flagged cases', the running
            # cases'), so a list with few overdue cases does not walk every case (0023).
            late = or_(overdue_flag_clause(), and_(CaseRow.due_at.is_not(None), CaseRow.due_at < now, running_cases_clause()))
            if query.overdue and self.session.get_bind().dialect.name == "postgresql":
                # The same cases; the running ones through ix_cases_running_due (0023), which
                # PostgreSQL keeps statistics of (NULL for the others: so not for ~late).
                late = or_(overdue_flag_clause(), running_due() < now)
            stmt = stmt.where(late if query.overdue else ~late)
        if query.warning:
            late = or_(CaseRow.overdue.is_(True), and_(CaseRow.due_at.is_not(None), CaseRow.due_at < now))
            stmt = stmt.where(running_cases_clause(), or_(late, CaseRow.warned.is_(True)))
        if query.due_before and not due_apart:
            stmt = stmt.where(CaseRow.due_at.is_not(None), CaseRow.due_at < query.due_before)
        order: ColumnElement[int] = CaseRow.__table__.c.id
        if query.text:
            # The LIKE is the rule (a substring, as written); on SQLite the trigram index
            # (cases_fts, 0025) finds the candidates for a needle it can serve, newest first and
            # stopping at the page, and the LIKE checks each (the index folds more cases than LIKE).
            stmt = stmt.where(CaseRow.search_text.contains(query.text, autoescape=True))
            if len(query.text) >= TRIGRAM and sqlite:
                stmt = stmt.join(_CASE_TEXT, _CASE_TEXT.c.rowid == CaseRow.id).where(
                    literal_column(CASE_TEXT_TABLE).op("MATCH")(bindparam("text_phrase", '"' + query.text.replace('"', '""') + '"'))
                )
                # Paged in the index's own order (the same ids), so the index is read no further than the page.
                order = _CASE_TEXT.c.rowid
        if query.channel:
            stmt = stmt.where(CaseRow.channel == query.channel)
        if query.category:
            stmt = stmt.where(CaseRow.category_code == query.category)
        if query.received_from:
            stmt = stmt.where(CaseRow.received_at >= query.received_from)
        if query.received_to:
            stmt = stmt.where(CaseRow.received_at < query.received_to)
        if query.phone:
            stmt = stmt.where(CaseRow.phone_hash == self.phone_hash(query.phone))
            if not sees_confidential_person(actor):
                stmt = stmt.where(CaseRow.doc[("person", "confidential")].as_boolean() == False)  # noqa: E712
        if due_apart or states_apart or division_apart:
            below = decode_cursor(query.cursor) if query.cursor else None
            filtered = stmt.with_only_columns(CaseRow.id)
            if query.due_before is not None and due_apart:
                page_ids = due_page(self.session, filtered, query.due_before, below, query.limit + 1)
            elif states_apart:
                page_ids = merged_page(self.session, filtered, CaseRow.__table__.c.state, query.state or [], below, query.limit + 1, counted=not sqlite)
            else:
                page_ids = merged_page(self.session, filtered, CaseRow.__table__.c.county_code, counties or [], below, query.limit + 1)
            by_id = select(CaseRow.id, CaseRow.doc).where(CaseRow.id.in_(page_ids)).order_by(CaseRow.id.desc())
            return self._page(list(self.session.execute(by_id).all()) if page_ids else [], query.limit)
        if query.cursor:
            stmt = stmt.where(order < decode_cursor(query.cursor))
        # The page's size inline (not a bound parameter): SQLite plans for a known LIMIT, and
        # answers an OR of indexed terms (overdue=true) through their indexes only then.
        page = bindparam("page_limit", query.limit + 1, type_=Integer, literal_execute=True)
        stmt = stmt.order_by(order.desc()).limit(page)
        if ranged:
            # A range of times is answered by the time's index and a sort of what it holds: the
            # page's ids first (the index alone, sorting numbers), then their documents, instead
            # of sorting every matching case's document to keep fifty (0025).
            ids = stmt.with_only_columns(CaseRow.id)
            stmt = select(CaseRow.id, CaseRow.doc).where(CaseRow.id.in_(ids)).order_by(CaseRow.id.desc())
        return self._page(list(self.session.execute(stmt).all()), query.limit)

    def _page(self, rows: builtins.list[Any], limit: int) -> tuple[builtins.list[Case], str | None]:
        """The cases of up to `limit` (id, doc) rows, newest first, and the cursor after them if
        there were more (one row more than the page is read to know)."""
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].id) if more and rows else None
        return [self._to_case(r.doc, [], self.seal) for r in rows], next_cursor

    def caller_history(self, phone: str, since: datetime, limit: int) -> tuple[int, int, builtins.list[Case]]:
        """Cases of a phone, through the index: (count received since `since`, count of all
        time, the newest `limit` of those received since)."""
        mine = CaseRow.phone_hash == self.phone_hash(phone)
        recent = and_(mine, CaseRow.received_at >= since)
        in_window = self.session.execute(select(func.count()).select_from(CaseRow).where(recent)).scalar_one()
        total = self.session.execute(select(func.count()).select_from(CaseRow).where(mine)).scalar_one()
        rows = self.session.execute(select(CaseRow).where(recent).order_by(CaseRow.received_at.desc(), CaseRow.id.desc()).limit(limit)).scalars()
        return in_window, total, [self._to_case(r.doc, [], self.seal) for r in rows]

    # -- repeat calls (重复来电) -----------------------------------------------------------------
    def link_repeat_call(self, case_id: int, case: Case, days: int, now: datetime) -> str | None:
        """Link a just-registered case to the newest open case of the same phone and category
        received within `days` before it; the earlier case's number, or None."""
        if days <= 0 or not case.person.phone:
            return None
        since = case.intake.received_at - timedelta(days=days)
        # One statement built once, parameters bound per call: intake is the hot path.
        earlier = _EARLIER_OPEN_CASE.first(
            self.session,
            {
                "phone_hash": self.phone_hash(case.person.phone),
                "since": since,
                "until": case.intake.received_at,
                "case_id": case_id,
                "category_code": case.category_code,
            },
        )
        if earlier is None:
            return None
        earlier_id, earlier_number = earlier
        _INSERT_REPEAT_CALL.run(self.session, {"case_id": case_id, "earlier_case_id": earlier_id, "status": "suggested", "found_at": now})
        return str(earlier_number)

    def repeat_call(self, number: str) -> tuple[RepeatCallRow, str, str] | None:
        """The link of a case to the earlier case it repeats: (row, earlier number, earlier state)."""
        earlier = aliased(CaseRow)
        found = self.session.execute(
            select(RepeatCallRow, earlier.number, earlier.state)
            .join(CaseRow, CaseRow.id == RepeatCallRow.case_id)
            .join(earlier, earlier.id == RepeatCallRow.earlier_case_id)
            .where(CaseRow.number == number)
        ).first()
        return (found[0], found[1], found[2]) if found else None

    def reindex_phones(self, after_id: int, batch: int) -> tuple[int, int]:
        """Recompute the phone index of up to `batch` cases with ids above `after_id` with
        this session's key (after the key changed): (the last id done, or 0 when none was
        left; how many were done)."""
        rows = self.session.execute(select(CaseRow.id, CaseRow.doc).where(CaseRow.id > after_id).order_by(CaseRow.id).limit(batch)).all()
        for row_id, doc in rows:
            phone = (self.seal.open(doc).get("person") or {}).get("phone")
            self.session.execute(update(CaseRow).where(CaseRow.id == row_id).values(phone_hash=self.phone_hash(phone) if phone else None))
        return (rows[-1][0] if rows else 0), len(rows)

    def visibility(self, actor: Actor) -> builtins.list:
        """WHERE clauses on CaseRow limiting a query to the cases `actor` may see (none for
        the centre): the access rule in SQL, for features that query cases themselves."""
        if actor.role in (Role.AGENT, Role.SUPERVISOR, Role.SYSTEM):
            return []
        # access.can_see: a party always sees what it registered (the first history entry).
        # An alias: callers may join the history themselves (the supervision list does).
        first = aliased(HistoryRow)
        own = exists().where(
            first.case_id == CaseRow.id, first.seq == 1, first.action == "register", first.actor == actor.party, first.role == actor.role.value
        )
        if actor.role is Role.COUNTY:
            return [or_(CaseRow.county_code.in_(actor.divisions or ("-",)), own)]
        if actor.role is Role.UNIT:
            return [or_(exists().where(CaseUnitRow.case_id == CaseRow.id, CaseUnitRow.unit_code == (actor.unit_code or "-")), own)]
        if actor.role is Role.PROVINCE:
            return [or_(exists().where(ExternalRefRow.case_id == CaseRow.id, ExternalRefRow.system == "province"), own)]
        return [own]

    # -- writes --------------------------------------------------------------------------
    def add(self, case: Case) -> int:
        # On the DB-API cursor (hub/db/cursor.py), not the ORM unit of work: intake is the hot
        # path and these rows are never read back in the same transaction.
        case_id: int = _INSERT_CASE.run(self.session, {"number": case.number, **self._columns(case, self.phone_key, self.seal)})
        self._add_refs(case_id, case.external_refs)
        self._write_units(case_id, case)
        self._write_history(case_id, case.history, start=0)
        return case_id

    def add_historical(self, cases: builtins.list[HistoricalCase], now: datetime) -> builtins.list[int]:
        """Many cases that arrive whole with one history line each (an import of another
        line's records), in a few multi-row statements: the rows `add` would write, no events."""
        return add_historical(self.session, CASE_COLUMNS, self.phone_key, cases, now)

    def reseal(self, old: PersonSeal, after_id: int, batch: int) -> tuple[int, int]:
        """Open the documents of up to `batch` cases with ids above `after_id` with the `old`
        seal and seal them with this session's (after the seal key changed; a document still
        in clear is sealed): (the last id done, or 0 when none was left; how many were done)."""
        rows = self.session.execute(select(CaseRow.id, CaseRow.doc).where(CaseRow.id > after_id).order_by(CaseRow.id).limit(batch)).all()
        for row_id, doc in rows:
            try:
                clear = old.open(doc)
            except PersonSealKeyMismatch:
                self.seal.open(doc)  # sealed under the new key already (a reseal run again), or raises
                continue
            self.session.execute(update(CaseRow).where(CaseRow.id == row_id).values(doc=self.seal.seal(clear)))
        return (rows[-1][0] if rows else 0), len(rows)

    def save(self, case: Case, expected_version: int) -> int:
        row_id = self.session.execute(select(CaseRow.id).where(CaseRow.number == case.number)).scalar_one_or_none()
        if row_id is None:
            raise CaseNotFound(case.number)
        result = cast(
            "CursorResult[Any]",
            self.session.execute(
                update(CaseRow).where(CaseRow.id == row_id, CaseRow.version == expected_version).values(**self._columns(case, self.phone_key, self.seal))
            ),
        )
        if result.rowcount != 1:
            actual = self.session.execute(select(CaseRow.version).where(CaseRow.id == row_id)).scalar_one_or_none()
            raise StaleCase(case.number, expected_version, actual)
        stored = self.session.execute(select(func.count()).select_from(HistoryRow).where(HistoryRow.case_id == row_id)).scalar_one()
        self._write_history(row_id, case.history, start=stored)
        self._write_units(row_id, case, replace=True)
        known = set(self.session.execute(select(ExternalRefRow.system).where(ExternalRefRow.case_id == row_id)).scalars())
        self._write_refs(row_id, [r for r in case.external_refs if r.system not in known])
        return row_id

    def record_events(self, case_id: int, events: builtins.list[DomainEvent]) -> builtins.list[EventRow]:
        """Insert the events; return them as (detached) rows with their ids, for the sinks."""
        values = [
            dict(
                case_id=case_id,
                case_number=e.case_number,
                case_version=e.case_version,
                type=e.type,
                occurred_at=e.occurred_at,
                payload=e.model_dump(mode="json"),
            )
            for e in events
        ]
        return [EventRow(id=_INSERT_EVENT.run(self.session, v), **v) for v in values]

    def _write_refs(self, case_id: int, refs: builtins.list[ExternalRef]) -> None:
        for ref in refs:
            holder = self.session.execute(
                select(CaseRow.number)
                .join(ExternalRefRow, ExternalRefRow.case_id == CaseRow.id)
                .where(ExternalRefRow.system == ref.system, ExternalRefRow.external_id == ref.external_id)
            ).scalar_one_or_none()
            if holder is not None:
                raise DuplicateExternalRef(ref, holder)
            try:
                with self.session.begin_nested():
                    self.session.add(ExternalRefRow(system=ref.system, external_id=ref.external_id, case_id=case_id))
            except IntegrityError as exc:  # a concurrent writer took it between our check and insert
                raise DuplicateExternalRef(ref, None) from exc

    def _add_refs(self, case_id: int, refs: builtins.list[ExternalRef]) -> None:
        """A new case's refs (a county's ticket id, a peer's): on the cursor, with no savepoint
        of their own. A conflict refuses the whole registration, whose unit is rolled back
        (its transaction, or its savepoint in a shared commit), so there is nothing else in
        it to keep; the ORM's savepoint and flush were most of a county ticket's write."""
        for ref in refs:
            params = {"system": ref.system, "external_id": ref.external_id}
            holder = _REF_HOLDER.run(self.session, params)
            if holder is not None:
                raise DuplicateExternalRef(ref, holder)
            try:
                _INSERT_REF.run(self.session, {**params, "case_id": case_id})
            except IntegrityError as exc:  # a concurrent writer (PostgreSQL) took it between our check and insert
                raise DuplicateExternalRef(ref, None) from exc

    def _write_units(self, case_id: int, case: Case, replace: bool = False) -> None:
        if replace:
            self.session.execute(delete(CaseUnitRow).where(CaseUnitRow.case_id == case_id))
        lead, co = case.handling.lead_unit, case.handling.co_units
        # 二次派单: a township unit the case was dispatched on to is listed too, so its key finds it.
        rows = [dict(case_id=case_id, unit_code=code, role="lead" if code == lead else "co" if code in co else "township") for code in case.units]
        if rows:
            self.session.execute(CaseUnitRow.__table__.insert(), rows)

    def _write_history(self, case_id: int, entries: builtins.list[HistoryEntry], start: int) -> None:
        # Append-only: entries already stored are never rewritten.
        rows = [
            dict(
                case_id=case_id,
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                role=e.role.value,
                action=e.action,
                from_state=e.from_state.value if e.from_state else None,
                to_state=e.to_state.value,
                note=e.note,
                data=e.data,
            )
            for e in entries[start:]
        ]
        if len(rows) == 1:  # a registration's first line, an action's line: the cursor's path
            _INSERT_HISTORY.run(self.session, rows[0])
        elif rows:
            self.session.connection().execute(_INSERT_HISTORY.stmt, rows)

    @staticmethod
    def _columns(case: Case, phone_key: bytes, seal: PersonSeal) -> dict:
        h = case.handling
        return dict(
            version=case.version,
            state=case.state.value,
            request_type=case.request_type.value,
            category_code=case.category_code,
            division_code=case.place.division_code,
            county_code=case.place.division_code[:6],
            urgency=case.urgency.value,
            channel=case.intake.channel.value,
            lead_unit=h.lead_unit,
            sign_off_due=h.sign_off_due,
            due_at=h.due_at,
            overdue=case.flags.overdue,
            warned=case.flags.warned,
            created_at=case.created_at,
            updated_at=case.updated_at,
            search_text=f"{case.title}\n{case.content}",
            doc=seal.seal(case.model_dump(mode="json", exclude={"history"})),
            phone_hash=phone_hash(phone_key, case.person.phone) if case.person.phone else None,
            received_at=case.intake.received_at,
        )

    @staticmethod
    def _to_case(doc: dict[str, Any], history: builtins.list[HistoryEntry], seal: PersonSeal) -> Case:
        return Case.model_validate({**seal.open(doc), "history": history})


# The intake's statements, parameters bound at execution: compiled once, run on the DB-API
# cursor on SQLite (hub/db/cursor.py), they skip the ORM's and Core's per-call bookkeeping.
_INSERT_CASE = CursorStatement(CaseRow.__table__.insert().returning(CaseRow.__table__.c.id), ("number", *CASE_COLUMNS))
_EVENT_KEYS = ("case_id", "case_number", "case_version", "type", "occurred_at", "payload")
_INSERT_EVENT = CursorStatement(EventRow.__table__.insert().returning(EventRow.__table__.c.id), _EVENT_KEYS)
_INSERT_REPEAT_CALL = CursorStatement(RepeatCallRow.__table__.insert(), ("case_id", "earlier_case_id", "status", "found_at"))
_HISTORY_KEYS = ("case_id", "seq", "at", "actor", "role", "action", "from_state", "to_state", "note", "data")
_INSERT_HISTORY = CursorStatement(HistoryRow.__table__.insert(), _HISTORY_KEYS)
_INSERT_REF = CursorStatement(ExternalRefRow.__table__.insert(), ("system", "external_id", "case_id"))
_REF_HOLDER = CursorStatement(
    select(CaseRow.number)
    .join(ExternalRefRow, ExternalRefRow.case_id == CaseRow.id)
    .where(ExternalRefRow.system == bindparam("system"), ExternalRefRow.external_id == bindparam("external_id"))
)

# A case read (CaseRepository.get): the case by its number, its history lines, its refs.
_CASE_BY_NUMBER = select(CaseRow.id, CaseRow.doc).where(CaseRow.number == bindparam("number"))
_HISTORY_OF = (
    select(
        HistoryRow.seq,
        HistoryRow.at,
        HistoryRow.actor,
        HistoryRow.role,
        HistoryRow.action,
        HistoryRow.from_state,
        HistoryRow.to_state,
        HistoryRow.note,
        HistoryRow.data,
    )
    .where(HistoryRow.case_id == bindparam("case_id"))
    .order_by(HistoryRow.seq)
)
_REFS_OF = select(ExternalRefRow.system, ExternalRefRow.external_id).where(ExternalRefRow.case_id == bindparam("case_id")).order_by(ExternalRefRow.system)
_HISTORY_LINES = TypeAdapter(builtins.list[HistoryEntry])

COUNTY_DIGITS = 6  # cases.county_code is the place's code's first six digits (`_columns`)

# The trigram index of the cases' text (SQLite, 0025): a needle shorter than a trigram matches
# nothing in it, so such a needle is a plain LIKE.
TRIGRAM = 3
_CASE_TEXT = table(CASE_TEXT_TABLE, column("rowid", Integer))

OPEN_HANDLING_STATES = RUNNING_STATE_VALUES  # read through the partial index ix_cases_running
# Where a case no longer waits on anyone: the caller's matter is over (or lives on in another case).
FINISHED_STATES = ("rejected", "transferred", "closed", "archived", "merged")

# The newest open case of a phone and category received in a window (link_repeat_call). The
# states inline (not an expanding IN): the statement runs on the DB-API cursor.
_NOT_FINISHED = text("cases.state NOT IN (" + ", ".join(f"'{state}'" for state in FINISHED_STATES) + ")")
_EARLIER_OPEN_CASE = CursorStatement(
    select(CaseRow.id, CaseRow.number)
    .where(
        CaseRow.phone_hash == bindparam("phone_hash"),
        CaseRow.received_at >= bindparam("since", type_=CaseRow.__table__.c.received_at.type),
        CaseRow.received_at <= bindparam("until", type_=CaseRow.__table__.c.received_at.type),
        CaseRow.id != bindparam("case_id"),
        CaseRow.category_code == bindparam("category_code"),
        _NOT_FINISHED,
    )
    .order_by(CaseRow.received_at.desc(), CaseRow.id.desc())
    .limit(1)
)
