"""What the bridge hands a line's transport and gets back, whatever the line speaks.

The bridge (adapter.py) decides what goes over and translates codes; a transport (wire_rest.py
for REST, wire_soap.py for SOAP) only puts these shapes on its wire and reads them back.
Values are already in the LINE's codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hub.integration.contract import HealthReport

# The canonical fields a case carries over, named as in LineMapping.fields.
CASE_FIELDS = ("received_at", "person_name", "person_phone", "request_type", "category", "title", "content", "address", "division", "urgency")


@dataclass(frozen=True)
class OutgoingCase:
    """A 12345 case for the line: `fields` by canonical field name, codes the line's,
    `received_at` an aware datetime in the line's time zone."""

    hub_case_number: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class StatusChange:
    """A later change of a case the line holds (12345's event, in the line's codes where it has them)."""

    hub_case_number: str
    line_case_id: str | None
    seq: int
    event: str
    hub_state: str
    occurred_at: datetime
    status_code: str | None = None
    unit_code: str | None = None
    unit_name: str | None = None
    opinion: str | None = None


@dataclass
class TakenPage:
    """Cases the line took itself: each row in the line's column names (its mapping file's
    `fields`), as RowMapper reads an export row."""

    rows: list[Any] = field(default_factory=list)
    next_cursor: str | None = None


class LineTransport(Protocol):
    def submit(self, case: OutgoingCase, key: str) -> str:
        """The line's id for the case; the same id again for a repeated key."""
        ...

    def push_status(self, change: StatusChange, key: str) -> bool:
        """True when the line applied it (or had it); False when the line holds no such case."""
        ...

    def taken(self, cursor: str | None) -> TakenPage: ...

    def acknowledge(self, line_case_id: str, hub_case_number: str) -> None: ...

    def health(self) -> HealthReport: ...

    def close(self) -> None: ...
