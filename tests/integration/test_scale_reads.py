"""Reads that must not go through every case ever received (issue 21, target 6; the figures
are bench/scale.py's): the scheduler's pass and the 预警 list read the running cases through
their partial index and never an archived or closed case; a month's assessment finds its
cases through the history's time index; the case list's cursor pages give every case once.
Plans are behaviour here: which index answers a query decides whether it costs the running
cases or all of them, however fast a small test database answers either way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from hub.db.models import RUNNING_STATE_VALUES, CaseRow, HistoryRow, running_cases_clause
from hub.db.repository import CaseQuery
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.lifecycle import RUNNING_STATES
from hub.domain.model import CaseDraft, Role
from supervision.queries import running_cases
from supervision.scheduler import Scheduler
from tests.support.factories import draft
from tests.support.planner import sent, with_fill_statistics

AGENT = Actor("centre-agent", Role.AGENT)
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")

DISPATCH = [(c.Accept(), AGENT), (c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)]
SIGNED = [*DISPATCH, (c.SignOff(), UNIT)]
CLOSED = [
    *SIGNED,
    (c.ReplyCmd(text="已处理"), UNIT),
    (c.ReviewReply(approved=True), AGENT),
    (c.FollowUpCmd(reached=True, resolved=True, satisfaction="satisfied"), AGENT),
]
ARCHIVED = [*CLOSED, (c.Archive(), SUPERVISOR)]


def walked(hub, steps) -> str:
    number = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
    for command, actor in steps:
        hub.cases.act(number, command, actor)
    return number


def plan(hub, stmt) -> str:
    """The database's plan for `stmt`, as text (literal values inlined, as the driver sends them)."""
    sql = str(stmt.compile(hub.db.writer, compile_kwargs={"literal_binds": True}))
    with hub.db.writer.connect() as conn:
        if hub.db.is_sqlite:
            return " ; ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        # A test table is small enough for a sequential scan to win: ask whether an index can answer.
        conn.exec_driver_sql("SET enable_seqscan = off")
        return " ; ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))


def test_the_index_literals_are_the_running_states() -> None:
    assert RUNNING_STATE_VALUES == tuple(s.value for s in RUNNING_STATES)


def test_the_scheduler_pass_reads_running_cases_only(hub, clock) -> None:
    running = [walked(hub, DISPATCH), walked(hub, SIGNED)]
    finished = [walked(hub, CLOSED), walked(hub, ARCHIVED), walked(hub, [(c.Reject(reason_code="litigation", reason="已诉讼"), AGENT)])]
    accepted = walked(hub, [(c.Accept(), AGENT)])

    read = [case.number for cases, _ in running_cases(hub.db, page=1) for case in cases]
    assert read == running  # in id order, one page at a time, nothing else

    # Two months on every time limit has passed: only the running cases are marked overdue.
    clock.set(clock.now() + timedelta(days=60))
    result = Scheduler(hub, holder="only").run_once()
    assert {n.split(":")[0] for n in result.overdue} == set(running)
    for number in [*finished, accepted]:
        assert [h.action for h in hub.cases.history(number, AGENT) if h.action in ("warn", "mark_overdue", "supervise")] == []


def explain(hub, statement: str, parameters: object) -> str:
    with hub.db.writer.connect() as conn:
        if hub.db.is_sqlite:
            return " ; ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
        conn.exec_driver_sql("SET enable_seqscan = off")  # a test table is small: ask whether an index can answer
        return " ; ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def test_running_reads_go_through_the_partial_index(hub, clock) -> None:
    walked(hub, SIGNED)
    walked(hub, ARCHIVED)
    reads = {
        "scheduler": lambda: [None for _ in running_cases(hub.db)],
        "warning list": lambda: hub.cases.list(CaseQuery(warning=True), AGENT),
        "running states": lambda: hub.cases.list(CaseQuery(state=["in_progress", "return_requested"]), AGENT),
    }
    for analysed in (False, True):
        if analysed:  # with statistics (a state holds a share of all cases), as a long-lived database has
            with hub.db.writer.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        for name, read in reads.items():
            statements = sent(hub, read)
            assert statements, name
            for statement, parameters in statements:
                found = explain(hub, statement, parameters)
                # Through an index that holds the state (the running cases' own, or per state), never
                # every case in id order (SQLite: SCAN / the primary key; PostgreSQL: the primary key).
                assert "ix_cases_running" in found or "ix_cases_state" in found, (name, analysed, found)
                for step in found.split(" ; "):
                    assert step != "SCAN cases" and "PRIMARY KEY" not in step and "cases_pkey" not in step, (name, analysed, found)


def test_the_warning_list_reads_running_cases_only(hub, clock) -> None:
    running = walked(hub, DISPATCH)
    walked(hub, ARCHIVED)
    clock.set(clock.now() + timedelta(days=60))
    cases, _ = hub.cases.list(CaseQuery(warning=True), AGENT)
    assert [x.number for x in cases] == [running]
    both = hub.cases.list(CaseQuery(state=["in_progress", "awaiting_sign_off"]), AGENT)[0]
    assert [x.number for x in both] == [running]


def test_an_assessment_finds_its_cases_through_the_history_time_index(hub, clock) -> None:
    walked(hub, SIGNED)
    since, until = clock.now() - timedelta(days=1), clock.now() + timedelta(days=1)
    # The cases with a line in the period (supervision.queries.assessment_lines' subquery).
    active = select(HistoryRow.case_id).where(HistoryRow.at >= since, HistoryRow.at < until).distinct()
    if hub.db.is_sqlite:
        assert "ix_case_history_at" in plan(hub, active)
    else:  # the planner weighs a tiny table its own way (it may walk the primary key): the index is there to use
        with hub.db.writer.connect() as conn:
            defined = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_case_history_at'").scalar_one()
        assert defined.endswith("(at)")


def test_cursor_pages_give_every_case_once_with_ties(hub, clock) -> None:
    # Seven cases received and created at the same instant (ties on every time), in several states.
    numbers = [walked(hub, steps) for steps in ([], DISPATCH, SIGNED, [], DISPATCH, ARCHIVED, [])]
    day_before = clock.now() - timedelta(days=1)
    queries = (CaseQuery(limit=3), CaseQuery(limit=2, state=["awaiting_sign_off", "in_progress"]), CaseQuery(limit=1, received_from=day_before))
    for query in queries:
        seen, cursor = [], None
        while True:
            page, cursor = hub.cases.list(CaseQuery(**{**query.__dict__, "cursor": cursor}), AGENT)
            seen += [x.number for x in page]
            if cursor is None:
                break
        expected = [n for n in reversed(numbers) if not query.state or hub.cases.get(n, AGENT).state.value in query.state]
        assert seen == expected  # newest first, each once, none left out


def test_the_running_index_holds_only_running_cases(hub) -> None:
    """What the partial index answers is exactly the running cases (a check of its WHERE)."""
    running = walked(hub, SIGNED)
    walked(hub, ARCHIVED)
    with hub.db.read() as s:
        numbers = list(s.execute(select(CaseRow.number).where(running_cases_clause())).scalars())
        assert s.execute(text("SELECT count(*) FROM cases")).scalar_one() == 2
    assert numbers == [running]


def test_the_overdue_list_is_the_flagged_and_the_late_running_cases(hub, clock) -> None:
    flagged = walked(hub, DISPATCH)
    clock.set(clock.now() + timedelta(days=60))
    Scheduler(hub, holder="only").run_once()  # flags it overdue
    late = walked(hub, DISPATCH)  # dispatched now: not yet late
    walked(hub, ARCHIVED)
    assert [x.number for x in hub.cases.list(CaseQuery(overdue=True), AGENT)[0]] == [flagged]
    clock.set(clock.now() + timedelta(days=60))  # `late` is past its deadline, not yet flagged by a pass
    overdue = [x.number for x in hub.cases.list(CaseQuery(overdue=True), AGENT)[0]]
    assert overdue == [late, flagged]  # newest first
    rest = [x.number for x in hub.cases.list(CaseQuery(overdue=False), AGENT)[0]]
    assert set(rest).isdisjoint(overdue) and len(rest) == 1


def test_the_overdue_list_reads_the_flagged_and_the_running_cases_only(hub) -> None:
    walked(hub, SIGNED)
    walked(hub, ARCHIVED)
    if not hub.db.is_sqlite:
        statements = sent(hub, lambda: hub.cases.list(CaseQuery(overdue=True), AGENT))
        assert statements
        for statement, parameters in statements:
            found = explain(hub, statement, parameters)  # seqscan off: which indexes can answer it
            assert "BitmapOr" in found and "ix_cases_overdue_flag" in found and "ix_cases_running_due" in found, found
        return
    # The statistics of a long-lived database (a million cases, a few thousand running, every
    # finished case with its old deadline; none flagged when ANALYZE ran, so no row for the
    # flag's index), not of this test's two cases. With them the planner took the whole
    # deadline index before 0027.
    with_fill_statistics(hub)
    statements = sent(hub, lambda: hub.cases.list(CaseQuery(overdue=True), AGENT))
    assert statements
    for statement, parameters in statements:
        found = explain(hub, statement, parameters)
        # Each side of the OR through its partial index: the flagged cases' for the flag, the
        # running cases' deadlines for the rest (0027: before it the planner took the whole
        # deadline index's range, every finished case past its old deadline); never every case.
        assert "MULTI-INDEX OR" in found and "ix_cases_overdue_flag" in found, found
        assert "ix_cases_running_deadline" in found and "ix_cases_due_at" not in found, found
        assert "SCAN cases" not in found.split(" ; "), found


def test_channel_and_category_pages_are_ranges_of_their_index(hub) -> None:
    walked(hub, ARCHIVED)
    with hub.db.writer.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    for query, index in ((CaseQuery(channel="phone", cursor=None), "ix_cases_channel_id"), (CaseQuery(category="0101"), "ix_cases_category_id")):
        statements = sent(hub, lambda q=query: hub.cases.list(q, AGENT))
        for statement, parameters in statements:
            found = explain(hub, statement, parameters)
            assert index in found, found
            assert "TEMP B-TREE" not in found and "Sort" not in found, found  # in id order from the index, no sort


def test_a_text_search_goes_through_the_trigram_index(hub) -> None:
    number = walked(hub, [])
    title = hub.cases.get(number, AGENT).title
    found = hub.cases.list(CaseQuery(text=title[1:4]), AGENT)[0]
    assert [x.number for x in found] == [number]
    assert hub.cases.list(CaseQuery(text="不在库中的词"), AGENT)[0] == []
    statements = sent(hub, lambda: hub.cases.list(CaseQuery(text="不在库中的词"), AGENT))
    assert statements
    plans = []
    for statement, parameters in statements:
        with hub.db.writer.connect() as conn:
            if hub.db.is_sqlite:
                # The trigram table (0025) answers the MATCH, and the cases are read by id from it.
                plans.append(" ; ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)))
                continue
            # A test table is tiny: no whole-table scan nor a walk of the primary key, so ask
            # whether an index can answer the LIKE at all.
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_indexscan = off")
            plans.append(" ; ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters)))
    if hub.db.is_sqlite:
        assert any("cases_fts VIRTUAL TABLE" in p for p in plans), plans
        for p in plans:
            assert "SCAN cases" not in p.split(" ; ") and "TEMP B-TREE" not in p, p  # no case read but the index's, no sort
    else:
        assert any("Bitmap Index Scan on ix_cases_search_trgm" in p for p in plans), plans


def registered(hub, title: str, content: str, **changes) -> str:
    return hub.cases.register(CaseDraft.model_validate(draft(title=title, content=content, **changes)), AGENT).case.number


def found(hub, needle: str, **more) -> list[str]:
    """Every case `q=needle` lists, newest first, through the cursor, two to a page."""
    seen, cursor = [], None
    while True:
        page, cursor = hub.cases.list(CaseQuery(text=needle, limit=2, cursor=cursor, **more), AGENT)
        seen += [x.number for x in page]
        if cursor is None:
            return seen


def test_text_search_is_a_substring_of_title_or_content_as_written(hub) -> None:
    noise = registered(hub, "小区噪音扰民", "夜间施工噪音持续到凌晨")
    water = registered(hub, "道路积水", "雨后积水严重，行人无法通过")
    sale = registered(hub, "商场促销", "标价50%折扣，实收500元")
    price = registered(hub, "价格欺诈", "原价500元")
    mixed = registered(hub, "噪音又起", "工地夜间施工噪音扰民")
    assert found(hub, "噪音扰民") == [mixed, noise]  # four characters: the trigram index, newest first
    assert found(hub, "夜间施工噪音") == [mixed, noise]
    assert found(hub, "积水严") == [water]  # in the content only
    assert found(hub, "噪音") == [mixed, noise]  # two characters: a LIKE (the trigram index cannot serve it)
    assert found(hub, "水") == [water]
    assert found(hub, "50%") == [sale]  # the % is a character here, not a wildcard
    assert found(hub, "0%折") == [sale]
    assert found(hub, "500元") == [price, sale]
    assert found(hub, "5_0") == []  # nor is _ one
    assert found(hub, '"噪音') == []  # a quote is a character too (the MATCH phrase is quoted)
    assert found(hub, "扰民，") == []  # substrings that are in no case
    assert found(hub, "民 夜间") == []
    hub.cases.act(noise, c.Accept(), AGENT)
    assert found(hub, "噪音扰民", state=["accepted"]) == [noise]  # beside another filter
    assert found(hub, "夜间施工", state=["registered"]) == [mixed]


def test_text_search_follows_a_corrected_text(hub) -> None:
    number = registered(hub, "小区噪音扰民", "夜间施工噪音持续到凌晨")
    other = registered(hub, "道路积水", "雨后积水严重")
    hub.cases.act(number, c.Correct(title="广场舞音响扰民", content="每晚广场舞音响声音过大"), AGENT)
    assert found(hub, "噪音扰民") == []
    assert found(hub, "施工噪音") == []
    assert found(hub, "广场舞音响") == [number]
    assert found(hub, "积水严重") == [other]
    if hub.db.is_sqlite:
        with hub.db.writer.begin() as conn:
            # The index against the cases' text, row by row (FTS5 compares them with rank 1).
            conn.exec_driver_sql("INSERT INTO cases_fts (cases_fts, rank) VALUES ('integrity-check', 1)")
            conn.exec_driver_sql("DELETE FROM cases WHERE number = ?", (other,))
            conn.exec_driver_sql("INSERT INTO cases_fts (cases_fts, rank) VALUES ('integrity-check', 1)")
        assert found(hub, "积水严重") == []


def test_division_lists_are_the_prefix_and_ranges_of_their_index(hub) -> None:
    codes = ["512002001", "512002002", "512021001", "512002001007", "512002", "512021"]
    numbers = {code: registered(hub, "小区噪音扰民", "夜间施工", **{"place.division_code": code}) for code in codes}

    def listed(prefix: str) -> list[str]:
        return [x.number for x in hub.cases.list(CaseQuery(division=prefix), AGENT)[0]]

    newest_first = list(reversed(codes))
    assert listed("512002") == [numbers[c] for c in newest_first if c.startswith("512002")]
    assert listed("512002001") == [numbers["512002001007"], numbers["512002001"]]
    assert listed("5120020") == [numbers[c] for c in newest_first if c.startswith("5120020")]
    assert listed("5120020010") == [numbers["512002001007"]]
    assert listed("512002001007") == [numbers["512002001007"]]
    assert listed("512021") == [numbers["512021"], numbers["512021001"]]
    assert listed("5120") == [numbers[c] for c in newest_first]
    assert listed("512003") == []
    if not hub.db.is_sqlite:
        # The planner walks the primary key of a six-case table whatever indexes there are (the
        # plans at 200,000 cases are in bench/RESULTS.md): the indexes are there, on what the query names.
        with hub.db.writer.connect() as conn:
            defined = dict(
                conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ('ix_cases_county_id', 'ix_cases_township_id')").all()
            )
        assert defined["ix_cases_county_id"].endswith("(county_code, id)"), defined
        assert defined["ix_cases_township_id"].endswith("(substr((division_code)::text, 1, 9), id)"), defined
        return
    with hub.db.writer.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    for prefix, index in (("512002", "ix_cases_county_id"), ("512002001", "ix_cases_township_id"), ("512002001007", "ix_cases_township_id")):
        statements = sent(hub, lambda p=prefix: hub.cases.list(CaseQuery(division=p), AGENT))
        assert statements
        for statement, parameters in statements:
            plan_text = explain(hub, statement, parameters)
            assert index in plan_text, (prefix, plan_text)
            assert "TEMP B-TREE" not in plan_text, (prefix, plan_text)  # in id order from the index, no sort


def test_a_received_range_sorts_ids_not_documents(hub, clock) -> None:
    for _ in range(3):
        walked(hub, [])
    since = clock.now() - timedelta(days=1)
    with hub.db.writer.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    query = CaseQuery(received_from=since, received_to=since + timedelta(days=31), limit=2)
    statements = sent(hub, lambda: hub.cases.list(query, AGENT))
    assert statements
    for statement, parameters in statements:
        plan_text = explain(hub, statement, parameters)
        if hub.db.is_sqlite:
            # The page's ids from the time's index alone; the documents read for those ids only.
            assert "COVERING INDEX ix_cases_received_id" in plan_text, plan_text
