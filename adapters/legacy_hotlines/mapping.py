"""One row of a line's export -> a canonical historical case, or a refusal naming the
line's own column and why. Pure: no I/O, no clock (the import time is passed in)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from adapters.legacy_hotlines.config import LineMapping
from hub.domain.model import (
    Case, CaseDraft, CaseState, Channel, ExternalRef, HistoryEntry, Intake, Person, Place, Reply, Role,
    normalise_phone,
)
from hub.mappings import Catalogue

IMPORT_ACTOR = "legacy-import"
# What legacy exports write when they have no phone or name.
_NOTHING = {"", "无", "不详", "未知", "-", "--", "/", "null", "NULL", "None"}
_SPACES = re.compile(r"\s+")


class RowRefused(Exception):
    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason
        super().__init__(f"{column}: {reason}")


@dataclass(frozen=True)
class MappedRow:
    original_id: str
    received_at: datetime
    draft: CaseDraft
    state: CaseState
    unit: str | None
    reply: str | None
    closed_at: datetime | None
    raw_status: str


class RowMapper:
    def __init__(self, mapping: LineMapping, catalogue: Catalogue) -> None:
        self.m = mapping
        self.catalogue = catalogue
        self.tz = ZoneInfo(mapping.timezone)
        self.f = mapping.fields
        self._formats = list(mapping.date_formats)

    # -- reading one cell ------------------------------------------------------------------
    def _raw(self, row: dict[str, Any], field: str) -> Any:
        column = getattr(self.f, field)
        if column is None:
            return None
        value = row.get(column)
        if isinstance(value, str):
            value = value.strip()
            return None if value in _NOTHING else value
        return value

    def _required(self, row: dict[str, Any], field: str) -> Any:
        value = self._raw(row, field)
        if value is None:
            column = getattr(self.f, field)
            raise RowRefused(column, "missing (required)" if column not in row else "empty (required)")
        return value

    def _code(self, row: dict[str, Any], field: str, table: dict[str, Any], table_name: str) -> Any:
        raw = self._raw(row, field)
        if raw is None:
            return None
        code = str(raw)
        if code not in table:
            raise RowRefused(getattr(self.f, field), f"code {code!r} has no mapping "
                             f"(mappings/legacy/{self.m.line}.yaml codes.{table_name})")
        return table[code]

    def parse_time(self, value: Any, column: str) -> datetime:
        if isinstance(value, datetime):
            local = value
        elif isinstance(value, date):
            local = datetime.combine(value, time())
        else:
            text = _SPACES.sub(" ", str(value).strip())
            local = None
            # The format that matched last is tried first: exports are uniform in long runs.
            for fmt in self._formats:
                try:
                    local = datetime.strptime(text, fmt)
                except ValueError:
                    continue
                if fmt is not self._formats[0]:
                    self._formats.remove(fmt)
                    self._formats.insert(0, fmt)
                break
            if local is None:
                raise RowRefused(column, f"date {text!r} matches none of the line's date_formats")
        if local.tzinfo is None:
            local = local.replace(tzinfo=self.tz)
        return local.astimezone(timezone.utc)

    # -- one row ---------------------------------------------------------------------------
    def map(self, row: dict[str, Any]) -> MappedRow:
        original_id = str(self._required(row, "original_id"))
        if len(original_id) > 128:
            raise RowRefused(self.f.original_id, "longer than 128 characters")
        received_at = self.parse_time(self._required(row, "received_at"), self.f.received_at)
        content = str(self._required(row, "content"))
        category = self._code(row, "category", self.m.codes.category, "category")
        if category is None:
            raise RowRefused(self.f.category, "empty (required)")
        state = self._code(row, "status", self.m.codes.status, "status")
        if state is None:
            raise RowRefused(self.f.status, "empty (required)")
        request_type = (self._code(row, "request_type", self.m.codes.request_type, "request_type")
                        if self.m.codes.request_type else None) or self.m.default_request_type
        urgency = self._code(row, "urgency", self.m.codes.urgency, "urgency") if self.m.codes.urgency else None
        unit = self._code(row, "unit", self.m.codes.unit, "unit") if self.m.codes.unit else None
        division = (self._code(row, "division", self.m.codes.division, "division")
                    if self.m.codes.division else self._raw(row, "division")) or self.m.default_division
        title = self._raw(row, "title")
        title = str(title) if title is not None else content[: self.m.title_chars]
        phone_raw = self._raw(row, "person_phone")
        phone = None
        if phone_raw is not None:
            try:
                phone = normalise_phone(_strip_country(str(phone_raw)))
            except ValueError as exc:
                raise RowRefused(self.f.person_phone or "phone", str(exc)) from None
        name = self._raw(row, "person_name")
        closed_raw = self._raw(row, "closed_at")
        closed_at = self.parse_time(closed_raw, self.f.closed_at or "closed_at") if closed_raw is not None else None
        if closed_at is not None and closed_at < received_at:
            # A date-only close on the day of receipt ("2019年01月03日") means later that day.
            if closed_at.astimezone(self.tz).date() != received_at.astimezone(self.tz).date():
                raise RowRefused(self.f.closed_at or "closed_at", "is before the received time")
            closed_at = received_at
        address = self._raw(row, "address")
        try:
            draft = CaseDraft(
                external_refs=[ExternalRef(system=self.m.system, external_id=original_id)],
                intake=Intake(channel=Channel.LEGACY, received_at=received_at),
                person=Person(name=str(name)[:64] if name else None, phone=phone, anonymous=not (name or phone)),
                request_type=request_type, category_code=category, title=title[:200], content=content,
                place=Place(address=str(address)[:256] if address else None, division_code=str(division)),
                **({"urgency": urgency} if urgency else {}),
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise RowRefused(self._column_for(field), err["msg"].removeprefix("Value error, ")) from None
        self.catalogue.category(category)  # the mapping file is checked at start; this guards drift
        self.catalogue.division(draft.place.division_code)
        reply = self._raw(row, "reply")
        return MappedRow(original_id, received_at, draft, state, unit, str(reply) if reply is not None else None,
                         closed_at, str(self._raw(row, "status")))

    def _column_for(self, field: str) -> str:
        for prefix, name in (("person.phone", "person_phone"), ("person.name", "person_name"), ("title", "title"),
                             ("content", "content"), ("place.division_code", "division"), ("place.address", "address")):
            if field.startswith(prefix):
                return getattr(self.f, name) or field
        return field


def _strip_country(phone: str) -> str:
    phone = phone.strip().removeprefix("+86").removeprefix("0086").strip()
    # Mobiles are written 138-0000-1111 by some exports; landline dashes carry the area code.
    return phone.replace("-", "") if phone.startswith("1") else phone


def build_case(mapped: MappedRow, number: str, now: datetime, line: str, run_id: int | None, row: int) -> Case:
    """The historical case: its mapped state, one history entry `import` by the hub itself.

    Times are the line's own where it had them (received, closed); the import's time is
    the history entry's and `updated_at`, so the record says when the hub learnt of it.
    """
    d = mapped.draft
    case = Case(number=number, version=1, state=mapped.state, external_refs=d.external_refs, intake=d.intake,
                person=d.person, request_type=d.request_type, category_code=d.category_code, title=d.title,
                content=d.content, place=d.place, urgency=d.urgency, created_at=mapped.received_at, updated_at=now)
    if mapped.unit:
        case.handling.lead_unit = mapped.unit
    finished = mapped.state in (CaseState.CLOSED, CaseState.ARCHIVED)
    if finished:
        closed = mapped.closed_at or mapped.received_at
        case.outcome.closed_at = closed
        if mapped.state is CaseState.ARCHIVED:
            case.outcome.archived_at = closed
        if mapped.reply:
            case.outcome.reply = Reply(text=mapped.reply, replied_at=closed, unit_code=mapped.unit or f"legacy.{line}")
    if mapped.state is CaseState.REJECTED:
        case.outcome.rejection_reason = mapped.reply or f"不予受理 on line {line}"
    case.history.append(HistoryEntry(
        seq=1, at=now, actor=IMPORT_ACTOR, role=Role.SYSTEM, action="import", from_state=None, to_state=mapped.state,
        data={"line": line, "original_id": mapped.original_id, "status": mapped.raw_status, "run": run_id, "row": row}))
    return case
