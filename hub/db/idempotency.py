"""The intake's Idempotency-Key rows, on the driver cursor (hub/db/cursor.py) like the case's
own rows: a registration in a cursor-only unit touches no ORM object (hub/db/group_commit.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from hub.db.cursor import CursorStatement
from hub.db.models import IdempotencyRow

_IDEMPOTENCY = IdempotencyRow.__table__

# The answer already given for (party, key): its request's digest and the case it made.
ANSWERED = CursorStatement(
    select(_IDEMPOTENCY.c.request_hash, _IDEMPOTENCY.c.case_number).where(_IDEMPOTENCY.c.scope == bindparam("scope"), _IDEMPOTENCY.c.key == bindparam("key"))
)
REMEMBER_ANSWER = CursorStatement(_IDEMPOTENCY.insert(), ("scope", "key", "request_hash", "case_number", "created_at"))
