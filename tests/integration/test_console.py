"""The console's sign-in, sessions and forms on a real database (SQLite file and PostgreSQL),
through the in-process app. The browser flow itself: tests/e2e/test_console_flow.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from console.accounts import AccountError, Accounts
from console.tables import OperatorRow
from hub.domain.access import Actor
from hub.domain.model import Role
from tests.support.console import PASSWORD, Person, console_app, fast_accounts
from tests.support.factories import draft


@pytest.fixture
def app(hub):
    return console_app(hub)


def _case(hub, state: str = "registered", **changes) -> str:
    """A case registered (and moved on) through the service, as the API would."""
    from hub.domain import commands as c
    from hub.domain.access import Actor
    from hub.domain.model import CaseDraft

    agent = Actor("api-agent", Role.AGENT)
    number = hub.cases.register(CaseDraft.model_validate(draft(**changes)), agent).case.number
    steps = {"accepted": [c.Accept()], "awaiting_sign_off": [c.Accept(), c.Dispatch(lead_unit="ZY-SCJGJ")]}.get(state, [])
    for step in steps:
        hub.cases.act(number, step, agent)
    return number


def test_pages_need_a_session(app) -> None:
    anonymous = Person(app)
    for path in ("/console/", "/console/search", "/console/intake", "/console/queues/to_accept", "/console/cases/X1234567"):
        resp = anonymous.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/console/login?next="), path


def test_pages_load_only_their_own_files_and_are_not_cached_or_framed(app) -> None:
    page = Person(app).sign_in("wang", PASSWORD).get("/console/")
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert all(ref.startswith("/console/") for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text) if not ref.startswith("/api/v1/docs"))


def test_session_cookie_is_httponly_lax_and_secure_over_https(app) -> None:
    plain = Person(app).try_sign_in("wang", PASSWORD)
    cookie = plain.headers["set-cookie"].split(",")[0]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    tls = Person(app, base_url="https://testserver").try_sign_in("wang", PASSWORD)
    assert "Secure" in tls.headers["set-cookie"].split(",")[0]


def test_wrong_passwords_lock_the_account_and_every_try_is_audited(hub, app) -> None:
    person = Person(app)
    for _ in range(5):
        resp = person.try_sign_in("wang", "wrong-password-x")
        assert resp.status_code == 401 and "用户名或密码不正确" in resp.text
    locked = person.try_sign_in("wang", PASSWORD)  # the right password, too late
    assert locked.status_code == 401 and "锁定" in locked.text
    hub.clock.advance(timedelta(minutes=16))
    assert person.try_sign_in("wang", PASSWORD).status_code == 303
    outcomes = [s.outcome for s in reversed(hub.handles.get(Accounts).signins("wang"))]
    assert outcomes == ["bad_password"] * 5 + ["locked", "ok"]


def test_an_unknown_user_is_told_the_same_as_a_wrong_password(hub, app) -> None:
    resp = Person(app).try_sign_in("nobody", PASSWORD)
    assert resp.status_code == 401 and "用户名或密码不正确" in resp.text
    assert [s.outcome for s in hub.handles.get(Accounts).signins("nobody")] == ["unknown"]


def test_sign_out_and_disable_end_the_session(hub, app) -> None:
    wang = Person(app).sign_in("wang", PASSWORD)
    assert wang.post("/console/logout", {}).status_code == 303
    assert wang.get("/console/").status_code == 303  # back to the sign-in page
    zhao = Person(app).sign_in("zhao", PASSWORD)
    hub.handles.get(Accounts).disable("zhao")
    assert zhao.get("/console/").status_code == 303
    assert Person(app).try_sign_in("zhao", PASSWORD).status_code == 401


def test_password_change_needs_the_current_one_and_ends_other_sessions(app) -> None:
    here, elsewhere = Person(app).sign_in("wang", PASSWORD), Person(app).sign_in("wang", PASSWORD)
    wrong = here.post("/console/password", {"current": "not-it-at-all", "new": "new-password-22", "again": "new-password-22"})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    done = here.post("/console/password", {"current": PASSWORD, "new": "new-password-22", "again": "new-password-22"})
    assert done.status_code == 200 and "密码已修改" in done.text
    assert here.get("/console/").status_code == 200
    assert elsewhere.get("/console/").status_code == 303
    assert Person(app).try_sign_in("wang", "new-password-22").status_code == 303


def test_the_feature_hashes_with_argon2id_at_its_recommended_cost(hub) -> None:
    op = hub.handles.get(Accounts).create("li", Role.AGENT, PASSWORD)  # the accounts the feature installed
    with hub.db.read() as s:
        stored = s.query(OperatorRow).filter_by(username=op.username).one().password_hash
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in stored


def test_account_rules(hub) -> None:
    accounts = fast_accounts(hub)
    with pytest.raises(AccountError, match="--unit"):
        accounts.create("clerk1", Role.UNIT, PASSWORD)
    with pytest.raises(AccountError, match="--division"):
        accounts.create("clerk2", Role.COUNTY, PASSWORD)
    with pytest.raises(AccountError, match="role"):
        accounts.create("prov", Role.PROVINCE, PASSWORD)
    with pytest.raises(AccountError, match="10"):
        accounts.create("short", Role.AGENT, "short")
    op = accounts.create("yj", Role.COUNTY, PASSWORD, divisions=["512002"])
    assert op.actor.divisions == ("512002",) and op.actor.party == "yj"
    with hub.db.read() as s:
        row = s.query(OperatorRow).filter_by(username="yj").one()
        assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(hub, app) -> None:
    number = _case(hub)
    wang = Person(app).sign_in("wang", PASSWORD)
    resp = wang.post(f"/console/cases/{number}/actions", {"action": "accept", "version": "1"}, with_csrf=False)
    assert resp.status_code == 403 and "CSRF" in resp.text
    forged = wang.client.post(f"/console/cases/{number}/actions", data={"action": "accept", "version": "1", "csrf": "forged"})
    assert forged.status_code == 403
    assert hub.cases.get(number, _centre()).state.value == "registered"


def test_a_stale_form_shows_the_conflict_instead_of_overwriting(hub, app) -> None:
    number = _case(hub)
    wang, zhao = Person(app).sign_in("wang", PASSWORD), Person(app).sign_in("zhao", PASSWORD)
    assert zhao.act(number, 1, "accept").status_code == 303  # the supervisor was quicker
    resp = wang.act(number, 1, "reject", reason_code="other", reason="重复诉求")
    assert resp.status_code == 409 and "已被他人修改" in resp.text
    case = hub.cases.get(number, _centre())
    assert case.state.value == "accepted" and [h.action for h in case.history] == ["register", "accept"]


def test_the_action_forms_are_those_the_lifecycle_allows_this_person(hub, app) -> None:
    number = _case(hub, "accepted")
    wang = Person(app).sign_in("wang", PASSWORD)
    shown = re.findall(r'data-action="(\w+)"', wang.get(f"/console/cases/{number}").text)
    # An agent on an accepted case (README's lifecycle): reject, transfer, merge, answer directly, dispatch, correct.
    assert sorted(shown) == sorted(["reject", "transfer_emergency", "merge", "answer_directly", "dispatch", "correct"])
    dispatched = _case(hub, "awaiting_sign_off")
    scj = Person(app).sign_in("scj", PASSWORD)
    assert sorted(re.findall(r'data-action="(\w+)"', scj.get(f"/console/cases/{dispatched}").text)) == ["request_return", "sign_off"]


def test_a_refused_or_invalid_action_says_why(hub, app) -> None:
    number = _case(hub, "accepted")
    wang = Person(app).sign_in("wang", PASSWORD)
    bad = wang.act(number, 2, "dispatch", lead_unit="NO-SUCH-UNIT")
    assert bad.status_code == 409 and "NO-SUCH-UNIT" in bad.text
    missing = wang.act(number, 2, "reject", reason_code="other")
    assert missing.status_code == 422 and "理由" in missing.text
    not_allowed = wang.act(number, 2, "sign_off")
    assert not_allowed.status_code == 409 and "sign_off" in not_allowed.text
    assert hub.cases.get(number, _centre()).version == 2


def test_a_clerk_cannot_open_another_units_case(hub, app) -> None:
    number = _case(hub, "awaiting_sign_off")
    rsj = Person(app).sign_in("rsj", PASSWORD)
    resp = rsj.get(f"/console/cases/{number}")
    assert resp.status_code == 403 and "无权查看" in resp.text
    assert rsj.act(number, 3, "sign_off").status_code == 403
    assert "13800138000" not in resp.text


def test_intake_registers_and_shows_the_callers_history(hub, app) -> None:
    earlier = _case(hub, title="楼上漏水")
    wang = Person(app).sign_in("wang", PASSWORD)
    fields = {
        "channel": "phone",
        "phone": "13800138000",
        "name": "张三",
        "request_type": "complaint",
        "category_code": "0101",
        "title": "夜间施工噪音",
        "content": "工地夜间施工，影响休息。",
        "division_code": "512002",
        "urgency": "normal",
    }
    history = wang.post("/console/intake", {**fields, "op": "history"})
    assert history.status_code == 200 and earlier in history.text and "楼上漏水" in history.text
    assert 'value="夜间施工噪音"' in history.text  # the form keeps what was typed
    done = wang.post("/console/intake", {**fields, "op": "register"})
    assert done.status_code == 303
    number = done.headers["location"].rsplit("/", 1)[1]
    case = hub.cases.get(number, _centre())
    assert case.title == "夜间施工噪音" and case.person.phone == "13800138000" and case.history[0].actor == "wang"
    scj = Person(app).sign_in("scj", PASSWORD)
    assert scj.get("/console/intake").status_code == 403


def test_search_by_phone_text_and_state(hub, app) -> None:
    noise = _case(hub, title="噪音扰民")
    other = _case(hub, title="路灯不亮", person={"name": "李四", "phone": "13900001111", "kind": "person"})
    wang = Person(app).sign_in("wang", PASSWORD)
    by_phone = wang.get("/console/search", params={"phone": "139 0000 1111"}).text
    assert other in by_phone and noise not in by_phone
    by_text = wang.get("/console/search", params={"q": "路灯"}).text
    assert other in by_text and noise not in by_text
    assert noise in wang.get("/console/search", params={"state": "registered"}).text
    bad = wang.get("/console/search", params={"received_from": "2025-13-01"})
    assert bad.status_code == 200 and "日期格式" in bad.text
    jump = wang.get("/console/search", params={"number": noise})
    assert jump.status_code == 303 and jump.headers["location"] == f"/console/cases/{noise}"


def test_workbench_counts_per_queue(hub, app) -> None:
    _case(hub)
    _case(hub)
    _case(hub, "accepted")
    page = Person(app).sign_in("wang", PASSWORD).get("/console/").text
    tiles = dict((label, n) for n, label in re.findall(r'<span class="n">(.*?)</span><span>(.*?)</span>', page))
    assert tiles["待受理"] == "2" and tiles["待派单"] == "1"


def test_api_docs_load_nothing_from_outside(app) -> None:
    client = Person(app).client
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/api/v1/docs/assets/") for r in refs), refs
    assert "https://" not in page.text and "http://" not in page.text
    for ref in refs:
        assert client.get(ref).status_code == 200, ref
    assert client.get("/api/v1/docs/assets/secret.py").status_code == 404


def _centre():
    from hub.domain.access import Actor

    return Actor("test", Role.SUPERVISOR)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # a photo, by its magic bytes


def test_the_case_page_shows_attachments_and_takes_an_upload(hub, app) -> None:
    number = _case(hub, "awaiting_sign_off")
    clerk = Person(app).sign_in("scj", PASSWORD)
    page = clerk.get(f"/console/cases/{number}")
    assert "暂无附件" in page.text and 'enctype="multipart/form-data"' in page.text and "上传附件" in page.text
    sent = clerk.client.post(
        f"/console/cases/{number}/attachments", data={"csrf": clerk.csrf, "visibility": "public"}, files={"file": ("整改照片.png", PNG, "image/png")}
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/console/cases/{number}"
    page = clerk.get(f"/console/cases/{number}")
    link = re.search(rf'href="(/console/cases/{number}/attachments/[0-9a-f]+)" download>整改照片.png<', page.text)
    assert link and "公开" in page.text and "添加附件" in page.text  # the history line, in Chinese
    got = clerk.get(link.group(1))
    assert got.status_code == 200 and got.content == PNG and got.headers["x-content-type-options"] == "nosniff"
    # Another unit neither reads the file nor adds one; a page of HTML is not a photo; no token, no upload.
    other = Person(app).sign_in("rsj", PASSWORD)
    assert other.get(link.group(1)).status_code == 403
    assert other.client.post(f"/console/cases/{number}/attachments", data={"csrf": other.csrf}, files={"file": ("a.png", PNG, "image/png")}).status_code == 403
    wrong = clerk.client.post(f"/console/cases/{number}/attachments", data={"csrf": clerk.csrf}, files={"file": ("照片.jpg", b"<html></html>", "image/jpeg")})
    assert wrong.status_code == 415 and "文件类型不支持" in wrong.text
    forged = clerk.client.post(f"/console/cases/{number}/attachments", data={}, files={"file": ("a.png", PNG, "image/png")})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert len(hub.attachments.list_for(hub.cases.get_any(number), _agent())) == 1


def _agent():
    from hub.domain.access import Actor

    return Actor("api-agent", Role.AGENT)


def test_the_case_page_lists_the_knowledge_articles_used(hub, app) -> None:
    """#18: the case page shows "the knowledge articles used" — here the published article an
    agent cited in a direct answer (id@version), a link to the article."""
    from tests.support.console import published_and_draft

    published_and_draft(hub, ("SCJ-QA-001", "预付卡退费指引"), ("SCJ-QA-002", "草稿"), "商家拒绝退还预付卡余额的，可向市场监管部门投诉。")
    number = _case(hub, "accepted")
    wang = Person(app).sign_in("wang", PASSWORD)
    assert "未引用知识条目" in wang.get(f"/console/cases/{number}").text
    version = re.search(r'name="version" value="(\d+)"', wang.get(f"/console/cases/{number}").text).group(1)
    resp = wang.act(number, int(version), "answer_directly", answer="可向市场监管部门投诉", articles="SCJ-QA-001@1")
    assert resp.status_code == 303, re.findall(r'class="alert"[^>]*>([^<]*)', resp.text)
    page = wang.get(f"/console/cases/{number}").text
    section = page.split('id="articles"')[1].split("<h2")[0]
    assert re.findall(r'href="/console/knowledge/articles/([^"]+)">[^<]+</a> 第 (\d+) 版', section) == [("SCJ-QA-001", "1")]


def test_search_by_unit_division_type_and_date_range(hub, app) -> None:
    """#18's search: "by case number, phone (exact), free text, state, unit, division, type, date
    range" — the last four here, and #20's "by channel", each narrowing to the case that matches."""
    yanjiang = _case(hub, "awaiting_sign_off", title="雁江噪音")  # dispatched to ZY-SCJGJ
    anyue = _case(
        hub,
        title="安岳咨询",
        request_type="enquiry",
        place={"address": "安岳县岳阳镇", "division_code": "512021"},
        intake={"channel": "web", "received_at": "2025-09-20T09:00:00+08:00"},
    )
    wang = Person(app).sign_in("wang", PASSWORD)

    def found(**params: str) -> set[str]:
        page = wang.get("/console/search", params=params)
        assert page.status_code == 200
        return {n for n in (yanjiang, anyue) if n in page.text}

    assert found(unit="ZY-SCJGJ") == {yanjiang}
    assert found(division="512021") == {anyue}
    assert found(type="enquiry") == {anyue}
    assert found(type="complaint") == {yanjiang}
    assert found(channel="web") == {anyue}
    assert found(channel="phone") == {yanjiang}
    assert "受理渠道：没有这个渠道" in wang.get("/console/search", params={"channel": "fax"}).text
    # Received 2025-09-20 and 2025-09-26 (BASE_DRAFT): "to" includes its own day.
    assert found(received_from="2025-09-19", received_to="2025-09-20") == {anyue}
    assert found(received_from="2025-09-21", received_to="2025-09-26") == {yanjiang}


def test_a_correction_shows_the_old_and_new_values_and_the_recounted_deadline(hub, app) -> None:
    """#20 改单: "the old and new values in the history" — on the case page's timeline too, with
    the reason and, once dispatched, the deadline counted again. By hand: a complaint dispatched
    Fri 2025-09-26 10:00 (the tests' clock) is due in 15 working days, Oct 23 (after 国庆, Oct 1-8
    off, Sep 28 and Oct 11 worked); as an enquiry 5 working days, Oct 10 (Sep 29, 30, Oct 9,
    10 and the make-up Sep 28)."""
    number = _case(hub, "awaiting_sign_off")
    zhao = Person(app).sign_in("zhao", PASSWORD)
    page = zhao.get(f"/console/cases/{number}").text
    assert "2025-10-23 23:59" in re.search(r"<dt>办结时限</dt><dd>(.*?)</dd>", page, re.S).group(1)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    resp = zhao.act(number, int(version), "correct", request_type="enquiry", reason="登记时误选为投诉")
    assert resp.status_code == 303, re.findall(r'class="alert"[^>]*>([^<]*)', resp.text)
    page = zhao.get(f"/console/cases/{number}").text
    entry = page.split("<strong>改单</strong>")[1].split("</li>\n    \n")[0]
    assert "理由：登记时误选为投诉" in entry
    assert re.search(r"诉求类型：<del>投诉</del> → <ins>咨询</ins>", entry)
    assert re.search(r"办结时限：<del>2025-10-23 23:59</del> → <ins>2025-09-30 23:59</ins>", entry), entry


def test_a_supervisor_corrects_the_division_of_a_dispatched_case(hub, app) -> None:
    """#20 改单 of the division from the case page: the address stays, the timeline shows both."""
    number = _case(hub, "awaiting_sign_off")  # 512002 雁江区, 雁江区建设路12号 (BASE_DRAFT)
    zhao = Person(app).sign_in("zhao", PASSWORD)
    page = zhao.get(f"/console/cases/{number}").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    resp = zhao.act(number, int(version), "correct", **{"place.division_code": "512021", "reason": "区划登记错误"})
    assert resp.status_code == 303, re.findall(r'class="alert"[^>]*>([^<]*)', resp.text)
    place = hub.cases.get(number, Actor("t", Role.SUPERVISOR)).place
    assert (place.division_code, place.address) == ("512021", "雁江区建设路12号")
    entry = zhao.get(f"/console/cases/{number}").text.split("<strong>改单</strong>")[1]
    assert "地点：<del>512002 雁江区建设路12号</del> → <ins>512021 雁江区建设路12号</ins>" in entry


def test_the_flags_beside_the_state_show_on_the_case_page(hub, app) -> None:
    """#20's flags "beside the state": 催办 counted per case, a 不合理诉求 application and its
    approval, as tags beside the state on the case page."""
    from hub.domain import commands as c

    number = _case(hub, "awaiting_sign_off")
    unit, boss = Actor("scj-key", Role.UNIT, unit_code="ZY-SCJGJ"), Actor("boss", Role.SUPERVISOR)
    hub.cases.act(number, c.SignOff(), unit)
    hub.cases.act(number, c.Chase(reason="市民再次来电"), boss)
    hub.cases.act(number, c.Chase(reason="市民第三次来电"), boss)
    hub.cases.act(number, c.RequestUnreasonable(reason="诉求超出法定职责范围"), unit)
    wang = Person(app).sign_in("wang", PASSWORD)

    def state_line() -> str:
        return re.search(r"<dt>状态</dt><dd>(.*?)</dd>", wang.get(f"/console/cases/{number}").text, re.S).group(1)

    assert "催办 2 次" in state_line() and "不合理诉求待认定" in state_line()
    hub.cases.act(number, c.DecideUnreasonable(approved=True), boss)
    assert "不合理诉求（已认定）" in state_line() and "待认定" not in state_line()
