"""Case lists whose filter no single index gives in the list's order (newest first): a deadline
before a time (`due_before`), several states at once. Each returns exactly the cases the filter
names, newest first, each once through the cursor (stated here from the cases' own documents),
and on SQLite reads them through plans that do not read or sort every case ever received
(hub/db/case_pages.py; the figures at 200k and 3M are bench/RESULTS.md's). Several states and a
short place prefix are merged ranges on PostgreSQL too: checked here by the statements sent (its
plans depend on a real fill's statistics: bench/case_pages_pg.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hub.db import case_pages
from hub.db.repository import CaseQuery
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from tests.support.factories import draft
from tests.support.planner import sent, with_fill_statistics

AGENT = Actor("centre-agent", Role.AGENT)
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")

DISPATCH = [(c.Accept(), AGENT), (c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)]
REPLIED = [*DISPATCH, (c.SignOff(), UNIT), (c.ReplyCmd(text="已处理"), UNIT)]
CLOSED = [*REPLIED, (c.ReviewReply(approved=True), AGENT), (c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT)]
ARCHIVED = [*CLOSED, (c.Archive(), SUPERVISOR)]
REJECTED = [(c.Reject(reason_code="litigation", reason="已诉讼"), AGENT)]
# A fill's shape, oldest first: finished cases (their deadlines kept), some never given one
# (registered, rejected), a few still running, the newest just in (no deadline yet).
SHAPE = [ARCHIVED, CLOSED, REJECTED, ARCHIVED, ARCHIVED, REPLIED, CLOSED, ARCHIVED, DISPATCH, [], DISPATCH, REPLIED, []]


def walked(hub, steps) -> str:
    number = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
    for command, actor in steps:
        hub.cases.act(number, command, actor)
    return number


def filled(hub, clock) -> list[str]:
    """The SHAPE's cases, oldest first, each received and handled five days after the one before."""
    numbers = []
    for steps in SHAPE:
        numbers.append(walked(hub, steps))
        clock.set(clock.now() + timedelta(days=5))
    return numbers


def listed(hub, query: CaseQuery) -> list[str]:
    """Every case the list gives, page after page through the cursor."""
    seen, cursor = [], None
    while True:
        page, cursor = hub.cases.list(CaseQuery(**{**query.__dict__, "cursor": cursor}), AGENT)
        seen += [x.number for x in page]
        if cursor is None:
            return seen


@pytest.fixture
def small_windows(monkeypatch) -> None:
    # Windows of one id, then two, four...: with a dozen cases every step of the read is taken
    # (the walk, the count, the range), as at a million cases with the shipped sizes.
    monkeypatch.setattr(case_pages, "FIRST_WINDOW", 1)
    monkeypatch.setattr(case_pages, "GROWTH", 2)


def test_due_before_lists_every_case_with_an_earlier_deadline_newest_first(hub, clock, small_windows) -> None:
    numbers = filled(hub, clock)
    deadline: dict[str, datetime | None] = {n: hub.cases.get(n, AGENT).handling.due_at for n in numbers}
    dated = sorted(d for d in deadline.values() if d is not None)
    assert len(dated) == 10 and all(deadline[n] is None for n in (numbers[2], numbers[9], numbers[12]))
    # Before every deadline, between each two, after them all (every case with one: finished or running).
    moments = [dated[0] - timedelta(days=1), *(d + timedelta(seconds=1) for d in dated), dated[-1] + timedelta(days=30)]
    for moment in moments:
        expected = [n for n in reversed(numbers) if deadline[n] is not None and deadline[n] < moment]
        for limit in (1, 2, 50):
            assert listed(hub, CaseQuery(due_before=moment, limit=limit)) == expected, (moment, limit)
        archived = [n for n in expected if hub.cases.get(n, AGENT).state.value == "archived"]
        assert listed(hub, CaseQuery(due_before=moment, state=["archived"], limit=2)) == archived, moment
    assert listed(hub, CaseQuery(due_before=dated[-1] + timedelta(days=30), state=["closed", "replied"], limit=2)) == [
        n for n in reversed(numbers) if hub.cases.get(n, AGENT).state.value in ("closed", "replied") and deadline[n] is not None
    ]


@pytest.mark.parametrize("few", [case_pages.FEW, 2])
def test_several_states_list_each_case_of_them_once_newest_first(hub, clock, monkeypatch, few) -> None:
    # PostgreSQL: every state of the dozen is "few" at the shipped bound (its cases sorted); at 2
    # the common ones are walked by id, as at a million cases.
    monkeypatch.setattr(case_pages, "FEW", few)
    numbers = filled(hub, clock)
    state = {n: hub.cases.get(n, AGENT).state.value for n in numbers}
    for states in (
        ["replied", "registered"],
        ["archived", "rejected", "closed"],
        ["redo_required", "returned"],
        ["closed", "awaiting_sign_off"],
        ["archived", "archived", "replied"],
    ):
        expected = [n for n in reversed(numbers) if state[n] in states]
        for limit in (1, 2, 50):
            assert listed(hub, CaseQuery(state=states, limit=limit)) == expected, (states, limit)


def plans(hub, read) -> list[str]:
    with hub.db.writer.connect() as conn:
        return [" ; ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p)) for s, p in sent(hub, read)]


def test_due_before_walks_the_deadlines_by_id_or_ranges_the_few(hub, clock, small_windows) -> None:
    numbers = filled(hub, clock)
    if not hub.db.is_sqlite:
        return  # PostgreSQL plans `due_before` from its histogram of deadlines (a walk of the primary key when they are dense)
    with_fill_statistics(hub)
    last = max(d for n in numbers if (d := hub.cases.get(n, AGENT).handling.due_at) is not None)
    for moment in (last + timedelta(days=1), last - timedelta(days=60)):
        found = plans(hub, lambda m=moment: hub.cases.list(CaseQuery(due_before=m, limit=2), AGENT))
        # Walked newest first in windows of `(id + 0, due_at)` alone; counted and ranged on the
        # deadline index; the page's documents read by id. Never every case in id order (SCAN
        # cases: what the planner chose for the range with `+id`), never the cases' rows to walk.
        assert any("COVERING INDEX ix_cases_id_due (<expr>>? AND <expr><?)" in p for p in found), found
        for p in found:
            assert "SCAN cases" not in p.split(" ; "), found
            # (`SEARCH cases`: the newest id, the table's last rowid.)
            assert "ix_cases_id_due" in p or "ix_cases_due_at" in p or p in ("SEARCH cases", "SEARCH cases USING INTEGER PRIMARY KEY (rowid=?)"), found
    # The sparse time (two months before the newest deadline) reaches the range of the deadline index.
    assert any("COVERING INDEX ix_cases_due_at (due_at<?) ; USE TEMP B-TREE FOR ORDER BY" in p for p in found), found


def test_running_deadlines_stay_on_their_own_index(hub, clock) -> None:
    walked(hub, DISPATCH)
    walked(hub, ARCHIVED)
    if not hub.db.is_sqlite:
        return  # SQLite's plan; PostgreSQL's overdue side has its expression index (test_scale_reads)
    with_fill_statistics(hub)
    # The console's 三日内到期 (hub console.pages.HANDLER_QUEUES): running states, not overdue, due soon.
    queue = CaseQuery(state=["awaiting_sign_off", "in_progress", "return_requested"], overdue=False, due_before=clock.now() + timedelta(days=3))
    found = plans(hub, lambda: hub.cases.list(queue, AGENT))
    assert len(found) == 1 and "ix_cases_running_deadline" in found[0], found


def test_several_states_are_merged_ranges_of_the_state_index(hub, clock) -> None:
    filled(hub, clock)
    # On both databases: one statement of a range per state, cut at the page and merged (on
    # PostgreSQL too, whose plan for the IN walked every case when none matched, at 1M, unanalyzed;
    # there each state's cases are counted first, up to case_pages.FEW), then the page's documents by id.
    for states in (["replied", "awaiting_follow_up"], ["redo_required", "returned", "rejected"]):
        statements = [s for s, _ in sent(hub, lambda s=states: hub.cases.list(CaseQuery(state=s), AGENT))]
        merged = [s for s in statements if "UNION ALL" in s]
        assert len(merged) == 1 and merged[0].count("UNION ALL") == len(states) - 1 and " IN " not in merged[0], statements
        counts = [s for s in statements if s.startswith("SELECT count(*)")]
        assert len(counts) == (0 if hub.db.is_sqlite else len(states)), statements
    if not hub.db.is_sqlite:
        return  # SQLite's plan under a fill's statistics; PostgreSQL's plans of the arms need a real fill (bench/case_pages_pg.py)
    with_fill_statistics(hub)
    for states in (["replied", "awaiting_follow_up"], ["redo_required", "returned"], ["archived", "rejected"]):
        found = plans(hub, lambda s=states: hub.cases.list(CaseQuery(state=s), AGENT))
        merged = found[0].split(" ; ")
        # One range of ix_cases_state per state, each cut at the page, merged; never the walk of
        # every case in id order that SQLite chose for the IN (SCAN cases: all of them when
        # fewer than a page match).
        assert "MERGE (UNION ALL)" in merged and merged.count("SEARCH cases USING COVERING INDEX ix_cases_state (state=?)") == 2, found
        for p in found:
            assert "SCAN cases" not in p.split(" ; "), found


def test_a_short_place_prefix_lists_the_cases_of_its_counties(hub) -> None:
    codes = ["512002001", "512021001", "512002002", "512002001007", "512002", "512021", "512071001"]
    numbers = [hub.cases.register(CaseDraft.model_validate(draft(**{"place.division_code": code})), AGENT).case.number for code in codes]
    for prefix in ("51", "512", "5120", "51202", "51200", "51207", "5121", "44", "512003"):
        expected = [n for n, code in zip(reversed(numbers), reversed(codes), strict=True) if code.startswith(prefix)]
        for limit in (1, 2, 50):
            assert listed(hub, CaseQuery(division=prefix, limit=limit)) == expected, (prefix, limit)
    # On both databases: the counties under the prefix first (the loose scan); none, and no case
    # is read at all (PostgreSQL's plan for the prefix alone read every case to find none).
    for prefix, arms in (("44", 0), ("51", 3), ("51202", 1)):
        statements = [s for s, _ in sent(hub, lambda p=prefix: hub.cases.list(CaseQuery(division=p), AGENT))]
        assert statements[0].lstrip().startswith("WITH RECURSIVE counties"), statements
        if not arms:
            assert len(statements) == 1, statements
        else:
            assert statements[1].count("UNION ALL") == arms - 1, statements
    if not hub.db.is_sqlite:
        return  # SQLite's plan under a fill's statistics; PostgreSQL's plans need a real fill (bench/case_pages_pg.py)
    with_fill_statistics(hub)
    with hub.db.writer.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('cases', 'ix_cases_county_id', '1000000 40000 1')")
        conn.exec_driver_sql("ANALYZE sqlite_schema")
    for prefix in ("51", "5120", "44"):
        found = plans(hub, lambda p=prefix: hub.cases.list(CaseQuery(division=p), AGENT))
        # The counties under the prefix, skipped to one after another in `(county_code, id)`;
        # each county's range of it in id order, merged. Never the walk of every case (SCAN
        # cases), to the end when no place starts with the prefix.
        assert "ix_cases_county_id (county_code>? AND county_code<?)" in found[0], found
        for p in found:
            assert "SCAN cases" not in p.split(" ; "), found
        if prefix != "44":
            assert "MERGE (UNION ALL)" in found[1] and "ix_cases_county_id (county_code=?)" in found[1], found
