"""Reads the supervision feature needs, beside the case repository: the cases a time limit
runs on, the history lines that show what the scheduler already did, the supervised list
and the history an assessment is computed from. Reads only: every change is `hub.cases.act`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, union

from hub.db.database import Database
from hub.db.models import CaseRow, HistoryRow, running_cases_clause
from hub.db.person_seal import seal_of
from hub.db.repository import CaseRepository
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.lifecycle import HANDLING_STATES
from hub.domain.model import Case, Role
from supervision.assessment import CaseLines, FactRow, Line, Period, PeriodItems, gather
from supervision.tables import APPEAL_SQL, AssessmentItemRow

# Bound the IN (...) lists: SQLite's limit on bound parameters is the smallest in play.
_CHUNK = 500


@dataclass
class Markers:
    """(case, action, deadline, due) the scheduler has already recorded."""

    seen: set[tuple[str, str, str, datetime]] = field(default_factory=set)
    # Cases whose supervision a person cleared (解除督办) since their last dispatch.
    cleared: set[str] = field(default_factory=set)

    def has(self, number: str, action: str, which: c.Deadline, due: datetime) -> bool:
        return (number, action, which.value, due) in self.seen


def running_cases(db: Database, page: int = _CHUNK) -> Iterator[tuple[list[Case], Markers]]:
    """Cases whose time limits run (without their history), a page at a time in id order,
    each page with the warn/overdue lines of its cases: a sweep holds one page in memory,
    however many cases run. Through the running cases' partial index (ix_cases_running): the
    pass reads what is running, never the archived millions before it."""
    after = 0
    while True:
        with db.read() as s:
            rows = s.execute(select(CaseRow.id, CaseRow.doc).where(running_cases_clause(), CaseRow.id > after).order_by(CaseRow.id).limit(page)).all()
            if not rows:
                return
            ids = {row.id: row.doc["number"] for row in rows}
            markers = Markers()
            lines = s.execute(
                select(HistoryRow.case_id, HistoryRow.action, HistoryRow.data).where(
                    HistoryRow.case_id.in_(list(ids)), HistoryRow.action.in_(("warn", "mark_overdue"))
                )
            ).all()
            for line in lines:
                due = (line.data or {}).get("due_at")
                if due:
                    markers.seen.add((ids[line.case_id], line.action, line.data.get("deadline"), datetime.fromisoformat(due)))
            last: dict[int, str] = {}  # the latest of dispatch / redispatch / clear_supervision per case
            for line in s.execute(
                select(HistoryRow.case_id, HistoryRow.action)
                .where(HistoryRow.case_id.in_(list(ids)), HistoryRow.action.in_(("dispatch", "redispatch", "clear_supervision")))
                .order_by(HistoryRow.case_id, HistoryRow.seq)
            ):
                last[line.case_id] = line.action
            markers.cleared = {ids[i] for i, action in last.items() if action == "clear_supervision"}
            seal = seal_of(s)
        yield [Case.model_validate({**seal.open(row.doc), "history": []}) for row in rows], markers
        if len(rows) < page:
            return
        after = rows[-1].id


def cases_in_state(db: Database, state: str, page: int = _CHUNK) -> Iterator[list[Case]]:
    """Cases in one state (without their history), a page at a time in id order."""
    after = 0
    while True:
        with db.read() as s:
            rows = s.execute(select(CaseRow.id, CaseRow.doc).where(CaseRow.state == state, CaseRow.id > after).order_by(CaseRow.id).limit(page)).all()
            seal = seal_of(s)
        if not rows:
            return
        yield [Case.model_validate({**seal.open(row.doc), "history": []}) for row in rows]
        if len(rows) < page:
            return
        after = rows[-1].id


# -- the supervised list -------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisedCase:
    number: str
    state: str
    lead_unit: str | None
    division_code: str
    due_at: datetime | None
    overdue: bool
    supervised_at: datetime
    supervised_by: str
    reason: str
    response_due: datetime | None
    responded_at: datetime | None  # the first step the handling unit took after it
    chased: int


_RESPONDERS = {Role.UNIT.value, Role.COUNTY.value}


def supervised_cases(db: Database, actor: Actor, open_only: bool, unit: str | None, limit: int) -> list[SupervisedCase]:
    """Supervised cases visible to the actor, the latest supervision first."""
    with db.read() as s:
        repo = CaseRepository(s)
        stmt = (
            select(CaseRow.id, CaseRow.doc, HistoryRow.seq, HistoryRow.at, HistoryRow.actor, HistoryRow.data)
            .join(HistoryRow, HistoryRow.case_id == CaseRow.id)
            .where(HistoryRow.action == "supervise", *repo.visibility(actor))
        )
        if open_only:
            stmt = stmt.where(CaseRow.state.in_([st.value for st in HANDLING_STATES]))
        if unit:
            stmt = stmt.where(CaseRow.lead_unit == unit)
        rows = s.execute(stmt.order_by(HistoryRow.at.desc(), CaseRow.id.desc())).all()
        latest: dict[int, Any] = {}
        for row in rows:  # newest first: the first line of a case is its latest supervision
            if open_only and not (row.doc.get("flags") or {}).get("supervised"):
                continue  # 解除督办: cleared, so no longer open
            latest.setdefault(row.id, row)
        picked = list(latest.values())[:limit]
        out = []
        for row in picked:
            responded = s.execute(
                select(HistoryRow.at)
                .where(HistoryRow.case_id == row.id, HistoryRow.seq > row.seq, HistoryRow.role.in_(_RESPONDERS))
                .order_by(HistoryRow.seq)
                .limit(1)
            ).scalar_one_or_none()
            doc, data = row.doc, row.data or {}
            handling = doc.get("handling") or {}
            due = data.get("response_due")
            out.append(
                SupervisedCase(
                    number=doc["number"],
                    state=doc["state"],
                    lead_unit=handling.get("lead_unit"),
                    division_code=doc["place"]["division_code"],
                    due_at=datetime.fromisoformat(handling["due_at"]) if handling.get("due_at") else None,
                    overdue=bool(doc.get("flags", {}).get("overdue")),
                    supervised_at=row.at,
                    supervised_by=row.actor,
                    reason=data.get("reason", ""),
                    response_due=datetime.fromisoformat(due) if due else None,
                    responded_at=responded,
                    chased=int(doc.get("flags", {}).get("chased", 0)),
                )
            )
    return out


# -- the board (督办看板) ---------------------------------------------------------------------


@dataclass
class BoardRow:
    """One lead unit's running cases visible to the actor, and how many are warned, overdue, supervised."""

    unit: str | None
    running: int = 0
    warned: int = 0
    overdue: int = 0
    supervised: int = 0


def board(db: Database, actor: Actor) -> list[BoardRow]:
    """Per lead unit, the cases whose time limits run (RUNNING_STATES) that the actor may see:
    the worst first (overdue, then warned). Reads the flags from the case documents, one pass."""
    rows: dict[str | None, BoardRow] = {}
    with db.read() as s:
        repo = CaseRepository(s)
        stmt = select(CaseRow.lead_unit, CaseRow.overdue, CaseRow.doc).where(running_cases_clause(), *repo.visibility(actor))
        for lead, overdue, doc in s.execute(stmt):
            flags = doc.get("flags") or {}
            r = rows.setdefault(lead, BoardRow(lead))
            r.running += 1
            r.overdue += bool(overdue)
            r.warned += bool(flags.get("warned"))
            r.supervised += bool(flags.get("supervised"))
    return sorted(rows.values(), key=lambda r: (-r.overdue, -r.warned, -r.supervised, r.unit or ""))


# -- the assessment's input ---------------------------------------------------------------

# The actions the formulas read (docs/supervision.md).
ASSESSED_ACTIONS = (
    "dispatch",
    "redispatch",
    "sign_off",
    "request_return",
    "decide_return",
    "decide_extension",
    "reply",
    "review_reply",
    "answer_directly",
    "follow_up",
    "redo",
    "supervise",
    "chase",
    "decide_unreasonable",
    "appeal_assessment",
    "decide_appeal",
    "sign_off_part",
    "reply_part",
    "waive_part",  # 协办: each co-unit's part
    # 二次派单: each township's step
    "forward",
    "sign_off_forward",
    "reply_forward",
    "return_forward",
    "decide_forward_extension",
)
# 考核申诉 is about a period already judged: its lines count whenever they came, so an appeal
# decided in November changes October's figure it contests (and is counted in November).
APPEAL_ACTIONS = ("appeal_assessment", "decide_appeal")


# The lines whose data set an obligation's deadline (sign_off_due, due_at, the 协办 parts'):
# the dispatches, the township steps and the approved extensions.
DEADLINE_ACTIONS = ("dispatch", "redispatch", "forward", "decide_extension", "decide_forward_extension")


def _deadline_day(key: str) -> Any:
    """The first ten characters (YYYY-MM-DD) of a deadline in a history line's data, in SQL."""
    return func.substr(HistoryRow.data[key].as_string(), 1, 10)


def assessed_cases(since: datetime, start: datetime, until: datetime) -> Any:
    """The ids of the cases a period [start, until) can have an item of, among those with
    history since `since` (the look-back): a case with an assessed line in the period (every
    item but the deadlines' is dated by its line), or with a line from the look-back on that
    sets a deadline falling in the period (sign-off and close items are dated by their
    deadline, which may come from a dispatch before the period). Both through the history's
    (action, at) index: the period's lines and the look-back's deadline lines, never every
    line of the look-back's cases, nor their case documents.

    The deadline test is coarse on purpose, in SQL on both databases: the deadline's day as
    written (an ISO instant in some offset) within a day of the period's UTC days, or a line
    with 协办 parts (rare; their deadlines are inside the array). A case it lets through with
    no item in the period adds nothing to any figure; one it left out would."""
    lo = (start.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    hi = (until.astimezone(UTC) + timedelta(days=1)).date().isoformat()
    in_period = select(HistoryRow.case_id).where(HistoryRow.action.in_(ASSESSED_ACTIONS), HistoryRow.at >= start, HistoryRow.at < until)
    deadlines = select(HistoryRow.case_id).where(
        HistoryRow.action.in_(DEADLINE_ACTIONS),
        HistoryRow.at >= since,
        HistoryRow.at < until,
        or_(
            _deadline_day("due_at").between(lo, hi),
            _deadline_day("sign_off_due").between(lo, hi),
            HistoryRow.data[("parts", 0, "unit")].as_string().is_not(None),
        ),
    )
    return union(in_period, deadlines)


def assessment_lines(db: Database, since: datetime, start: datetime, until: datetime, county: str | None) -> list[CaseLines]:
    """The assessed lines before `until` of the cases the period [start, until) can have an
    item of (`assessed_cases`), among those with history in [since, until).

    Lines after `until` (the end of the period) are not read: a period's figures are
    judged as at its end and do not change afterwards, except by a 考核申诉 (APPEAL_ACTIONS).
    Only the columns the formulas need (the case's number and county, the lines): no case
    document is read or decoded."""
    stmt = (
        select(CaseRow.number, CaseRow.county_code, HistoryRow.seq, HistoryRow.at, HistoryRow.action, HistoryRow.role, HistoryRow.data)
        .join(HistoryRow, HistoryRow.case_id == CaseRow.id)
        .where(
            CaseRow.id.in_(assessed_cases(since, start, until)),
            HistoryRow.action.in_(ASSESSED_ACTIONS),
            or_(HistoryRow.at < until, HistoryRow.action.in_(APPEAL_ACTIONS)),
        )
    )
    if county:
        stmt = stmt.where(CaseRow.county_code == county)
    by_case: dict[str, CaseLines] = {}
    with db.read() as s:
        for row in s.execute(stmt.order_by(CaseRow.number, HistoryRow.seq)):
            entry = by_case.setdefault(row.number, CaseLines(row.number, row.county_code, []))
            entry.lines.append(Line(row.seq, row.at, row.action, row.role, row.data or {}))
    return list(by_case.values())


# -- the assessment from the stored items (0024) ----------------------------------------------

_AI = AssessmentItemRow
# In the order of supervision.assessment.FactRow; the case's id last, to find the walked cases.
_FACT_COLUMNS = (
    _AI.case_number,
    _AI.county_code,
    _AI.figure,
    _AI.seq,
    _AI.ordinal,
    _AI.at,
    _AI.unit,
    _AI.counted,
    _AI.resolved,
    _AI.open,
    _AI.part,
    _AI.township,
    _AI.case_id,
)


def items_in_period(period: Period, county: str | None) -> Any:
    """The stored items dated in the period and in force at its end (the lines before it said so)."""
    until = period.end
    stmt = select(*_FACT_COLUMNS).where(_AI.at >= period.start, _AI.at < until, _AI.since < until, or_(_AI.until.is_(None), _AI.until >= until))
    return stmt.where(_AI.county_code == county) if county else stmt


def period_items(db: Database, period: Period, now: datetime, county: str | None) -> PeriodItems:
    """The items of a period's figures: the stored items (supervision.items) dated in the
    period and in force at its end, through their date's index; no history line is read or
    decoded, but those of the few cases with a 考核申诉 line, walked as before (an appeal counts
    whenever it came, so it changes items no row in force at the period's end shows)."""
    until = period.end
    with db.read() as s:
        rows = s.execute(items_in_period(period, county)).all()
        # The partial index holds only the appeal rows: the condition is named as it is written.
        appealed = set(s.execute(select(_AI.case_id).where(text("assessment_items." + APPEAL_SQL))).scalars())
        walked = appealed & {r[-1] for r in rows}
        cases = _lines_of(s, sorted(walked), until) if walked else []
    facts: list[FactRow] = [r for r in rows if r[-1] not in walked] if walked else list(rows)
    return gather(cases, period, now, facts)


def _lines_of(s: Any, ids: list[int], until: datetime) -> list[CaseLines]:
    """Those cases' assessed lines before `until` and their appeals whenever (as assessment_lines)."""
    by_case: dict[str, CaseLines] = {}
    for i in range(0, len(ids), _CHUNK):
        stmt = (
            select(CaseRow.number, CaseRow.county_code, HistoryRow.seq, HistoryRow.at, HistoryRow.action, HistoryRow.role, HistoryRow.data)
            .join(HistoryRow, HistoryRow.case_id == CaseRow.id)
            .where(
                CaseRow.id.in_(ids[i : i + _CHUNK]),
                HistoryRow.action.in_(ASSESSED_ACTIONS),
                or_(HistoryRow.at < until, HistoryRow.action.in_(APPEAL_ACTIONS)),
            )
        )
        for row in s.execute(stmt.order_by(CaseRow.number, HistoryRow.seq)):
            by_case.setdefault(row.number, CaseLines(row.number, row.county_code, [])).lines.append(Line(row.seq, row.at, row.action, row.role, row.data or {}))
    return [by_case[n] for n in sorted(by_case)]
