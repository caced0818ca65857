"""One row of a line's export -> a canonical historical case, or a refusal naming the
line's own column and why. Pure: no I/O, no clock (the import time is passed in).

The bulk import maps millions of rows, so the hot path avoids pydantic per row: a row is
checked against exactly the constraints CaseDraft would apply (and only when a check fails
is the CaseDraft built, to refuse the row with pydantic's own message), dates go through
regexes compiled once per format, and the case's stored document is built as the dict
`Case.model_dump(mode="json")` would give (`case_document`; a unit test holds it equal to
`build_case`). The live bridge still gets a real CaseDraft from `MappedRow.draft`.

Over 400 lines on purpose: the hot path's checks mirror CaseDraft's constraints field by field,
kept in one file beside the unit test that holds them equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property
from json.encoder import encode_basestring_ascii as _json_str  # what json.dumps writes a str as
from operator import itemgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from adapters.legacy_hotlines.config import LineMapping
from hub.domain.model import (
    Case,
    CaseDraft,
    CaseState,
    Channel,
    ExternalRef,
    HistoryEntry,
    Intake,
    Person,
    Place,
    Reply,
    RequestType,
    Role,
    Urgency,
    normalise_phone,
)
from hub.mappings import Catalogue

if TYPE_CHECKING:
    from hub.db.person_seal import PersonSeal

IMPORT_ACTOR = "legacy-import"
# What legacy exports write when they have no phone or name.
_NOTHING = {"", "无", "不详", "未知", "-", "--", "/", "null", "NULL", "None"}
_SPACES = re.compile(r"\s+")


class RowRefused(Exception):
    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason
        super().__init__(f"{column}: {reason}")


# strptime's own regexes for the numeric directives (CPython's _strptime.TimeRE), so a
# compiled format accepts exactly what strptime accepts; other directives use strptime.
_DIRECTIVES = {
    "Y": r"(?P<Y>\d\d\d\d)",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
    "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "%": "%",
}
_REGEX_CHARS = re.compile(r"([\\.^$*+?\(\){}\[\]|])")
_DIVISION_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3}(?:[0-9]{3})?)?")  # Place.division_code, ASCII digits only
_FINISHED = (CaseState.CLOSED, CaseState.ARCHIVED)
_NOT_UNICODE = "Input should be a valid string, unable to parse raw data as a unicode string"  # pydantic's words


def date_parser(fmt: str) -> Callable[[str], datetime | None]:
    """`datetime.strptime(text, fmt)` or None when it raises ValueError, without strptime's
    per-call locale and cache work for formats of %Y %m %d %H %M %S and literals."""
    pattern, rest, seen = "", _SPACES.sub(r"\\s+", _REGEX_CHARS.sub(r"\\\1", fmt)), set()
    while "%" in rest:
        i = rest.index("%")
        directive = rest[i + 1 : i + 2]
        if directive not in _DIRECTIVES or (directive != "%" and directive in seen):
            return _strptime_parser(fmt)
        seen.add(directive)
        pattern, rest = pattern + rest[:i] + _DIRECTIVES[directive], rest[i + 2 :]
    regex = re.compile(pattern + rest, re.IGNORECASE)

    def parse(text: str) -> datetime | None:
        found = regex.match(text)
        if found is None or found.end() != len(text):  # strptime: "unconverted data remains"
            return None
        g = found.groupdict()
        try:
            return datetime(
                int(g["Y"]) if "Y" in g else 1900, int(g.get("m") or 1), int(g.get("d") or 1), int(g.get("H") or 0), int(g.get("M") or 0), int(g.get("S") or 0)
            )
        except ValueError:  # 2019-02-30, second 60: strptime refuses them too
            return None

    return parse


def _strptime_parser(fmt: str) -> Callable[[str], datetime | None]:
    def parse(text: str) -> datetime | None:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            return None

    return parse


@dataclass
class MappedRow:
    """A row that passed every check CaseDraft makes, as plain values."""

    original_id: str
    received_at: datetime
    state: CaseState
    unit: str | None
    reply: str | None
    closed_at: datetime | None
    raw_status: str
    system: str
    request_type: RequestType
    category_code: str
    title: str
    content: str
    person_name: str | None
    person_phone: str | None
    address: str | None
    division_code: str
    urgency: Urgency | None

    @cached_property
    def draft(self) -> CaseDraft:
        return _draft(
            self.system,
            self.original_id,
            self.received_at,
            self.person_name,
            self.person_phone,
            self.request_type,
            self.category_code,
            self.title,
            self.content,
            self.address,
            self.division_code,
            self.urgency,
        )


def _draft(
    system: str,
    original_id: str,
    received_at: datetime,
    name: str | None,
    phone: str | None,
    request_type: RequestType,
    category: str,
    title: str,
    content: str,
    address: str | None,
    division: str,
    urgency: Urgency | None,
) -> CaseDraft:
    return CaseDraft(
        external_refs=[ExternalRef(system=system, external_id=original_id)],
        intake=Intake(channel=Channel.LEGACY, received_at=received_at),
        person=Person(name=name, phone=phone, anonymous=not (name or phone)),
        request_type=request_type,
        category_code=category,
        title=title,
        content=content,
        place=Place(address=address, division_code=division),
        **({"urgency": urgency} if urgency else {}),
    )


class RowMapper:
    def __init__(self, mapping: LineMapping, catalogue: Catalogue) -> None:
        self.m = mapping
        self.catalogue = catalogue
        self.tz = ZoneInfo(mapping.timezone)
        self.f = mapping.fields
        self._columns: dict[str, str | None] = dict(mapping.fields)
        self._mapped = [(field, column) for field, column in self._columns.items() if column is not None]
        # Only a mapped field has a cell: the required ones always are (Fields), and a code is read from a cell.
        self._column_of: dict[str, str] = dict(self._mapped)
        self._fields = [field for field, _ in self._mapped]
        self._columns_read = [column for _, column in self._mapped]
        # Every mapped cell of a row in one call (a CSV or XLSX row has every column): a row is
        # a dozen cells, and a million rows make the per-cell lookups a part of the import.
        self._pick = itemgetter(*self._columns_read) if len(self._mapped) > 1 else lambda row: (row[self._columns_read[0]],)
        # Tried in the order the mapping file lists them (docs/legacy.md).
        self._parsers = [date_parser(fmt) for fmt in mapping.date_formats]
        # Exports repeat dates (every case closed that day): text -> UTC time, kept bounded.
        self._times: dict[str, datetime] = {}

    # -- reading the cells -----------------------------------------------------------------
    def _cells(self, row: dict[str, Any]) -> dict[str, Any]:
        """Each mapped field's cell: stripped, None when blank or one of the 'nothing' words."""
        try:
            values = self._pick(row)
        except KeyError:  # a JSON line without some column
            values = [row.get(column) for column in self._columns_read]
        cells = {}
        for field, value in zip(self._fields, values):
            if isinstance(value, str):
                value = value.strip()
                if value in _NOTHING:
                    value = None
            cells[field] = value
        return cells

    def _required(self, row: dict[str, Any], cells: dict[str, Any], field: str) -> Any:
        value = cells.get(field)
        if value is None:
            column = self._column_of[field]
            raise RowRefused(column, "missing (required)" if column not in row else "empty (required)")
        return value

    def _code(self, cells: dict[str, Any], field: str, table: dict[str, Any], table_name: str) -> Any:
        raw = cells.get(field)
        if raw is None:
            return None
        code = str(raw)
        if code not in table:
            raise RowRefused(self._column_of[field], f"code {code!r} has no mapping (mappings/legacy/{self.m.line}.yaml codes.{table_name})")
        return table[code]

    def parse_time(self, value: Any, column: str) -> datetime:
        if isinstance(value, str):
            known = self._times.get(value)
            if known is None:
                known = self._utc(self._parse_text(value, column))
                if len(self._times) >= 4096:
                    self._times.clear()
                self._times[value] = known
            return known
        if isinstance(value, datetime):
            return self._utc(value)
        if isinstance(value, date):
            return self._utc(datetime.combine(value, time()))
        return self._utc(self._parse_text(str(value), column))

    def _parse_text(self, value: str, column: str) -> datetime:
        text = _SPACES.sub(" ", value.strip())
        for parse in self._parsers:
            local = parse(text)
            if local is not None:
                return local
        raise RowRefused(column, f"date {text!r} matches none of the line's date_formats")

    def _utc(self, local: datetime) -> datetime:
        if local.tzinfo is None:
            local = local.replace(tzinfo=self.tz)
        return local.astimezone(UTC)

    # -- one row ---------------------------------------------------------------------------
    def map(self, row: dict[str, Any]) -> MappedRow:
        cells = self._cells(row)
        codes = self.m.codes
        original_id = str(self._required(row, cells, "original_id"))
        if len(original_id) > 128:
            raise RowRefused(self.f.original_id, "longer than 128 characters")
        received_at = self.parse_time(self._required(row, cells, "received_at"), self.f.received_at)
        content = str(self._required(row, cells, "content"))
        category = self._code(cells, "category", codes.category, "category")
        if category is None:
            raise RowRefused(self.f.category, "empty (required)")
        state = self._code(cells, "status", codes.status, "status")
        if state is None:
            raise RowRefused(self.f.status, "empty (required)")
        request_type = (self._code(cells, "request_type", codes.request_type, "request_type") if codes.request_type else None) or self.m.default_request_type
        urgency = self._code(cells, "urgency", codes.urgency, "urgency") if codes.urgency else None
        unit = self._code(cells, "unit", codes.unit, "unit") if codes.unit else None
        division = (self._code(cells, "division", codes.division, "division") if codes.division else cells.get("division")) or self.m.default_division
        title = cells.get("title")
        title = str(title) if title is not None else content[: self.m.title_chars]
        phone_raw = cells.get("person_phone")
        phone = None
        if phone_raw is not None:
            try:
                phone = normalise_phone(_strip_country(str(phone_raw)))
            except ValueError as exc:
                raise RowRefused(self.f.person_phone or "phone", str(exc)) from None
        name = cells.get("person_name")
        closed_raw = cells.get("closed_at")
        closed_at = self.parse_time(closed_raw, self.f.closed_at or "closed_at") if closed_raw is not None else None
        if closed_at is not None and closed_at < received_at:
            # A date-only close on the day of receipt ("2019年01月03日") means later that day.
            if closed_at.astimezone(self.tz).date() != received_at.astimezone(self.tz).date():
                raise RowRefused(self.f.closed_at or "closed_at", "is before the received time")
            closed_at = received_at
        address = cells.get("address")
        name = str(name)[:64] if name else None
        address = str(address)[:256] if address else None
        title, division = title[:200], str(division)
        if not _fits_draft(self.m.system, original_id, category, title, content, division, phone, name, address):
            # Something CaseDraft refuses: build it for pydantic's own message and field.
            try:
                _draft(self.m.system, original_id, received_at, name, phone, request_type, category, title, content, address, division, urgency)
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                raise RowRefused(self._column_for(field), err["msg"].removeprefix("Value error, ")) from None
        self.catalogue.category(category)  # the mapping file is checked at start; this guards drift
        self.catalogue.division(division)
        reply = cells.get("reply")
        if reply is not None:
            reply = str(reply)
            if not _unicode(reply):  # the reply is stored in the case, which must read back through the model
                raise RowRefused(self.f.reply or "reply", _NOT_UNICODE)
        return MappedRow(
            original_id,
            received_at,
            state,
            unit,
            reply,
            closed_at,
            str(cells.get("status")),
            self.m.system,
            request_type,
            category,
            title,
            content,
            name,
            phone,
            address,
            division,
            urgency or None,
        )

    def _column_for(self, field: str) -> str:
        for prefix, name in (
            ("person.phone", "person_phone"),
            ("person.name", "person_name"),
            ("title", "title"),
            ("content", "content"),
            ("place.division_code", "division"),
            ("place.address", "address"),
        ):
            if field.startswith(prefix):
                return getattr(self.f, name) or field
        return field


def _fits_draft(
    system: str, original_id: str, category: str, title: str, content: str, division: str, phone: str | None, name: str | None, address: str | None
) -> bool:
    """True when CaseDraft would accept the values `map` gives it: the constraints of the
    model (hub/domain/model.py) that `map` does not already guarantee by construction
    (names and addresses are cut to length, the phone is normalised, the state and codes
    come from validated tables). Never more lenient than the model: when in doubt, False."""
    return (
        system.startswith("legacy.")
        and 0 < len(original_id) <= 128
        and isinstance(category, str)
        and 0 < len(category) <= 32
        and 0 < len(title) <= 200
        and len(content) > 0
        and _DIVISION_CODE.fullmatch(division) is not None
        and (phone is None or len(phone) <= 32)
        and _unicode(f"{original_id}{title}{content}{name or ''}{address or ''}")
    )


def _unicode(text: str | None) -> bool:
    """pydantic refuses a str holding an unpaired surrogate (JSON can carry one: "\\ud800")."""
    if text is None or text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strip_country(phone: str) -> str:
    phone = phone.strip().removeprefix("+86").removeprefix("0086").strip()
    # Mobiles are written 138-0000-1111 by some exports; landline dashes carry the area code.
    return phone.replace("-", "") if phone.startswith("1") else phone


def history_data(mapped: MappedRow, line: str, run_id: int | None, row: int) -> dict[str, Any]:
    """The `import` history entry's data."""
    return {"line": line, "original_id": mapped.original_id, "status": mapped.raw_status, "run": run_id, "row": row}


def history_document(mapped: MappedRow, line: str, run_id: int | None, row: int) -> str:
    """`json.dumps(history_data(...))`, written directly (see case_document)."""
    return (
        f'{{"line": {_json_str(line)}, "original_id": {_json_str(mapped.original_id)}, '
        f'"status": {_json_str(mapped.raw_status)}, "run": {"null" if run_id is None else int(run_id)}, "row": {int(row)}}}'
    )


def build_case(mapped: MappedRow, number: str, now: datetime, line: str, run_id: int | None, row: int) -> Case:
    """The historical case: its mapped state, one history entry `import` by the hub itself.

    Times are the line's own where it had them (received, closed); the import's time is
    the history entry's and `updated_at`, so the record says when the hub learnt of it.
    This is the definition; the import writes `case_document`, its JSON form built directly.
    """
    d = mapped.draft
    case = Case(
        number=number,
        version=1,
        state=mapped.state,
        external_refs=d.external_refs,
        intake=d.intake,
        person=d.person,
        request_type=d.request_type,
        category_code=d.category_code,
        title=d.title,
        content=d.content,
        place=d.place,
        urgency=d.urgency,
        created_at=mapped.received_at,
        updated_at=now,
    )
    if mapped.unit:
        case.handling.lead_unit = mapped.unit
    finished = mapped.state in _FINISHED
    if finished:
        closed = mapped.closed_at or mapped.received_at
        case.outcome.closed_at = closed
        if mapped.state is CaseState.ARCHIVED:
            case.outcome.archived_at = closed
        if mapped.reply:
            case.outcome.reply = Reply(text=mapped.reply, replied_at=closed, unit_code=mapped.unit or f"legacy.{line}")
    if mapped.state is CaseState.REJECTED:
        case.outcome.rejection_reason = mapped.reply or f"不予受理 on line {line}"
    case.history.append(
        HistoryEntry(
            seq=1,
            at=now,
            actor=IMPORT_ACTOR,
            role=Role.SYSTEM,
            action="import",
            from_state=None,
            to_state=mapped.state,
            data=history_data(mapped, line, run_id, row),
        )
    )
    return case


def json_time(value: datetime) -> str:
    """A datetime as pydantic's JSON mode writes it (UTC as 'Z')."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _q(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def case_document(mapped: MappedRow, number: str, now: str, line: str, seal: PersonSeal | None = None) -> str:
    """`json.dumps(seal.seal(build_case(...).model_dump(mode="json", exclude={"history"})))`,
    written directly: the `doc` column as SQLAlchemy's JSON type stores it, which the
    repository opens and reads back with Case.model_validate. `now` is the import time in JSON
    form; `seal` the session's (hub.db.person_seal; None: name and phone in clear, as the model
    dumps them). Keys in the model's order and json.dumps' separators, so the text is byte for
    byte the same; the unit tests hold it equal to build_case for every state. Building and
    dumping the model cost more than the rest of the row's import together."""
    received = _json_str(json_time(mapped.received_at))
    state = mapped.state
    reply = closed_at = archived_at = rejection = "null"
    if state in _FINISHED:
        closed_at = received if mapped.closed_at is None else _json_str(json_time(mapped.closed_at))
        if state is CaseState.ARCHIVED:
            archived_at = closed_at
        if mapped.reply:
            unit = _json_str(mapped.unit or f"legacy.{line}")
            reply = (
                f'{{"text": {_json_str(mapped.reply)}, "replied_at": {closed_at}, "unit_code": {unit}, '
                f'"reviewed_at": null, "approved": null, "review_note": null}}'
            )
    if state is CaseState.REJECTED:
        rejection = _json_str(mapped.reply or f"不予受理 on line {line}")
    name, phone = mapped.person_name, mapped.person_phone
    anonymous = "false" if name or phone else "true"
    if seal is not None and (name or phone):
        person = (
            f'"person": {{"name": null, "phone": null, "kind": "person", "anonymous": {anonymous}, "confidential": false, '
            f'"sealed": {_json_str(seal.person_token(name, phone))}}}, '
        )
    else:
        person = f'"person": {{"name": {_q(name)}, "phone": {_q(phone)}, "kind": "person", "anonymous": {anonymous}, "confidential": false}}, '
    return (
        f'{{"number": {_json_str(number)}, "version": 1, "state": {_json_str(state.value)}, '
        f'"external_refs": [{{"system": {_json_str(mapped.system)}, "external_id": {_json_str(mapped.original_id)}}}], '
        f'"intake": {{"channel": "legacy", "received_at": {received}, "agent": null, "call_id": null}}, '
        f"{person}"
        f'"request_type": {_json_str(mapped.request_type.value)}, "category_code": {_json_str(mapped.category_code)}, '
        f'"title": {_json_str(mapped.title)}, "content": {_json_str(mapped.content)}, '
        f'"place": {{"address": {_q(mapped.address)}, "division_code": {_json_str(mapped.division_code)}, '
        f'"longitude": null, "latitude": null}}, '
        f'"urgency": {_json_str((mapped.urgency or Urgency.NORMAL).value)}, '
        f'"handling": {{"lead_unit": {_q(mapped.unit or None)}, "co_units": [], "parts": [], "cascade": [], "dispatched_at": null, '
        f'"sign_off_due": null, "signed_at": null, "due_at": null, "sign_off_basis": null, "due_basis": null, "extensions": [], "returns": [], '
        f'"holder": {_q(mapped.unit or None)}}}, '
        f'"outcome": {{"reply": {reply}, "direct_answer": null, "rejection_reason": {rejection}, "transferred_to": null, '
        f'"follow_ups": [], "closed_at": {closed_at}, "archived_at": {archived_at}, "redo_count": 0}}, '
        f'"flags": {{"supervised": false, "chased": 0, "warned": false, "overdue": false, "unreasonable": false, '
        f'"unreasonable_requested": false, "appealed": false, "appeals": []}}, '
        f'"links": {{"merged_into": null, "merged_cases": [], "articles": [], "attachments": []}}, '
        f'"created_at": {received}, "updated_at": {_json_str(now)}}}'
    )
