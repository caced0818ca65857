"""The console's part 2 on a real database, through the in-process app: the supervision board
and the assessment, the outbox pages, the knowledge pages and the intake's suggestions, the
requests to decide, and repeat calls on the case page. Who may open which page at all is the
console matrix (test_console_matrix.py); here, what the pages show and do."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from tests.support.console import PASSWORD, Person, console_app, dispatched, fast_accounts, published_and_draft
from tests.support.factories import draft

AGENT = Actor("api-agent", Role.AGENT)
SUPERVISOR = Actor("api-supervisor", Role.SUPERVISOR)
SYSTEM = Actor("hub", Role.SYSTEM)
SCJ = Actor("scj-key", Role.UNIT, unit_code="ZY-SCJGJ")
RSJ = Actor("rsj-key", Role.UNIT, unit_code="ZY-RSJ")


@pytest.fixture
def app(hub):
    return console_app(hub)


def _rows(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table class="cases {table}">(.*?)</table>', html, re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>")[1], re.S)
    ]


# -- the supervision board -------------------------------------------------------------------------
def test_the_board_counts_warned_overdue_and_supervised_per_unit_and_a_unit_sees_its_own(hub, app) -> None:
    a, b, _ = dispatched(hub), dispatched(hub), dispatched(hub)
    other = dispatched(hub, "ZY-RSJ")
    hub.clock.advance(timedelta(days=24))  # past the warning share of the completion limit, not the limit
    hub.cases.act(a, c.Warn(deadline="completion"), SYSTEM)
    hub.cases.act(b, c.Warn(deadline="completion"), SYSTEM)
    hub.clock.advance(timedelta(days=6))  # past the limit
    hub.cases.act(a, c.MarkOverdue(deadline="completion"), SYSTEM)
    hub.cases.act(b, c.Supervise(reason="群众反映强烈"), SUPERVISOR)
    hub.cases.act(other, c.Supervise(reason="多次来电"), SUPERVISOR)

    page = Person(app).sign_in("zhao", PASSWORD).get("/console/supervision")
    assert page.status_code == 200
    rows = {r[0]: r[1:] for r in _rows(page.text, "board")}
    scj = next(k for k in rows if "ZY-SCJGJ" in k)
    rsj = next(k for k in rows if "ZY-RSJ" in k)
    # running, warned, overdue, supervised
    assert rows[scj] == ["3", "2", "1", "1"] and rows[rsj] == ["1", "0", "0", "1"]
    assert list(rows)[0] == scj  # the unit with overdue cases first
    supervised = [r[0] for r in _rows(page.text, "supervised")]
    assert {s.split()[0] for s in supervised} == {b, other}

    clerk = Person(app).sign_in("rsj", PASSWORD).get("/console/supervision")
    rows = {r[0]: r[1:] for r in _rows(clerk.text, "board")}
    assert list(rows) == [next(k for k in rows if "ZY-RSJ" in k)] and a not in clerk.text and b not in clerk.text


# -- the assessment --------------------------------------------------------------------------------
def test_the_assessment_shows_the_rates_as_svg_bars_and_the_cases_behind_them(hub, app) -> None:
    number = dispatched(hub)  # signed off at once: 签收率 1/1 for ZY-SCJGJ
    period = hub.clock.now().strftime("%Y-%m")
    page = Person(app).sign_in("zhao", PASSWORD).get("/console/assessment", params={"period": period})
    assert page.status_code == 200
    rows = {r[0]: r[1] for r in _rows(page.text, "figures")}
    assert rows["合计"] == "100.0% 1/1" and next(v for k, v in rows.items() if "ZY-SCJGJ" in k) == "100.0% 1/1"
    svgs = re.findall(r"<svg class=\"chart\".*?</svg>", page.text, re.S)
    assert len(svgs) >= 5 and not re.search(r"<script", page.text.split("<main>")[1])
    sign_off = next(s for s in svgs if 'aria-label="签收率"' in s)
    assert 'class="bar"' in sign_off and 'width="360"' in sign_off  # a full bar for 100 %
    assert f'href="/console/cases/{number}"' in page.text  # the case behind the figure
    assert "近 6 个月" in page.text  # a month: the rates over the months before it


def test_the_assessment_ranks_the_units_by_their_three_rates_for_the_centre(hub, app) -> None:
    """#20's 三率排名 at the console. By hand: both cases dispatched Fri 2025-09-26 10:00 are due
    to be signed Sun Sep 28 (a make-up working day); ZY-SCJGJ signed at once (签收率 1/1),
    ZY-RSJ never (0/1); nothing was due to close or followed up, so those rates have no value.
    Scores: 100.0 and 0.0, ranks 1 and 2. A unit sees only its own figures: no ranking."""
    dispatched(hub)
    dispatched(hub, "ZY-RSJ", signed=False)
    hub.clock.advance(timedelta(days=4))  # Tue Sep 30
    page = Person(app).sign_in("zhao", PASSWORD).get("/console/assessment", params={"period": "2025-09"}).text
    rows = _rows(page, "ranking")
    assert [(r[0], r[1].endswith("（ZY-SCJGJ）") or r[1].endswith("（ZY-RSJ）"), r[2], r[3], r[4], r[5]) for r in rows] == [
        ("1", True, "100.0", "100.0% 1/1", "— 0/0", "— 0/0"),
        ("2", True, "0.0", "0.0% 0/1", "— 0/0", "— 0/0"),
    ]
    assert "ZY-SCJGJ" in rows[0][1] and "ZY-RSJ" in rows[1][1]
    unit_page = Person(app).sign_in("scj", PASSWORD).get("/console/assessment", params={"period": "2025-09"}).text
    assert 'id="ranking"' not in unit_page


def test_the_assessment_xlsx_is_the_apis_file_in_the_persons_scope(hub, app) -> None:
    dispatched(hub)
    dispatched(hub, "ZY-RSJ")
    period = hub.clock.now().strftime("%Y-%m")
    clerk = Person(app).sign_in("scj", PASSWORD)
    resp = clerk.get("/console/assessment/export", params={"period": period})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(resp.content))["assessment"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("期间", "范围", "单位") and "签收率" in values[0]
    # A unit's file holds its own figures only, whatever it asks for.
    assert [r[2] for r in values[2:]] == ["ZY-SCJGJ"]
    refused = clerk.get("/console/assessment/export", params={"period": period, "unit": "ZY-RSJ"})
    assert refused.status_code == 403 and "无权" in refused.text
    bad = clerk.get("/console/assessment", params={"period": "2026-13"})
    assert bad.status_code == 422 and "考核期间" in bad.text


# -- the outbox ------------------------------------------------------------------------------------
def _dead_letter(hub, number: str | None, n: int = 1) -> int:
    from outbox.tables import DEAD, OutboxMessageRow

    now = hub.clock.now()
    with hub.db.write() as s:
        row = OutboxMessageRow(
            destination="county-yj",
            ordering_key=number or "none",
            sequence=n,
            idempotency_key=f"test-{number}-{n}",
            event_type="case.dispatched",
            case_number=number,
            body={},
            status=DEAD,
            attempts=6,
            available_at=now,
            created_at=now,
            last_error="gave up after 6 attempts: 503 Service Unavailable",
        )
        s.add(row)
        s.flush()
        return row.id


def test_the_outbox_page_shows_dead_letters_and_the_workbench_tiles_count_them(hub, app) -> None:
    number = dispatched(hub)
    _dead_letter(hub, number)
    sup = Person(app).sign_in("zhao", PASSWORD)
    page = sup.get("/console/outbox")
    assert page.status_code == 200 and "503 Service Unavailable" in page.text and number in page.text
    destinations = {r[0].split()[0]: r for r in _rows(page.text, "destinations")}
    assert destinations["county-yj"][3] == "1"  # one dead letter
    tiles = sup.get("/console/").text
    assert re.search(r'id="tile-dead"><span class="n">1</span>', tiles)
    assert 'id="tile-dead"' not in Person(app).sign_in("wang", PASSWORD).get("/console/").text  # agents: no outbox


def test_skip_needs_a_reason_and_is_written_into_the_case_history_with_who(hub, app) -> None:
    from outbox.tables import DEAD, SKIPPED, OutboxMessageRow

    number = dispatched(hub)
    dead = _dead_letter(hub, number)
    sup = Person(app).sign_in("zhao", PASSWORD)
    no_reason = sup.post("/console/outbox/skip", {"ids": str(dead), "reason": "  "})
    assert no_reason.status_code == 422 and "放弃原因" in no_reason.text
    no_csrf = sup.post("/console/outbox/skip", {"ids": str(dead), "reason": "已电话告知"}, with_csrf=False)
    assert no_csrf.status_code == 403
    with hub.db.read() as s:
        assert s.get(OutboxMessageRow, dead).status == DEAD  # neither changed anything

    done = sup.post("/console/outbox/skip", {"ids": str(dead), "reason": "已电话告知雁江区"})
    assert done.status_code == 303 and "/console/outbox" in done.headers["location"]
    with hub.db.read() as s:
        assert s.get(OutboxMessageRow, dead).status == SKIPPED
    line = hub.cases.get(number, SUPERVISOR).history[-1]
    assert (line.action, line.actor, line.note) == ("outbox_skip", "zhao", "已电话告知雁江区")
    again = sup.post("/console/outbox/skip", {"ids": str(dead), "reason": "再来一次"})
    assert again.status_code == 409 and "不是死信" in again.text


def test_replay_sends_again_and_is_written_into_the_case_history_with_who(hub, app) -> None:
    from outbox.tables import PENDING, OutboxMessageRow

    number = dispatched(hub)
    dead = _dead_letter(hub, number)
    sup = Person(app).sign_in("zhao", PASSWORD)
    assert sup.post("/console/outbox/replay", {}).status_code == 422  # nothing chosen
    done = sup.post("/console/outbox/replay", {"ids": str(dead)})
    assert done.status_code == 303
    with hub.db.read() as s:
        row = s.get(OutboxMessageRow, dead)
        assert (row.status, row.attempts) == (PENDING, 0)
    line = hub.cases.get(number, SUPERVISOR).history[-1]
    assert (line.action, line.actor, line.data["message_id"]) == ("outbox_replay", "zhao", dead)
    assert "已重发 1 条" in sup.get(done.headers["location"]).text


# -- knowledge -------------------------------------------------------------------------------------
def _articles(hub) -> None:
    body = "消费者可通过12315热线投诉举报，市场监管部门自收到投诉之日起7个工作日内决定是否受理。"
    published_and_draft(hub, ("KB-PUB", "消费者投诉举报办理指南"), ("KB-DRAFT", "预付卡退费投诉指引（草稿）"), body)


def test_knowledge_search_finds_published_articles_in_chinese(hub, app) -> None:
    _articles(hub)
    page = Person(app).sign_in("rsj", PASSWORD).get("/console/knowledge", params={"q": "消费者投诉"})
    assert page.status_code == 200 and "KB-PUB@1" in page.text and "KB-DRAFT" not in page.text
    assert "<mark>" in page.text  # the matches marked in the snippet


def test_an_article_in_draft_is_for_its_unit_and_the_centre_only(hub, app) -> None:
    _articles(hub)
    assert Person(app).sign_in("scj", PASSWORD).get("/console/knowledge/articles/KB-DRAFT").status_code == 200
    assert Person(app).sign_in("wang", PASSWORD).get("/console/knowledge/articles/KB-DRAFT").status_code == 200
    other = Person(app).sign_in("rsj", PASSWORD)
    refused = other.get("/console/knowledge/articles/KB-DRAFT")
    assert refused.status_code == 404 and "预付卡" not in refused.text
    published = other.get("/console/knowledge/articles/KB-PUB")
    assert published.status_code == 200 and "7个工作日内决定是否受理" in published.text
    # Nor in the list of articles a unit sees without a query.
    assert "KB-DRAFT" not in other.get("/console/knowledge").text


def test_intake_suggests_articles_for_the_content_with_and_without_the_script(hub, app) -> None:
    _articles(hub)
    agent = Person(app).sign_in("wang", PASSWORD)
    page = agent.get("/console/intake")
    assert 'data-suggest="/console/knowledge/suggest"' in page.text
    fragment = agent.get("/console/knowledge/suggest", params={"q": "我想投诉商家，消费者权益受损"})
    assert fragment.status_code == 200 and "KB-PUB@1" in fragment.text and "<html" not in fragment.text
    assert "KB-DRAFT" not in fragment.text
    # Without JavaScript: the "查找相关知识" button brings the same form back with the suggestions.
    form = agent.post("/console/intake", {"op": "kb", "title": "投诉商家", "content": "消费者权益受损，要求投诉", "phone": "13800138000"})
    assert form.status_code == 200 and "KB-PUB@1" in form.text and 'value="13800138000"' in form.text


# -- requests to decide and repeat calls -----------------------------------------------------------
def test_the_requests_queue_lists_pending_extensions_and_returns_until_decided(hub, app) -> None:
    extension = dispatched(hub)
    hub.cases.act(extension, c.RequestExtension(working_days=5, reason="需要现场检测"), SCJ)
    returned = dispatched(hub, "ZY-RSJ")
    hub.cases.act(returned, c.RequestReturn(reason="不属于本单位职责"), RSJ)
    dispatched(hub)  # nothing asked

    agent = Person(app).sign_in("wang", PASSWORD)
    rows = {r[0]: r for r in _rows(agent.get("/console/requests").text, "requests")}
    assert set(rows) == {extension, returned}
    assert "延期 5 个工作日" in rows[extension][2] and rows[extension][6] == "需要现场检测"
    assert rows[returned][2] == "退回" and rows[returned][6] == "不属于本单位职责"
    assert re.search(r'href="/console/requests"><span class="n">2</span>', agent.get("/console/").text)

    case = hub.cases.get(extension, SUPERVISOR)
    sup = Person(app).sign_in("zhao", PASSWORD)
    assert sup.act(extension, case.version, "decide_extension", approved="true").status_code == 303
    assert set(r[0] for r in _rows(agent.get("/console/requests").text, "requests")) == {returned}


def _repeat(hub) -> tuple[str, str]:
    earlier = hub.cases.register(CaseDraft.model_validate(draft(title="楼下烧烤油烟")), AGENT).case.number
    hub.cases.act(earlier, c.Accept(), AGENT)
    again = hub.cases.register(CaseDraft.model_validate(draft(title="烧烤油烟又来了")), AGENT).case.number
    return earlier, again


def test_a_repeat_call_is_confirmed_merged_or_dismissed_from_the_case_page(hub, app) -> None:
    earlier, again = _repeat(hub)
    agent = Person(app).sign_in("wang", PASSWORD)
    page = agent.get(f"/console/cases/{again}")
    assert 'id="repeat-call"' in page.text and f'href="/console/cases/{earlier}"' in page.text
    assert 'value="merge"' in page.text  # registered: the lifecycle allows the centre to merge
    clerk_page = Person(app).sign_in("scj", PASSWORD).get(f"/console/cases/{earlier}")
    assert 'id="repeat-call"' not in clerk_page.text

    merged = agent.post(f"/console/cases/{again}/repeat-call", {"op": "merge", "note": "同一油烟问题"})
    assert merged.status_code == 303
    assert hub.cases.get(again, SUPERVISOR).state.value == "merged"
    after = agent.get(f"/console/cases/{again}").text
    assert "已确认是重复来电" in after and "同一油烟问题" in after and 'name="op"' not in after
    twice = agent.post(f"/console/cases/{again}/repeat-call", {"op": "dismiss"})
    assert twice.status_code == 409 and "already confirmed" in twice.text


def test_a_dismissed_repeat_call_leaves_the_case_as_it_was(hub, app) -> None:
    earlier, again = _repeat(hub)
    agent = Person(app).sign_in("wang", PASSWORD)
    assert agent.post(f"/console/cases/{again}/repeat-call", {"op": "dismiss"}).status_code == 303
    assert hub.cases.get(again, SUPERVISOR).state.value == "registered"
    assert hub.cases.repeat_call(again, SUPERVISOR).status == "dismissed"
    clerk = Person(app).sign_in("scj", PASSWORD)
    assert clerk.post(f"/console/cases/{again}/repeat-call", {"op": "dismiss"}).status_code == 403


def test_a_county_of_several_divisions_sees_the_first_until_it_picks_another(hub, app) -> None:
    fast_accounts(hub).create("xian", Role.COUNTY, PASSWORD, "区县", divisions=["512002", "512021"])
    clerk = Person(app).sign_in("xian", PASSWORD)
    period = hub.clock.now().strftime("%Y-%m")
    first = clerk.get("/console/assessment", params={"period": period})
    assert first.status_code == 200 and re.search(r'<option value="512002" selected>', first.text)
    picked = clerk.get("/console/assessment", params={"period": period, "county": "512021"})
    assert picked.status_code == 200 and re.search(r'<option value="512021" selected>', picked.text)
    assert clerk.get("/console/assessment", params={"period": period, "county": "512022"}).status_code == 403
