"""Cases a 双号并行 line offered that the hub could not take, kept so that none is lost.

A line hands over the cases it took itself once: the puller reads its list, and its cursor
moves on. An item the hub cannot take (a code the line's mapping lacks, a draft the hub
refuses, an acknowledgement the line refuses) is recorded here with the item as it came,
in the round that met it. An operator lists them (API, CLI), retries one once the mapping
is fixed (the puller maps the stored item again, registers it once, acknowledges it), or
dismisses it with a note. The item holds personal data: it is kept for the retry only,
never listed or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from adapters.legacy_hotlines.tables import (
    REFUSAL_DISMISSED,
    REFUSAL_PENDING,
    REFUSAL_TAKEN,
    LegacyBridgeRefusalRow,
)
from hub.domain.access import Actor
from hub.domain.errors import DomainError, RuleViolation

MAP, REGISTER, ACKNOWLEDGE = "map", "register", "acknowledge"


class RefusalNotFound(DomainError):
    def __init__(self, refusal_id: int) -> None:
        self.refusal_id = refusal_id
        super().__init__(f"no refused bridge case {refusal_id}")


class RefusalSettled(RuleViolation):
    """A refusal that was taken or dismissed is not retried or dismissed again."""


@dataclass(frozen=True)
class Refusal:
    id: int
    line: str
    line_case_id: str | None
    stage: str
    reason: str
    case_number: str | None
    status: str
    attempts: int
    first_at: datetime
    last_at: datetime
    decided_by: str | None
    note: str | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _refusal(r: LegacyBridgeRefusalRow) -> Refusal:
    return Refusal(r.id, r.line, r.line_case_id, r.stage, r.reason, r.case_number, r.status, r.attempts, r.first_at, r.last_at, r.decided_by, r.note)


class Refusals:
    def __init__(self, hub: Any) -> None:
        self.hub = hub

    # -- the puller's side ---------------------------------------------------------------------
    def record(self, line: str, line_case_id: str | None, stage: str, reason: str, item: Any, case_number: str | None = None) -> Refusal:
        """Keep a refused item; the same item refused again while pending counts an attempt."""
        now = self.hub.clock.now()
        with self.hub.db.write() as s:
            row = None
            if line_case_id is not None:
                row = s.execute(
                    select(LegacyBridgeRefusalRow)
                    .where(
                        LegacyBridgeRefusalRow.line == line,
                        LegacyBridgeRefusalRow.line_case_id == line_case_id,
                        LegacyBridgeRefusalRow.status == REFUSAL_PENDING,
                    )
                    .limit(1)
                ).scalar_one_or_none()
            if row is None:
                row = LegacyBridgeRefusalRow(line=line, line_case_id=line_case_id, status=REFUSAL_PENDING, attempts=0, first_at=now)
                s.add(row)
            row.stage, row.reason, row.item, row.last_at = stage, reason[:2000], to_json(item), now
            row.case_number = case_number or row.case_number
            row.attempts += 1
            s.flush()
            return _refusal(row)

    def pending_ids(self, line: str) -> set[str]:
        with self.hub.db.read() as s:
            return set(
                s.execute(
                    select(LegacyBridgeRefusalRow.line_case_id).where(
                        LegacyBridgeRefusalRow.line == line, LegacyBridgeRefusalRow.status == REFUSAL_PENDING, LegacyBridgeRefusalRow.line_case_id.is_not(None)
                    )
                ).scalars()
            )

    def settle_item(self, line: str, line_case_id: str, case_number: str, by: str) -> None:
        """The item came through after all (the line offered it again once the mapping was
        fixed): its pending refusal is settled as taken."""
        with self.hub.db.write() as s:
            for row in s.execute(
                select(LegacyBridgeRefusalRow).where(
                    LegacyBridgeRefusalRow.line == line, LegacyBridgeRefusalRow.line_case_id == line_case_id, LegacyBridgeRefusalRow.status == REFUSAL_PENDING
                )
            ).scalars():
                row.status, row.case_number, row.decided_by, row.last_at = REFUSAL_TAKEN, case_number, by, self.hub.clock.now()

    # -- a retry's outcome ---------------------------------------------------------------------
    def again(self, refusal_id: int, stage: str, reason: str, case_number: str | None = None) -> Refusal:
        """A retry was refused too: still pending, one more attempt, the latest reason."""
        with self.hub.db.write() as s:
            row = self._pending_row(s, refusal_id)
            row.stage, row.reason, row.last_at = stage, reason[:2000], self.hub.clock.now()
            row.case_number = case_number or row.case_number
            row.attempts += 1
            s.flush()
            return _refusal(row)

    def settle(self, refusal_id: int, case_number: str, by: str) -> Refusal:
        with self.hub.db.write() as s:
            row = self._pending_row(s, refusal_id)
            row.status, row.case_number, row.decided_by, row.last_at = REFUSAL_TAKEN, case_number, by, self.hub.clock.now()
            row.attempts += 1
            s.flush()
            return _refusal(row)

    @staticmethod
    def _pending_row(s: Any, refusal_id: int) -> LegacyBridgeRefusalRow:
        row = s.get(LegacyBridgeRefusalRow, refusal_id)
        if row is None:
            raise RefusalNotFound(refusal_id)
        if row.status != REFUSAL_PENDING:
            raise RefusalSettled(f"refused bridge case {refusal_id} is already {row.status}")
        return row

    def item(self, refusal_id: int) -> Any:
        with self.hub.db.read() as s:
            row = s.get(LegacyBridgeRefusalRow, refusal_id)
            if row is None:
                raise RefusalNotFound(refusal_id)
            return from_json(row.item)

    # -- the operator's side -------------------------------------------------------------------
    def list(self, status: str | None = REFUSAL_PENDING, line: str | None = None, limit: int = 100, after_id: int = 0) -> list[Refusal]:
        stmt = select(LegacyBridgeRefusalRow).where(LegacyBridgeRefusalRow.id > after_id)
        if status:
            stmt = stmt.where(LegacyBridgeRefusalRow.status == status)
        if line:
            stmt = stmt.where(LegacyBridgeRefusalRow.line == line)
        with self.hub.db.read() as s:
            return [_refusal(r) for r in s.execute(stmt.order_by(LegacyBridgeRefusalRow.id).limit(limit)).scalars()]

    def get(self, refusal_id: int) -> Refusal:
        with self.hub.db.read() as s:
            row = s.get(LegacyBridgeRefusalRow, refusal_id)
            if row is None:
                raise RefusalNotFound(refusal_id)
            return _refusal(row)

    def pending(self, refusal_id: int) -> Refusal:
        r = self.get(refusal_id)
        if r.status != REFUSAL_PENDING:
            raise RefusalSettled(f"refused bridge case {refusal_id} is already {r.status}")
        return r

    def dismiss(self, refusal_id: int, actor: Actor, note: str | None = None) -> Refusal:
        with self.hub.db.write() as s:
            row = self._pending_row(s, refusal_id)
            row.status, row.decided_by, row.note, row.last_at = REFUSAL_DISMISSED, actor.party, note, self.hub.clock.now()
            s.flush()
            return _refusal(row)


# The item as the line sent it, in a JSON column: SOAP answers carry dates as datetimes.
def to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag == "$datetime":
                return datetime.fromisoformat(text)
            if tag == "$date":
                return date.fromisoformat(text)
            if tag == "$decimal":
                return Decimal(text)
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value
