"""A page of the case list (newest first, by id) where no one index gives both the filter and
that order, on SQLite (two of them on PostgreSQL too, below): the ids of the page, found at a
cost that does not grow with every case ever received (issue 21, target 6). CaseRepository.list
reads the page's documents by these ids.

SQLite's planner keeps one figure per index (sqlite_stat1, no histograms here): it cannot tell a
deadline range that holds every finished case from one that holds a few, nor a rare state from a
common one, and it chose plans that read or sorted every case for such lists (bench/RESULTS.md,
"The growth curve to 3M"). The two reads here decide by what the database holds instead:

- `due_page`: a deadline before a time (`due_before`). Every finished case keeps its old
  deadline, so "before now + 2 days" holds nearly every case, and "before some day years ago"
  a few. Newest first, the page is read from windows of ids growing four times each, walking
  `(id + 0, due_at)` (ix_cases_id_due, 0028: the index alone, no case row) backwards; before each
  larger window the deadline index counts, up to that window's size, the deadlines before the
  time under it: when they are fewer, the rest of the page comes from that index's range,
  sorted. So a page costs about the lesser of the two reads: the cases newer than the page
  (a dense match: "before now + 2 days" walks past the cases whose deadline is still ahead,
  the running ones and the last weeks' finished ones) or the matches (a sparse one), whatever
  the planner would have guessed.
- `merged_page`: one of several values of an equality (`state=a,b`): each value's own
  range of its index, newest first (`(state)` holds the rowid: id order), cut at the page,
  and the few merged. Where one IN over the index would sort every case of those states, and
  SQLite walked every case in id order instead (plan `SCAN cases`), whatever their count.
  Also a place's prefix shorter than a county's code (`division=51`): the counties under it,
  found by skipping through `(county_code, id)` from one code to the next (`counties_under`,
  a step per county, none per case), each county's range in id order, merged. The prefix
  alone was a walk of every case, to its end when none matched.

On PostgreSQL `merged_page` serves the same two lists (`due_page` is SQLite's: PostgreSQL keeps a
histogram of deadlines). Its plan for a prefix no county has was a scan of every case (0.4-0.8 s
at 1M), and for the IN of states, unanalyzed (a guess of 5,000 cases a state), a walk of every
case when none matched (0.8 s at 1M). The counties come from the same loose scan (an index-only
scan of `(county_code, id)` a step); each arm is ordered by (value, id), which a county's range
of that index gives. `(state)` is not in id order there: each state's entries are counted first,
up to FEW, and a state of fewer is read whole and sorted, any other walked by id (bench/RESULTS.md,
"on PostgreSQL too").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, literal_column, select, text, union_all
from sqlalchemy.orm import Session

from hub.db.models import CaseRow, UTCDateTime, id_by_deadline

# The first window of ids walked, and how much larger each next one is.
FIRST_WINDOW = 1024
GROWTH = 4

_ID = CaseRow.__table__.c.id
# More arms than this and a merged page is not worth its statement (one arm per value): the
# caller walks instead. SQLite allows 500 arms to a compound.
MAX_ARMS = 64

# Unary + takes a term out of SQLite's index choice (it stays a filter): the walk reads the
# window by id, not the deadline index; the range reads the deadline index, not the ids.
_DUE_AS_FILTER = literal_column("+cases.due_at", type_=UTCDateTime)
_ID_AS_FILTER = literal_column("+cases.id", type_=Integer)

# A value with fewer cases than this (counted in its index) is read whole and sorted, by `id + 0`
# (not an order the primary key gives: PostgreSQL then walks no ids); its planner, unanalyzed,
# guessed 5,000 cases for a state with none and walked every case for the page.
FEW = 4096
_ID_SORTED = literal_column("cases.id + 0", type_=Integer)


def _limit(n: int) -> Any:
    # Inline (as the list's own LIMIT): SQLite plans for a known LIMIT.
    return bindparam("page_limit", n, type_=Integer, literal_execute=True, unique=True)


def due_page(session: Session, filtered: Select[Any], due_before: datetime, below: int | None, n: int) -> list[int]:
    """The ids, newest first, of up to `n` cases of `filtered` (a select of CaseRow.id with the
    list's other filters) with a deadline before `due_before` and an id below `below`."""
    top = (below - 1) if below is not None else session.execute(select(func.max(_ID))).scalar_one()
    found: list[int] = []
    window = FIRST_WINDOW
    # Alone, the walk reads ix_cases_id_due (its expression); beside other filters, the ids
    # themselves, so the planner may range the window in another filter's index (`(state)`).
    alone = filtered.whereclause is None
    walked = id_by_deadline() if alone else _ID
    while top is not None and top > 0 and len(found) < n:
        floor = max(top - window, 0)
        walk = filtered.where(_DUE_AS_FILTER < due_before, walked > floor, walked <= top).order_by(walked.desc()).limit(_limit(n - len(found)))
        found += session.execute(walk).scalars()
        top = floor
        if len(found) >= n or top <= 0:
            break
        window *= GROWTH
        # The deadlines before the time under the window, counted from the deadline index alone
        # (every case's, the other filters aside: all the range would read), up to what the next
        # window would walk (both an index's entries: ix_cases_id_due, ix_cases_due_at).
        bound = window
        under = select(_ID).where(CaseRow.due_at < due_before, _ID_AS_FILTER <= top)
        counted = select(func.count()).select_from(under.limit(bindparam("count_limit", bound, type_=Integer, literal_execute=True)).subquery())
        if session.execute(counted).scalar_one() < bound:
            # `+id` in the order too: else SQLite walks every case in id order to skip the sort.
            rest = filtered.where(CaseRow.due_at < due_before, _ID_AS_FILTER <= top) if alone else filtered.where(_ID.in_(under))
            found += session.execute(rest.order_by(_ID_AS_FILTER.desc()).limit(_limit(n - len(found)))).scalars()
            break
    return found


def _few(session: Session, column: ColumnElement[Any], value: Any) -> bool:
    """Whether fewer than FEW cases have `column` equal to `value` (its index's entries, counted
    no further than that)."""
    entries = select(column).where(column == value).limit(bindparam("few_limit", FEW, type_=Integer, literal_execute=True))
    return session.execute(select(func.count()).select_from(entries.subquery())).scalar_one() < FEW


def merged_page(
    session: Session,
    filtered: Select[Any],
    column: ColumnElement[Any],
    values: Sequence[Any],
    below: int | None,
    n: int,
    *,
    counted: bool = False,
) -> list[int]:
    """The ids, newest first, of up to `n` cases of `filtered` (a select of CaseRow.id) with
    `column` equal to one of `values` and an id below `below`: one range per value, merged.
    `counted`: `column`'s index is not in id order (PostgreSQL's `(state)`): a value of few cases
    is its index's entries sorted, any other the walk of the ids newest first (FEW)."""
    arms = []
    for value in dict.fromkeys(values):  # a value named twice is one arm (its cases once)
        arm = filtered.where(column == value)
        if below is not None:
            arm = arm.where(_ID < below)
        # In `column`'s own order first (the value is one): an index of (column, id) gives the
        # arm's order itself, where the walk of every id, filtered, would be a guess of how soon
        # the page comes (PostgreSQL guessed it without statistics and walked every case).
        order = [column.desc(), (_ID_SORTED if counted and _few(session, column, value) else _ID).desc()]
        # Each arm its own subquery: SQLite takes an ORDER BY and LIMIT per arm of a compound only so.
        cut = arm.order_by(*order).limit(_limit(n)).subquery()
        arms.append(select(cut.c.id))
    merged = union_all(*arms).subquery()
    return list(session.execute(select(merged.c.id).order_by(merged.c.id.desc()).limit(_limit(n))).scalars())


# A loose scan of ix_cases_county_id: from each county code under the prefix to the next one,
# one index search a step (`min` reads the first entry of the range). Bounded by a count of steps,
# not a LIMIT: PostgreSQL takes no LIMIT in a recursive query.
_COUNTIES_UNDER = text(
    """WITH RECURSIVE counties(code, step) AS (
        SELECT (SELECT min(county_code) FROM cases WHERE county_code >= :low AND county_code <= :high), 1
        UNION ALL
        SELECT (SELECT min(county_code) FROM cases WHERE county_code > counties.code AND county_code <= :high), counties.step + 1
        FROM counties WHERE counties.code IS NOT NULL AND counties.step < :most
    ) SELECT code FROM counties WHERE code IS NOT NULL"""
)


def counties_under(session: Session, prefix: str, digits: int, most: int) -> list[str]:
    """The county codes (`digits` digits each) of the stored cases that start with `prefix` (digits),
    in order, at most `most` (and one more, to tell there were more)."""
    # The codes of that width starting with the prefix are those from it padded with 0s to it
    # padded with 9s: strings of digits of one width sort the same in every collation (a prefix
    # followed by the highest character would not, on PostgreSQL's non-C collations).
    bounds = {"low": prefix.ljust(digits, "0"), "high": prefix.ljust(digits, "9"), "most": most + 2}
    return list(session.execute(_COUNTIES_UNDER, bounds).scalars())[: most + 1]
