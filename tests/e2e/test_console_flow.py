"""The console as people use it, in a real Chromium (Debian's `chromium`, driven by Playwright
for Python with executable_path: no browser is downloaded). The hub is a real server on
loopback, on SQLite and PostgreSQL.

Outside CI a machine without chromium skips these tests with the reason; under CI=true a
missing chromium fails them (.ci/run installs it). UPDATE_CONSOLE_SCREENSHOTS=1 also writes
the screenshots of the main pages to docs/console/ (they are always taken, into tmp_path).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from hub.domain.model import Role
from tests.support.console import fast_accounts
from tests.support.databases import UNDER_CI
from tests.support.factories import draft
from tests.support.live import LiveServer

PASSWORD = "console-e2e-pass"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).exists()), None)


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        reason = "no chromium on this machine (apt-get install chromium fonts-noto-cjk; .ci/run does)"
        if UNDER_CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def console(hub, chromium):
    from hub.api.app import create_app

    accounts = fast_accounts(hub)
    accounts.create("wang", Role.AGENT, PASSWORD, "王芳")
    accounts.create("zhao", Role.SUPERVISOR, PASSWORD, "赵敏")
    accounts.create("scj", Role.UNIT, PASSWORD, "市场监管局 李静", unit_code="ZY-SCJGJ")
    accounts.create("rsj", Role.UNIT, PASSWORD, "人社局 陈晨", unit_code="ZY-RSJ")
    with LiveServer(create_app(hub)) as live:
        yield live


class Desk:
    """One person at one browser (their own cookies)."""

    def __init__(self, chromium, url: str, shots: Path, viewport: tuple[int, int] = (1280, 800)) -> None:  # noqa: ANN001
        self.context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN")
        self.page = self.context.new_page()
        self.url, self.shots = url, shots

    def sign_in(self, username: str) -> Desk:
        self.page.goto(self.url + "/console/")
        assert "/console/login" in self.page.url  # no session: sent to sign in
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.url + "/console/")
        return self

    def act(self, action: str, **fields: str) -> None:
        form = self.page.locator(f"form[data-action={action}]")
        details = self.page.locator("details", has=form)
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        for name, value in fields.items():
            field = form.locator(f"[name={name}]")
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        form.locator("button[type=submit]").click()
        self.page.wait_for_load_state()

    def state(self) -> str:
        return self.page.locator("dl.fields dd strong").first.inner_text()

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        if os.environ.get("UPDATE_CONSOLE_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SHOTS / f"{name}.png")

    def close(self) -> None:
        self.context.close()


def _earlier_case(hub) -> str:
    from hub.domain import commands as c
    from hub.domain.access import Actor
    from hub.domain.model import CaseDraft

    agent = Actor("api-agent", Role.AGENT)
    number = hub.cases.register(CaseDraft.model_validate(draft(title="小区门口占道经营")), agent).case.number
    hub.cases.act(number, c.Accept(), agent)
    return number


def _satisfaction(desk: Desk, url: str, unit: str) -> str:
    """The unit's 满意率 cell in September 2025's assessment (the tests' clock stands in it)."""
    desk.page.goto(f"{url}/console/assessment?period=2025-09")
    column = desk.page.locator("table.figures thead th").all_inner_texts().index("满意率")
    row = desk.page.locator("table.figures tbody tr", has_text=f"（{unit}）")
    return row.locator("td").nth(column).inner_text() if row.count() else ""


def test_a_case_from_the_call_to_the_follow_up(hub, chromium, console, tmp_path) -> None:
    earlier = _earlier_case(hub)
    supervisor = Desk(chromium, console.url, tmp_path).sign_in("zhao")
    assert "1/1" not in _satisfaction(supervisor, console.url, "ZY-SCJGJ")  # nothing followed up yet
    agent = Desk(chromium, console.url, tmp_path).sign_in("wang")
    agent.shot("workbench")
    # The call: the agent looks the number up first and finds the caller's earlier case.
    agent.page.click("text=登记工单")
    agent.page.fill("input[name=phone]", "13800138000")
    agent.page.click("button[value=history]")
    history = agent.page.locator("section.history")
    assert earlier in history.inner_text() and "小区门口占道经营" in history.inner_text()
    assert re.search(r"近 \d+ 天有 1 件工单", history.inner_text())
    agent.page.fill("input[name=name]", "张三")
    agent.page.select_option("select[name=request_type]", "complaint")
    agent.page.select_option("select[name=category_code]", "0101")
    agent.page.select_option("select[name=division_code]", "512002")
    agent.page.fill("input[name=address]", "雁江区建设路12号")
    agent.page.fill("input[name=title]", "工地夜间施工噪音")
    agent.page.fill("textarea[name=content]", "建设路工地每晚十一点后仍在施工，噪音很大，影响休息。")
    agent.shot("intake")
    agent.page.click("button[value=register]")
    agent.page.wait_for_url(re.compile(r".*/console/cases/\d+$"))
    number = agent.page.url.rsplit("/", 1)[1]
    assert number != earlier and agent.state() == "已登记"
    agent.act("accept")
    assert agent.state() == "已受理"
    agent.act("dispatch", lead_unit="ZY-SCJGJ")
    assert agent.state() == "待签收"

    clerk = Desk(chromium, console.url, tmp_path).sign_in("scj")
    clerk.page.click("a.tile[href='/console/queues/to_sign_off']")
    clerk.page.click(f"text={number}")
    clerk.act("sign_off")
    assert clerk.state() == "办理中"
    # The unit's evidence with its reply: a photo (附件), public so the citizen sees it too.
    from channels.sandbox import PHOTO

    photo = tmp_path / "整改现场.png"
    photo.write_bytes(PHOTO)
    clerk.page.set_input_files("form.upload input[name=file]", str(photo))
    clerk.page.select_option("form.upload select[name=visibility]", "public")
    clerk.page.click("form.upload button[type=submit]")
    clerk.page.wait_for_load_state()
    assert "整改现场.png" in clerk.page.locator("ul.attachments").inner_text()
    clerk.shot("case")  # the unit's view: the actions the lifecycle allows it while it handles the case
    clerk.act("reply", text="已到现场核查，责令施工方夜间停工，并处罚款。")
    assert clerk.state() == "已答复待审核"

    supervisor.page.goto(f"{console.url}/console/queues/to_review")
    supervisor.page.click(f"text={number}")
    supervisor.act("review_reply", approved="true")
    assert supervisor.state() == "待回访"

    agent.page.goto(f"{console.url}/console/cases/{number}")
    agent.act("follow_up", reached="true", resolved="true", satisfaction="satisfied")
    assert agent.state() == "已办结"
    timeline = agent.page.locator("ol.timeline").inner_text()
    for step in ("受理", "派单", "签收", "添加附件", "答复", "审核答复", "回访"):
        assert step in timeline
    agent.shot("timeline")
    agent.page.goto(f"{console.url}/console/search?phone=13800138000")
    assert number in agent.page.inner_text("table.cases") and earlier in agent.page.inner_text("table.cases")
    agent.shot("search")
    assert hub.cases.get(number, _centre()).state.value == "closed"
    # The figure moves: the unit's 满意率 now counts this satisfied follow-up.
    assert _satisfaction(supervisor, console.url, "ZY-SCJGJ") == "100.0% 1/1"
    for desk in (agent, clerk, supervisor):
        desk.close()


def test_a_co_unit_replies_its_part_and_the_case_page_shows_it(hub, chromium, console, tmp_path) -> None:
    """协办 (#20) in the browser: the co-unit's clerk finds the case in 协办待办, signs off and
    replies its part; the lead's case page shows the part replied. On a tablet in portrait the
    case page fits the screen's width (#18: works on a tablet)."""
    from hub.domain import commands as c
    from hub.domain.access import Actor

    number = _earlier_case(hub)
    hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ", co_units=["ZY-RSJ"]), Actor("api-agent", Role.AGENT))
    co = Desk(chromium, console.url, tmp_path).sign_in("rsj")
    co.page.click("#tile-parts")
    assert "协办待签收" in co.page.inner_text("table.cases")
    co.page.click(f"text={number}")
    co.act("sign_off_part")
    co.act("reply_part", text="已核查该商户的用工登记，情况属实。")
    assert "已答复" in co.page.inner_text("tr[data-part=ZY-RSJ]")
    co.shot("parts")
    lead = Desk(chromium, console.url, tmp_path, viewport=(768, 1024)).sign_in("scj")
    lead.page.goto(f"{console.url}/console/cases/{number}")
    assert "已核查该商户的用工登记" in lead.page.inner_text("#parts + table")
    assert lead.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for desk in (co, lead):
        desk.close()


def test_a_clerk_cannot_open_another_units_case_by_url(hub, chromium, console, tmp_path) -> None:
    from hub.domain import commands as c
    from hub.domain.access import Actor

    number = _earlier_case(hub)
    hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), Actor("api-agent", Role.AGENT))
    other = Desk(chromium, console.url, tmp_path).sign_in("rsj")
    response = other.page.goto(f"{console.url}/console/cases/{number}")
    assert response.status == 403
    assert "无权查看" in other.page.inner_text("main") and "13800138000" not in other.page.content()
    other.close()


def test_a_form_without_its_csrf_token_is_refused(hub, chromium, console, tmp_path) -> None:
    number = _earlier_case(hub)
    agent = Desk(chromium, console.url, tmp_path).sign_in("wang")
    agent.page.goto(f"{console.url}/console/cases/{number}")
    agent.page.evaluate("document.querySelectorAll('form[data-action=dispatch] input[name=csrf]').forEach(e => e.remove())")
    with agent.page.expect_navigation() as nav:
        agent.act("dispatch", lead_unit="ZY-SCJGJ")
    assert nav.value.status == 403 and "CSRF" in agent.page.inner_text("main")
    assert hub.cases.get(number, _centre()).state.value == "accepted"
    agent.close()


def test_a_stale_form_shows_the_conflict(hub, chromium, console, tmp_path) -> None:
    number = _earlier_case(hub)
    agent = Desk(chromium, console.url, tmp_path).sign_in("wang")
    agent.page.goto(f"{console.url}/console/cases/{number}")  # read at this version
    supervisor = Desk(chromium, console.url, tmp_path).sign_in("zhao")
    supervisor.page.goto(f"{console.url}/console/cases/{number}")
    supervisor.act("dispatch", lead_unit="ZY-RSJ")
    assert supervisor.state() == "待签收"
    agent.act("dispatch", lead_unit="ZY-SCJGJ")  # the form the agent still has open
    assert "已被他人修改" in agent.page.inner_text("main")
    assert agent.state() == "待签收"
    agent.shot("conflict")
    assert hub.cases.get(number, _centre()).handling.lead_unit == "ZY-RSJ"
    for desk in (agent, supervisor):
        desk.close()


def test_the_supervisors_pages_and_the_agents_suggestions(hub, chromium, console, tmp_path) -> None:
    """Part 2 in one pass: the board, the assessment with its bars, the outbox with a skip, the
    knowledge base, and the suggestions appearing as the agent types (the page's script)."""
    from datetime import timedelta

    from hub.domain import commands as c
    from hub.domain.access import Actor
    from hub.domain.model import CaseDraft
    from knowledge.handle import Knowledge
    from knowledge.model import ArticleInput
    from knowledge.review import ReviewAction
    from outbox.tables import DEAD, OutboxMessageRow

    agent_key, unit_key, boss = Actor("api-agent", Role.AGENT), Actor("scj-key", Role.UNIT, unit_code="ZY-SCJGJ"), _centre()
    numbers = []
    for title in ("工地夜间施工噪音", "商场消防通道堵塞", "菜市场占道经营"):
        number = hub.cases.register(CaseDraft.model_validate(draft(title=title)), agent_key).case.number
        hub.cases.act(number, c.Accept(), agent_key)
        hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ" if len(numbers) < 2 else "ZY-RSJ"), agent_key)
        numbers.append(number)
    hub.cases.act(numbers[0], c.SignOff(), unit_key)
    hub.cases.act(numbers[1], c.Supervise(reason="群众多次来电反映"), boss)
    hub.clock.advance(timedelta(days=30))
    hub.cases.act(numbers[1], c.MarkOverdue(deadline="completion"), Actor("hub", Role.SYSTEM))
    with hub.db.write() as s:
        s.add(
            OutboxMessageRow(
                destination="county-yj",
                ordering_key=numbers[0],
                sequence=1,
                idempotency_key="e2e-dead-1",
                event_type="case.dispatched",
                case_number=numbers[0],
                body={},
                status=DEAD,
                attempts=6,
                available_at=hub.clock.now(),
                created_at=hub.clock.now(),
                last_error="gave up after 6 attempts: 503 Service Unavailable",
            )
        )
    store = hub.handles.get(Knowledge).store
    store.create(
        ArticleInput(
            id="SCJ-TOUSU",
            owner_unit="ZY-SCJGJ",
            kind="service_guide",
            title="消费者投诉举报办理指南",
            body="消费者可通过12345或12315热线投诉举报。市场监管部门自收到投诉之日起7个工作日内决定是否受理。",
            tags=["消费维权"],
        ),
        unit_key,
    )
    store.act("SCJ-TOUSU", ReviewAction.REVIEW, boss)
    store.act("SCJ-TOUSU", ReviewAction.PUBLISH, boss)

    supervisor = Desk(chromium, console.url, tmp_path).sign_in("zhao")
    supervisor.page.click("header nav >> text=督办")
    board = supervisor.page.inner_text("table.board")
    assert "ZY-SCJGJ" in board and numbers[1] in supervisor.page.inner_text("table.supervised")
    supervisor.shot("supervision")
    supervisor.page.click("header nav >> text=考核")
    supervisor.page.fill("input[name=period]", "2025-09")
    supervisor.page.click("form.grid button[type=submit]")
    assert supervisor.page.locator("svg.chart").count() >= 5
    # 签收率: three sign-offs fell due in September, one was made (by ZY-SCJGJ, which had two).
    figures = supervisor.page.inner_text("table.figures")
    assert "合计\t33.3% 1/3" in figures and "（ZY-SCJGJ）\t50.0% 1/2" in figures
    supervisor.shot("assessment")
    with supervisor.page.expect_download() as download:
        supervisor.page.click("text=下载 XLSX")
    assert download.value.suggested_filename == "assessment-2025-09.xlsx"

    supervisor.page.goto(f"{console.url}/console/")
    supervisor.page.click("#tile-dead")
    assert "503 Service Unavailable" in supervisor.page.inner_text("table.dead")
    supervisor.shot("outbox")
    supervisor.page.check("table.dead input[name=ids]")
    supervisor.page.fill("#dead-letters input[name=reason]", "已电话告知雁江区")
    supervisor.page.click("#dead-letters button.danger")
    assert "已放弃 1 条消息" in supervisor.page.inner_text("main")
    assert hub.cases.get(numbers[0], boss).history[-1].actor == "zhao"

    agent = Desk(chromium, console.url, tmp_path).sign_in("wang")
    agent.page.click("header nav >> text=知识库")
    agent.page.fill("input[name=q]", "消费者投诉")
    agent.page.click("form.row button[type=submit]")
    agent.page.click("text=消费者投诉举报办理指南")
    assert "7个工作日内决定是否受理" in agent.page.inner_text("main")
    agent.shot("knowledge")
    agent.page.goto(f"{console.url}/console/intake")
    agent.page.fill("input[name=title]", "商家拒绝退款")
    agent.page.type("textarea[name=content]", "我想投诉一个商家，消费者权益受损", delay=5)
    agent.page.wait_for_selector("#kb-suggestions >> text=消费者投诉举报办理指南")  # fetched while typing, no reload
    agent.shot("suggestions")
    for desk in (supervisor, agent):
        desk.close()


def _centre():
    from hub.domain.access import Actor

    return Actor("test", Role.SUPERVISOR)
