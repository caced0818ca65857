"""Each case's assessment items (supervision.assessment `facts_of`) kept as rows: written by an
event sink in the transaction that writes the case's history lines, as the outbox writes its
messages (the engine still calls nothing), and rebuilt in batches for the cases stored before
(migration 0024's backfill, and bench/scale_generate.py after its fill)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from hub.db.migrate import BACKFILLS
from hub.db.models import CaseRow, EventRow, HistoryRow
from hub.domain.model import Case
from supervision.assessment import CaseLines, Line, facts_of
from supervision.queries import ASSESSED_ACTIONS
from supervision.tables import AssessmentItemRow

_INSERT = AssessmentItemRow.__table__.insert()
_ASSESSED = frozenset(ASSESSED_ACTIONS)
REBUILD_BATCH = 2000


def item_rows(case_id: int, case: CaseLines) -> list[dict[str, Any]]:
    """The rows of one case's facts, from its assessed lines."""
    return [
        dict(
            case_id=case_id,
            case_number=case.number,
            county_code=case.county_code,
            figure=f.figure,
            seq=f.seq,
            ordinal=f.ordinal,
            at=f.at,
            unit=f.unit,
            counted=f.counted,
            resolved=f.resolved,
            open=f.open,
            part=f.part,
            township=f.township,
            since=f.since,
            until=f.until,
        )
        for f in facts_of(case)
    ]


def record_items(s: Session, case: Case, events: list[EventRow]) -> None:
    """Event sink: the case's items again, from its whole history as this transaction leaves it.
    A case with no assessed line (a registration, an intake) has none and writes nothing."""
    lines = [Line(h.seq, h.at, h.action, getattr(h.role, "value", h.role), h.data or {}) for h in case.history if h.action in _ASSESSED]
    if not lines:
        return
    case_id = events[0].case_id if events else s.execute(select(CaseRow.id).where(CaseRow.number == case.number)).scalar_one()
    s.execute(delete(AssessmentItemRow).where(AssessmentItemRow.case_id == case_id))
    rows = item_rows(case_id, CaseLines(case.number, case.place.division_code[:6], lines))
    if rows:
        s.connection().execute(_INSERT, rows)


def rebuild_batch(conn: Connection, after_id: int, batch: int = REBUILD_BATCH) -> tuple[int, int]:
    """Rebuild the items of up to `batch` cases with ids above `after_id`, from their stored
    history: (the last id done, or 0 when none was left; how many rows were written)."""
    cases = conn.execute(select(CaseRow.id, CaseRow.number, CaseRow.county_code).where(CaseRow.id > after_id).order_by(CaseRow.id).limit(batch)).all()
    if not cases:
        return 0, 0
    lo, hi = cases[0].id, cases[-1].id
    by_case: dict[int, list[Line]] = {}
    for r in conn.execute(
        select(HistoryRow.case_id, HistoryRow.seq, HistoryRow.at, HistoryRow.action, HistoryRow.role, HistoryRow.data)
        .where(HistoryRow.case_id >= lo, HistoryRow.case_id <= hi, HistoryRow.action.in_(ASSESSED_ACTIONS))
        .order_by(HistoryRow.case_id, HistoryRow.seq)
    ):
        by_case.setdefault(r.case_id, []).append(Line(r.seq, r.at, r.action, r.role, r.data or {}))
    conn.execute(delete(AssessmentItemRow).where(AssessmentItemRow.case_id >= lo, AssessmentItemRow.case_id <= hi))
    rows = [row for c in cases if c.id in by_case for row in item_rows(c.id, CaseLines(c.number, c.county_code, by_case[c.id]))]
    for chunk in _chunks(rows, 5000):
        conn.execute(_INSERT, chunk)
    return hi, len(rows)


def rebuild(conn: Connection, batch: int = REBUILD_BATCH) -> int:
    """Every case's items, in batches of case ids, on one connection (the migration's): how many rows."""
    after, total = 0, 0
    while True:
        after, written = rebuild_batch(conn, after, batch)
        if not after:
            return total
        total += written


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


BACKFILLS["0024_assessment_items"] = rebuild
