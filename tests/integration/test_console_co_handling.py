"""协办 and 二次派单 (issue #20) at the console, through the in-process app on SQLite and
PostgreSQL: the case page lists each co-unit's part and the township cascade; a co-unit's
clerk signs off and replies its part, a supervisor waives one; a township's clerk finds what
its county dispatched on and replies up. Expectations are written from the issue and hand
counts (the co-handling API test's calendar: a complaint dispatched Mon 2025-11-03 10:00 has
its part due to sign Tue Nov 4 and to reply Thu Nov 20, Beijing time)."""

from __future__ import annotations

import re

import pytest

from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from tests.integration.test_supervision_scheduler import local
from tests.support.console import PASSWORD, Person, console_app, fast_accounts
from tests.support.factories import draft

AGENT = Actor("api-agent", Role.AGENT)
VERSION = re.compile(r'name="version" value="(\d+)"')


@pytest.fixture
def app(hub):
    app = console_app(hub)
    accounts = fast_accounts(hub)
    accounts.create("yjgov", Role.UNIT, PASSWORD, "雁江区政府", unit_code="YJ-GOV")
    accounts.create("stz", Role.UNIT, PASSWORD, "松涛镇", unit_code="YJ-STZ")
    return app


def _tile(html: str, key: str) -> str:
    return re.search(rf'id="tile-{key}"><span class="n">([^<]*)</span>', html).group(1)


def _forms(html: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z_]+)"', html))


def _row(html: str, attr: str, unit: str) -> str:
    return re.search(rf'<tr {attr}="{unit}"[^>]*>(.*?)</tr>', html, re.S).group(1)


def _act(person: Person, number: str, action: str, **fields):  # noqa: ANN003, ANN202
    version = VERSION.search(person.get(f"/console/cases/{number}").text).group(1)
    resp = person.act(number, int(version), action, **fields)
    assert resp.status_code == 303, resp.text[-2000:]
    return person.get(f"/console/cases/{number}").text


def _co_handled(hub, clock, co_units: list[str]) -> str:  # noqa: ANN001
    clock.set(local(2025, 11, 3, 10))
    body = draft(intake={"channel": "phone", "received_at": "2025-11-03T09:50:00+08:00"})
    number = hub.cases.register(CaseDraft.model_validate(body), AGENT).case.number
    hub.cases.act(number, c.Accept(), AGENT)
    hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ", co_units=co_units), AGENT)
    return number


def test_a_co_unit_clerk_signs_off_and_replies_its_part_at_the_console(app, hub, clock) -> None:
    number = _co_handled(hub, clock, ["ZY-RSJ"])
    rsj = Person(app).sign_in("rsj", PASSWORD)

    # Its queue marks the case where it co-handles with its part's deadline; 协办待办 lists it.
    assert _tile(rsj.get("/console/").text, "parts") == "1"
    listed = rsj.get("/console/queues/parts").text
    assert number in listed and "协办待签收，2025-11-20 23:59 前" in listed
    assert "协办待签收" in rsj.get("/console/queues/to_sign_off").text

    page = rsj.get(f"/console/cases/{number}").text
    part = _row(page, "data-part", "ZY-RSJ")
    assert "待签收" in part and "2025-11-04 23:59" in part and "2025-11-20 23:59" in part
    # The part's own action, not the lead's: sign off first, nothing to reply yet.
    assert "sign_off_part" in _forms(page) and not {"sign_off", "reply", "reply_part"} & _forms(page)

    clock.set(local(2025, 11, 4, 9))
    rsj = Person(app).sign_in("rsj", PASSWORD)  # a new day, a new session
    page = _act(rsj, number, "sign_off_part")
    assert "办理中" in _row(page, "data-part", "ZY-RSJ") and "2025-11-04 09:00" in _row(page, "data-part", "ZY-RSJ")
    assert "reply_part" in _forms(page) and "sign_off_part" not in _forms(page)
    assert "协办办理中" in rsj.get("/console/queues/parts").text

    clock.set(local(2025, 11, 10, 15))
    rsj = Person(app).sign_in("rsj", PASSWORD)
    page = _act(rsj, number, "reply_part", text="已核实该企业用工情况")
    assert "已答复" in _row(page, "data-part", "ZY-RSJ") and "已核实该企业用工情况" in _row(page, "data-part", "ZY-RSJ")
    assert not {"sign_off_part", "reply_part"} & _forms(page)
    assert _tile(rsj.get("/console/").text, "parts") == "0"
    assert number not in rsj.get("/console/queues/parts").text

    # The centre sees the part on the case page too; the lead's queue has no co-unit mark.
    assert "已核实该企业用工情况" in Person(app).sign_in("wang", PASSWORD).get(f"/console/cases/{number}").text
    assert "协办待签收" not in Person(app).sign_in("scj", PASSWORD).get("/console/queues/to_sign_off").text


def test_a_supervisor_waives_an_open_part_and_only_an_open_one(app, hub, clock) -> None:
    number = _co_handled(hub, clock, ["ZY-RSJ", "YJ-GOV"])
    hub.cases.act(number, c.SignOffPart(), Actor("yj-key", Role.UNIT, unit_code="YJ-GOV"))
    hub.cases.act(number, c.ReplyPart(text="辖区已配合"), Actor("yj-key", Role.UNIT, unit_code="YJ-GOV"))
    zhao = Person(app).sign_in("zhao", PASSWORD)

    page = zhao.get(f"/console/cases/{number}").text
    waive = re.search(r'data-action="waive_part">(.*?)</form>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"', re.search(r'<select name="unit".*?</select>', waive, re.S).group(0)) == ["ZY-RSJ"]

    page = _act(zhao, number, "waive_part", unit="ZY-RSJ", reason="该诉求不涉及人社职责")
    assert "已免除" in _row(page, "data-part", "ZY-RSJ") and "该诉求不涉及人社职责" in _row(page, "data-part", "ZY-RSJ")
    assert "waive_part" not in _forms(page)  # no part left open
    rsj = Person(app).sign_in("rsj", PASSWORD)
    assert number not in rsj.get("/console/queues/parts").text
    assert not {"sign_off_part", "reply_part"} & _forms(rsj.get(f"/console/cases/{number}").text)


def test_a_township_clerk_finds_what_its_county_dispatched_on_and_replies_up(app, hub, clock) -> None:
    clock.set(local(2025, 11, 3, 10))
    body = draft(intake={"channel": "phone", "received_at": "2025-11-03T09:50:00+08:00"}, place={"address": "雁江区松涛镇某村", "division_code": "512002105"})
    number = hub.cases.register(CaseDraft.model_validate(body), AGENT).case.number
    hub.cases.act(number, c.Accept(), AGENT)
    hub.cases.act(number, c.Dispatch(lead_unit="YJ-GOV"), AGENT)
    yjgov, stz, wang = (Person(app).sign_in(u, PASSWORD) for u in ("yjgov", "stz", "wang"))
    _act(yjgov, number, "sign_off")
    assert _tile(stz.get("/console/").text, "forwarded") == "0"

    # The county-level lead dispatches on to its township from the case page's form.
    page = _act(yjgov, number, "forward", unit="YJ-STZ", due_at="2025-11-14T18:00")
    row = _row(page, "data-forward", "YJ-STZ")
    assert "松涛镇人民政府" in row and "雁江区人民政府" in row and "待签收" in row and "2025-11-14 18:00" in row

    # The centre sees who holds the case now; the township finds it in 二次派单待办, marked.
    assert re.search(r'id="holder">松涛镇人民政府', wang.get(f"/console/cases/{number}").text)
    assert _tile(stz.get("/console/").text, "forwarded") == "1"
    assert "二次派单待签收，2025-11-14 18:00 前" in stz.get("/console/queues/forwarded").text
    page = stz.get(f"/console/cases/{number}").text
    assert _forms(page) == {"sign_off_forward", "reply_forward", "return_forward", "request_forward_extension", "report_progress"}

    clock.set(local(2025, 11, 4, 9))
    yjgov, stz, wang = (Person(app).sign_in(u, PASSWORD) for u in ("yjgov", "stz", "wang"))
    _act(stz, number, "sign_off_forward")
    page = _act(stz, number, "reply_forward", text="已到现场处理完毕")
    row = _row(page, "data-forward", "YJ-STZ")
    assert "已答复上报" in row and "已到现场处理完毕" in row
    assert _tile(stz.get("/console/").text, "forwarded") == "0"
    # Back with the county: no township holds it, and the county replies the case.
    page = wang.get(f"/console/cases/{number}").text
    assert 'id="holder"' not in page
    assert "reply" in _forms(yjgov.get(f"/console/cases/{number}").text)
