"""Case numbers: the region code, the local day the case was received and a per-day sequence
(`<region><yyyymmdd><nnnnnn>`), counted in the case_number_seq table by an upsert, so two
processes never hand out the same number (hub/db/counters.py). The repository's next_number / reserve_numbers."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.orm import Session

from hub.db.counters import UpsertCounter
from hub.db.models import CaseNumberSeqRow
from hub.domain.clock import LOCAL_TZ


def next_number(session: Session, region_code: str, now: datetime) -> str:
    day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    return f"{region_code}{day}{_DAYS.add(session, day=day):06d}"


def reserve_numbers(session: Session, region_code: str, received: list[datetime]) -> list[str]:
    """Numbers for many cases at once (the batch variant of next_number): region + the day
    each case was received + sequence; one upsert per distinct day reserves a block."""
    days = [r.astimezone(LOCAL_TZ).strftime("%Y%m%d") for r in received]
    next_free: dict[str, int] = {}
    for day, k in Counter(days).items():
        next_free[day] = _DAYS.add(session, k, day=day) - k + 1
    out = []
    for day in days:
        out.append(f"{region_code}{day}{next_free[day]:06d}")
        next_free[day] += 1
    return out


_DAYS = UpsertCounter(CaseNumberSeqRow, ["day"])  # the last number given per local day
