"""Case numbers: the region code, the local day the case was received and a per-day sequence
(`<region><yyyymmdd><nnnnnn>`), counted in the case_number_seq table by an upsert, so two
processes never hand out the same number. The repository's next_number / reserve_numbers."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.db.models import CaseNumberSeqRow
from hub.domain.clock import LOCAL_TZ


def next_number(session: Session, region_code: str, now: datetime) -> str:
    day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    dialect = session.get_bind().dialect.name
    last = session.connection().execute(_next_number_stmt(dialect), {"day": day}).scalar_one()
    return f"{region_code}{day}{last:06d}"


def reserve_numbers(session: Session, region_code: str, received: list[datetime]) -> list[str]:
    """Numbers for many cases at once (the batch variant of next_number): region + the day
    each case was received + sequence; one upsert per distinct day reserves a block."""
    days = [r.astimezone(LOCAL_TZ).strftime("%Y%m%d") for r in received]
    dialect = session.get_bind().dialect.name
    next_free: dict[str, int] = {}
    for day, k in Counter(days).items():
        last = session.execute(_reserve_stmt(dialect), {"day": day, "k": k}).scalar_one()
        next_free[day] = last - k + 1
    out = []
    for day in days:
        out.append(f"{region_code}{day}{next_free[day]:06d}")
        next_free[day] += 1
    return out


def _next_number_stmt(dialect: str) -> Any:
    stmt = _NEXT_NUMBER.get(dialect)
    if stmt is None:
        table = CaseNumberSeqRow.__table__
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(table)
            .values(day=bindparam("day"), last=1)
            .on_conflict_do_update(index_elements=["day"], set_={"last": table.c.last + 1})
            .returning(table.c.last)
        )
        _NEXT_NUMBER[dialect] = stmt
    return stmt


_NEXT_NUMBER: dict[str, object] = {}


def _reserve_stmt(dialect: str) -> Any:
    stmt = _RESERVE.get(dialect)
    if stmt is None:
        table = CaseNumberSeqRow.__table__
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(table)
            .values(day=bindparam("day"), last=bindparam("k"))
            .on_conflict_do_update(index_elements=["day"], set_={"last": table.c.last + bindparam("k")})
            .returning(table.c.last)
        )
        _RESERVE[dialect] = stmt
    return stmt


_RESERVE: dict[str, object] = {}
