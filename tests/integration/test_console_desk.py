"""The console, what issue #18 still asked for: pausing and resuming a destination from the
outbox page, the 预警 tile and queue, and writing, reviewing and publishing knowledge articles
with their versions side by side. Through the in-process app, on SQLite and PostgreSQL; the
expectations are written from the issue and the README, not computed from the code."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import Role
from tests.support.console import PASSWORD, Person, console_app, dispatched

AGENT = Actor("api-agent", Role.AGENT)
SUPERVISOR = Actor("api-supervisor", Role.SUPERVISOR)
SYSTEM = Actor("hub", Role.SYSTEM)


@pytest.fixture
def app(hub):
    return console_app(hub)


def _tile(html: str, key: str) -> str:
    return re.search(rf'id="tile-{key}"><span class="n">([^<]*)</span>', html).group(1)


# -- pause and resume a destination ----------------------------------------------------------------
def _message(hub, destination: str = "county-yj") -> None:
    from outbox.tables import PENDING, OutboxMessageRow

    now = hub.clock.now()
    with hub.db.write() as s:
        s.add(
            OutboxMessageRow(
                destination=destination,
                ordering_key="k",
                sequence=1,
                idempotency_key="desk-1",
                event_type="case.dispatched",
                case_number=None,
                body={},
                status=PENDING,
                attempts=0,
                available_at=now,
                created_at=now,
            )
        )


def _state(hub, destination: str) -> dict:
    from outbox import admin

    return next(d for d in admin.backlog(hub) if d["destination"] == destination)


def test_a_supervisor_pauses_a_destination_with_who_and_why_and_resumes_it(hub, app) -> None:
    _message(hub)
    sup = Person(app).sign_in("zhao", PASSWORD)
    page = sup.get("/console/outbox")
    assert "/console/outbox/destinations/county-yj/pause" in page.text

    assert sup.post("/console/outbox/destinations/county-yj/pause", {"reason": "对方系统升级"}, with_csrf=False).status_code == 403
    assert _state(hub, "county-yj")["paused"] is False  # no CSRF token, nothing paused

    done = sup.post("/console/outbox/destinations/county-yj/pause", {"reason": "对方系统升级"})
    assert done.status_code == 303
    state = _state(hub, "county-yj")
    assert state["paused_by_operator"] is True
    assert "对方系统升级" in state["pause_reason"] and "zhao" in state["pause_reason"]  # why, and who
    page = sup.get(done.headers["location"])
    assert "已暂停向 county-yj 推送" in page.text and "对方系统升级" in page.text
    assert "/console/outbox/destinations/county-yj/resume" in page.text

    resumed = sup.post("/console/outbox/destinations/county-yj/resume", {})
    assert resumed.status_code == 303
    state = _state(hub, "county-yj")
    assert (state["paused"], state["paused_by_operator"], state["pause_reason"]) == (False, False, None)
    # Recorded with who resumed and when (the hub's clock, local time), as the pause was with who paused.
    when = hub.clock.now().astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    assert state["last_resume"] is not None and "zhao" in state["last_resume"] and when in state["last_resume"]
    page = sup.get(resumed.headers["location"])
    assert "已恢复向 county-yj 推送" in page.text and f"{state['last_resume']} 恢复推送" in page.text
    # Resuming what is not paused records nothing; the next pause replaces the record.
    assert sup.post("/console/outbox/destinations/county-yj/pause", {"reason": "再次维护"}).status_code == 303
    assert _state(hub, "county-yj")["last_resume"] is None


def test_pausing_is_for_supervisors_and_known_destinations(hub, app) -> None:
    _message(hub)
    agent = Person(app).sign_in("wang", PASSWORD)
    assert agent.post("/console/outbox/destinations/county-yj/pause", {"reason": "x"}).status_code == 403
    assert _state(hub, "county-yj")["paused"] is False
    sup = Person(app).sign_in("zhao", PASSWORD)
    unknown = sup.post("/console/outbox/destinations/nowhere/pause", {"reason": "x"})
    assert unknown.status_code == 404 and "没有目的地 nowhere" in unknown.text


# -- 预警 ------------------------------------------------------------------------------------------
def test_the_warnings_tile_and_queue_show_running_cases_warned_or_overdue(hub, app) -> None:
    warned, late = dispatched(hub), dispatched(hub)
    other = dispatched(hub, "ZY-RSJ")
    hub.clock.advance(timedelta(days=24))  # past the warning share of the completion limit
    hub.cases.act(warned, c.Warn(deadline="completion"), SYSTEM)
    hub.cases.act(late, c.Warn(deadline="completion"), SYSTEM)
    hub.cases.act(other, c.Warn(deadline="completion"), SYSTEM)
    hub.clock.advance(timedelta(days=6))  # past the limit
    hub.cases.act(late, c.MarkOverdue(deadline="completion"), SYSTEM)
    calm = dispatched(hub)  # its limit is weeks away

    sup = Person(app).sign_in("zhao", PASSWORD)
    assert _tile(sup.get("/console/").text, "warnings") == "3"
    queue = sup.get("/console/queues/warnings")
    assert queue.status_code == 200 and "预警与超期" in queue.text
    assert warned in queue.text and late in queue.text and other in queue.text and calm not in queue.text

    clerk = Person(app).sign_in("rsj", PASSWORD)  # a unit: its own cases only
    assert _tile(clerk.get("/console/").text, "warnings") == "1"
    mine = clerk.get("/console/queues/warnings").text
    assert other in mine and warned not in mine


def test_a_warned_case_leaves_the_queue_when_it_is_no_longer_running(hub, app) -> None:
    number = dispatched(hub)
    hub.clock.advance(timedelta(days=24))
    hub.cases.act(number, c.Warn(deadline="completion"), SYSTEM)
    sup = Person(app).sign_in("zhao", PASSWORD)
    assert number in sup.get("/console/queues/warnings").text
    hub.cases.act(number, c.ReplyCmd(text="已现场处理，商家已整改完毕。"), Actor("scj-key", Role.UNIT, unit_code="ZY-SCJGJ"))
    assert hub.cases.get(number, SUPERVISOR).flags.warned  # the flag stays on the case: the state decides
    assert number not in sup.get("/console/queues/warnings").text


# -- knowledge: write, review, publish, versions side by side ----------------------------------------
def _form(person: Person, path: str) -> str:
    page = person.get(path)
    assert page.status_code == 200, page.text[:300]
    return page.text


def test_a_unit_writes_an_article_the_supervisor_sends_it_back_then_reviews_and_publishes(hub, app) -> None:
    scj = Person(app).sign_in("scj", PASSWORD)
    assert 'action="/console/knowledge/new"' in _form(scj, "/console/knowledge/new")
    bad = scj.post("/console/knowledge/new", {"kind": "faq", "title": "预", "body": "x"})
    assert bad.status_code == 422 and "标题" in bad.text and "正文" in bad.text
    made = scj.post(
        "/console/knowledge/new",
        {"kind": "service_guide", "title": "预付卡退费投诉指引", "body": "预付卡退费纠纷，消费者可向市场监管部门投诉。", "note": "首次编写"},
    )
    assert made.status_code == 303
    article_id = re.search(r"/console/knowledge/articles/([^?]+)", made.headers["location"]).group(1)
    page = scj.get(made.headers["location"]).text
    assert "已保存为草稿，等待审核" in page and "草稿" in page and 'value="review"' not in page  # the unit does not review

    sup = Person(app).sign_in("zhao", PASSWORD)
    page = _form(sup, f"/console/knowledge/articles/{article_id}")
    assert 'value="review"' in page and 'value="send_back"' in page and 'value="publish"' not in page  # a draft
    no_note = sup.post(f"/console/knowledge/articles/{article_id}/review", {"action": "send_back"})
    assert no_note.status_code == 422 and "退回意见" in no_note.text
    back = sup.post(f"/console/knowledge/articles/{article_id}/review", {"action": "send_back", "note": "请写明受理时限"})
    assert back.status_code == 303
    assert "请写明受理时限" in scj.get(f"/console/knowledge/articles/{article_id}").text  # the unit reads why

    # The unit writes a new version on the one it read; the old and the new are side by side.
    edit = _form(scj, f"/console/knowledge/articles/{article_id}/edit")
    assert 'name="base_version" value="1"' in edit and "预付卡退费纠纷" in edit
    v2 = {
        "kind": "service_guide",
        "title": "预付卡退费投诉指引",
        "body": "预付卡退费纠纷，市场监管部门7个工作日内决定是否受理。",
        "base_version": "1",
        "note": "补充时限",
    }
    assert scj.post(f"/console/knowledge/articles/{article_id}/versions", v2).status_code == 303
    stale = scj.post(f"/console/knowledge/articles/{article_id}/versions", v2)  # on version 1 again
    assert stale.status_code == 409 and "已被他人修改" in stale.text

    page = _form(sup, f"/console/knowledge/articles/{article_id}")
    compare = re.search(r'<table class="cases compare">(.*?)</table>', page, re.S).group(1)
    assert "第 1 版" in compare and "第 2 版" in compare
    assert "消费者可向市场监管部门投诉" in compare and "7个工作日内决定是否受理" in compare

    assert sup.post(f"/console/knowledge/articles/{article_id}/review", {"action": "review", "version": "2"}).status_code == 303
    assert sup.post(f"/console/knowledge/articles/{article_id}/review", {"action": "publish", "version": "2"}).status_code == 303
    # Published: every party reads it and the search finds it.
    rsj = Person(app).sign_in("rsj", PASSWORD)
    assert "7个工作日内决定是否受理" in rsj.get(f"/console/knowledge/articles/{article_id}").text
    assert f"{article_id}@2" in rsj.get("/console/knowledge", params={"q": "预付卡退费"}).text
    history = re.search(r'<table class="cases kb-history">(.*?)</table>', _form(sup, f"/console/knowledge/articles/{article_id}"), re.S).group(1)
    for step in ("新建", "退回修改", "修订", "审核通过", "发布"):
        assert step in history
    assert "zhao" in history and "scj" in history  # who

    # The owner withdraws it at once (a repealed policy must not be cited one minute longer).
    owner_page = _form(scj, f"/console/knowledge/articles/{article_id}")
    assert "废止已发布的第 2 版" in owner_page
    assert 'name="version" value="2"' in owner_page
    assert rsj.post(f"/console/knowledge/articles/{article_id}/review", {"action": "retire"}).status_code == 403  # not its own
    assert scj.post(f"/console/knowledge/articles/{article_id}/review", {"action": "retire", "note": "政策已废止"}).status_code == 303
    assert f"{article_id}@2" not in rsj.get("/console/knowledge", params={"q": "预付卡退费"}).text


def test_only_the_owning_unit_writes_and_only_supervisors_review(hub, app) -> None:
    scj = Person(app).sign_in("scj", PASSWORD)
    made = scj.post("/console/knowledge/new", {"kind": "faq", "title": "社保卡补办", "body": "到社保经办窗口办理补办。"})
    article_id = re.search(r"/console/knowledge/articles/([^?]+)", made.headers["location"]).group(1)
    agent = Person(app).sign_in("wang", PASSWORD)
    assert agent.get("/console/knowledge/new").status_code == 403
    assert agent.post(f"/console/knowledge/articles/{article_id}/review", {"action": "review"}).status_code == 403
    assert scj.post(f"/console/knowledge/articles/{article_id}/review", {"action": "review"}).status_code == 403
    rsj = Person(app).sign_in("rsj", PASSWORD)
    assert rsj.get(f"/console/knowledge/articles/{article_id}/edit").status_code == 404  # a draft of another unit
    refused = rsj.post(f"/console/knowledge/articles/{article_id}/versions", {"kind": "faq", "title": "改写", "body": "改写的正文", "base_version": "1"})
    assert refused.status_code in (403, 404)
    versions = Person(app).sign_in("zhao", PASSWORD).get(f"/console/knowledge/articles/{article_id}").text
    assert "改写的正文" not in versions
    no_csrf = Person(app).sign_in("zhao", PASSWORD).post(f"/console/knowledge/articles/{article_id}/review", {"action": "review"}, with_csrf=False)
    assert no_csrf.status_code == 403


# -- a unit's 三日内到期 queue ---------------------------------------------------------------------------
def test_a_units_due_soon_queue_holds_its_running_cases_due_within_three_days(hub, clock, app) -> None:
    """#18: "a unit's queue: to sign off, in progress, due soon". By hand (the co-handling test's
    calendar): a complaint dispatched Mon 2025-11-03 10:00 is due Mon Nov 24 23:59 Beijing time."""
    from tests.integration.test_supervision_scheduler import local

    clock.set(local(2025, 11, 3, 10))
    number = dispatched(hub, intake={"channel": "phone", "received_at": "2025-11-03T09:50:00+08:00"})

    def listed(*when: int) -> bool:
        clock.set(local(*when))
        scj = Person(app).sign_in("scj", PASSWORD)
        return number in scj.get("/console/queues/due_soon").text

    assert not listed(2025, 11, 3, 11)
    assert not listed(2025, 11, 21, 15)  # three days on is Nov 24 15:00, before the deadline
    assert listed(2025, 11, 22, 10)
    assert not listed(2025, 11, 25, 10)  # past it: 超期, not "due soon"
    assert number in Person(app).sign_in("scj", PASSWORD).get("/console/queues/overdue").text
    # Not the centre's queue, and not another unit's case.
    assert Person(app).sign_in("wang", PASSWORD).get("/console/queues/due_soon").status_code == 404
    clock.set(local(2025, 11, 22, 10))
    assert number not in Person(app).sign_in("rsj", PASSWORD).get("/console/queues/due_soon").text


# -- the calendar never blocks work: the banner and the provisional deadlines ------------------------
def test_a_banner_from_november_and_provisional_deadlines_until_next_year_is_imported(hub, clock, app) -> None:
    """#20: "Warnings from November on (log, metric, console banner) while next year is missing"
    and deadlines beyond the known calendar "marked provisional on the case". chinesecalendar
    (as installed) knows 2026, not 2027 (tests/integration/test_calendar_import.py)."""
    from datetime import datetime

    from hub.calendar_import import import_year, load_schedule_file
    from hub.settings import REPO_ROOT

    clock.set(datetime(2026, 10, 30, 10, tzinfo=LOCAL_TZ))
    assert 'id="calendar-banner"' not in Person(app).sign_in("wang", PASSWORD).get("/console/").text  # October: not yet

    clock.set(datetime(2026, 12, 28, 10, tzinfo=LOCAL_TZ))
    number = dispatched(hub, signed=False)  # a complaint: 15 working days, into January 2027
    wang = Person(app).sign_in("wang", PASSWORD)
    banner = re.search(r'id="calendar-banner">([^<]*)<', wang.get("/console/").text).group(1)
    assert "2027 年的工作日历尚未导入" in banner and "hotline-hub calendar import" in banner
    page = wang.get(f"/console/cases/{number}").text
    due = re.search(r"<dt>办结时限</dt><dd>(.*?)</dd>", page, re.S).group(1)
    assert "暂定" in due
    # The unit sees the banner too: its deadlines are the provisional ones.
    assert 'id="calendar-banner"' in Person(app).sign_in("scj", PASSWORD).get("/console/queues/to_sign_off").text

    import_year(hub.cases, load_schedule_file(REPO_ROOT / "examples" / "calendar" / "2027.sample.yaml"), SUPERVISOR)
    wang = Person(app).sign_in("wang", PASSWORD)
    page = wang.get(f"/console/cases/{number}").text
    assert 'id="calendar-banner"' not in page
    assert "暂定" not in re.search(r"<dt>办结时限</dt><dd>(.*?)</dd>", page, re.S).group(1)
