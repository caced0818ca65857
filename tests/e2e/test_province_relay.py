"""The provincial exchange end to end through the real outbox relay, on SQLite and PostgreSQL,
over SOAP and over REST: city cases created through the hub's API go up to the sandbox
province (ReportCase, then PushStatus in order) with the province's codes; the province's
faults are classified (server side retried until it heals, client side dead-lettered,
shown and replayed through the outbox API); cases the province assigns come down through
the poller once, are acknowledged, dispatched, and their changes go back up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.province.handle import ProvincePollers
from adapters.province.sandbox import ProvinceState, create_app
from adapters.province.tables import ProvinceCursorRow
from hub.settings import OutboxSettings, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DEAD, DELIVERED, PENDING, OutboxMessageRow
from tests.support.factories import draft
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["soap", "rest"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def province():
    state = ProvinceState()
    with LiveServer(create_app(state)) as live:
        yield state, live.url


@pytest.fixture
def settings(db_url: str, province, transport: str) -> Settings:
    _, url = province
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        # Backoff short enough for a manual clock to step over it; the breaker out of the way.
        outbox=OutboxSettings(
            batch=20, concurrency=4, backoff_base_seconds=0.01, backoff_max_seconds=0.5, max_attempts=6, breaker_failures=50, lease_seconds=30
        ),
        destinations={
            "province": {
                "adapter": "province",
                "events": ["case.*"],
                "personal_data": True,
                "settings": {"transport": transport, "endpoint": f"{url}/{transport}", "timeout": 3.0, "connect_timeout": 1.0},
            }
        },
    )


def relay(hub):
    return hub.handles.get(OutboxHandle).relay()


def act(client, number: str, **action) -> dict:
    resp = client.post(f"/api/v1/cases/{number}/actions", json=action)
    assert resp.status_code == 200, resp.text
    return resp.json()


def register(api, **changes) -> str:
    resp = api["agent"].post("/api/v1/cases", json=draft(**changes))
    assert resp.status_code == 201, resp.text
    return resp.json()["number"]


def outbox_rows(hub, case_number: str) -> list[OutboxMessageRow]:
    with hub.db.read() as s:
        return list(
            s.execute(
                select(OutboxMessageRow)
                .where(OutboxMessageRow.destination == "province", OutboxMessageRow.case_number == case_number)
                .order_by(OutboxMessageRow.sequence)
            ).scalars()
        )


def reported_as(state: ProvinceState, number: str) -> tuple[str, dict]:
    with state.lock:
        found = [(pid, order) for pid, order in state.reported.items() if order["CityCaseNo"] == number]
    assert len(found) == 1, f"the province holds {len(found)} reports of {number}"
    return found[0]


# -- up: a city case and its whole life ------------------------------------------------------
def test_a_city_case_goes_up_with_province_codes_and_its_changes_follow_in_order(hub, api, province, transport) -> None:
    state, _ = province
    number = register(api, **{"category_code": "0201", "title": "网购商品质量问题"})
    agent, unit, supervisor = api["agent"], api["unit"], api["supervisor"]
    # The whole life before the relay runs once: order must come from the outbox, not from timing.
    act(agent, number, action="accept")
    act(agent, number, action="dispatch", lead_unit="ZY-SCJGJ")
    act(unit, number, action="sign_off")
    act(supervisor, number, action="supervise", reason="群众反映强烈，请加快办理")
    act(unit, number, action="report_progress", text="已到现场核实")
    act(unit, number, action="request_extension", working_days=5, reason="需协调商家与厂家")
    act(supervisor, number, action="decide_extension", approved=True)
    act(unit, number, action="reply", text="商家已同意退货，问题已解决。")
    act(supervisor, number, action="review_reply", approved=True)
    act(agent, number, action="follow_up", reached=True, resolved=True, satisfaction="satisfied")
    closed = act(supervisor, number, action="archive")
    assert closed["state"] == "archived"

    handled = relay(hub).drain(120)
    assert handled == 13

    province_id, order = reported_as(state, number)
    assert (order["AppealType"], order["CategoryCode"], order["AreaCode"], order["Urgency"]) == ("03", "B01", "512002000000", "1")
    assert (order["AppealerName"], order["AppealerPhone"]) == ("张三", "13800138000")  # personal_data: the province sees the caller
    assert order["Title"] == "网购商品质量问题" and order["Channel"] == "phone"

    pushes = state.pushes(province_id)
    assert [p["StatusCode"] for p in pushes] == ["10", "20", "30", "90", "31", "32", "33", "40", "41", "50", "60", "70"]
    assert [p["Seq"] for p in pushes] == list(range(2, 14))  # the outbox's per-case sequence; 1 was ReportCase
    assert pushes[1]["HandlerUnit"] == "SC512000-SCJG"  # the unit in the province's code
    assert (pushes[5]["ExtensionDays"], pushes[5]["Opinion"]) == ("5" if transport == "soap" else 5, "需协调商家与厂家")
    assert pushes[7]["Opinion"] == "商家已同意退货，问题已解决。"
    assert pushes[9]["Satisfaction"] == "1"
    rows = outbox_rows(hub, number)
    assert {r.status for r in rows} == {DELIVERED} and all(r.attempts == 1 for r in rows)
    with state.lock:  # what took effect at the province is exactly the outbox's keys, in order
        assert [k for k in state.accepted if k.startswith("province:")] == [r.idempotency_key for r in rows]

    case = agent.get(f"/api/v1/cases/{number}").json()
    assert {"system": "province", "external_id": province_id} in [{k: r[k] for k in ("system", "external_id")} for r in case["external_refs"]]

    # Delivered again (a relay died after sending): the province applies nothing twice.
    with hub.db.write() as s:
        for row in s.execute(select(OutboxMessageRow).where(OutboxMessageRow.case_number == number)).scalars():
            row.status, row.attempts = PENDING, 0
    relay(hub).drain(120)
    assert state.pushes(province_id) == pushes and len([o for o in state.reported.values() if o["CityCaseNo"] == number]) == 1


# -- faults ------------------------------------------------------------------------------------
def test_server_faults_are_retried_until_the_province_heals(hub, api, province, clock) -> None:
    state, _ = province
    with state.lock:  # a soap:Server BUSY / REST 503 BUSY, a server fault with a code not in faults.yaml, a gateway page
        state.faults = ["transient", "unknown", "http503"]
    number = register(api)
    r = relay(hub)
    errors = []
    for _ in range(3):
        r.drain(120)
        (row,) = outbox_rows(hub, number)
        assert row.status == PENDING, row.last_error
        errors.append(row.last_error)
        assert state.reported == {}
        clock.advance(timedelta(seconds=1))  # past the backoff (at most 0.5 s here)
    assert "BUSY" in errors[0] and "E999" in errors[1] and "503" in errors[2]
    assert [int(e.rsplit("attempt ", 1)[1].split(" ")[0]) for e in errors] == [1, 2, 3]

    act(api["agent"], number, action="accept")
    r.drain(120)
    rows = outbox_rows(hub, number)
    assert [(row.event_type, row.status, row.attempts) for row in rows] == [("case.registered", DELIVERED, 4), ("case.accepted", DELIVERED, 1)]
    province_id, _ = reported_as(state, number)
    assert [p["StatusCode"] for p in state.pushes(province_id)] == ["10"]


def test_client_faults_are_dead_lettered_shown_and_replayed_through_the_outbox_api(hub, api, province) -> None:
    state, _ = province
    with state.lock:
        state.faults = ["permanent"]  # soap:Client INVALID_REQUEST / REST 400
    number = register(api)
    r = relay(hub)
    r.drain(120)
    act(api["agent"], number, action="accept")  # held behind the dead report: never pushed for a case the province lacks
    r.drain(120)
    assert [(row.status, row.attempts) for row in outbox_rows(hub, number)] == [(DEAD, 1), (PENDING, 0)]

    supervisor = api["supervisor"]
    dead = supervisor.get("/api/v1/outbox/dead", params={"destination": "province"}).json()
    assert [(d["case_number"], d["event_type"], d["sequence"], d["holding"]) for d in dead] == [(number, "case.registered", 1, 1)]
    assert "INVALID_REQUEST" in dead[0]["last_error"]
    (dest,) = [d for d in supervisor.get("/api/v1/outbox/destinations").json() if d["destination"] == "province"]
    assert (dest["dead"], dest["backlog"], dest["held_cases"], dest["held_messages"]) == (1, 1, 1, 1)
    assert api["agent"].get("/api/v1/outbox/dead").status_code == 403  # an operator's tool

    # The operator fixed the cause at the province; replay the destination's dead letters.
    replayed = supervisor.post("/api/v1/outbox/replay", json={"destination": "province"})
    assert replayed.status_code == 200 and replayed.json() == {"replayed": 1}
    r.drain(120)
    assert [(row.status, row.attempts) for row in outbox_rows(hub, number)] == [(DELIVERED, 1), (DELIVERED, 1)]
    province_id, _ = reported_as(state, number)
    assert [p["StatusCode"] for p in state.pushes(province_id)] == ["10"]
    with state.lock:  # sent again under its original key
        assert state.report_requests == {dead[0]["idempotency_key"]: province_id}
    assert supervisor.get("/api/v1/outbox/dead", params={"destination": "province"}).json() == []


# -- down: 省转办 ------------------------------------------------------------------------------
def test_an_assigned_case_is_pulled_once_acknowledged_dispatched_and_its_changes_go_back_up(hub, api, province) -> None:
    state, _ = province
    province_id = state.assign(AppealType="01", CategoryCode="C02", Title="医保异地报销咨询", AreaCode="512002000000")
    (poller,) = hub.handles.get(ProvincePollers).pollers
    first = poller.run_once()
    assert first.leader and len(first.created) == 1 and first.failed == []
    number = first.created[0]

    state.assign(ProvinceCaseId=province_id)  # the province offers the same case again
    with hub.db.write() as s:  # and our cursor is lost: the whole list is pulled a second time
        s.get(ProvinceCursorRow, "province").cursor = None
    second = poller.run_once()
    assert second.created == [] and second.existing == [number, number] and second.failed == []
    assert state.acks == {province_id: number}
    found = api["agent"].get("/api/v1/cases", params={"q": "医保异地报销"}).json()["items"]
    assert [c["number"] for c in found] == [number]

    case = api["agent"].get(f"/api/v1/cases/{number}").json()
    assert (case["intake"]["channel"], case["request_type"], case["category_code"]) == ("province", "enquiry", "0302")
    act(api["agent"], number, action="accept")
    assert act(api["agent"], number, action="dispatch", lead_unit="ZY-RSJ")["state"] == "awaiting_sign_off"
    act(api["other_unit"], number, action="sign_off")

    relay(hub).drain(120)
    with state.lock:
        assert [o for o in state.reported.values() if o["CityCaseNo"] == number] == []  # not reported back as a city case
    pushes = state.pushes(province_id)
    assert [(p["StatusCode"], p["Seq"]) for p in pushes] == [("10", 2), ("20", 3), ("30", 4)]
    assert all(p["ProvinceCaseId"] == province_id and p["CityCaseNo"] == number for p in pushes)
    assert pushes[1]["HandlerUnit"] == "SC512000-RSJ"
    assert {r.status for r in outbox_rows(hub, number)} == {DELIVERED}


# -- 退回: a unit returns a case ----------------------------------------------------------------
def test_a_returned_case_goes_up_as_return_request_and_decision_in_order(hub, api, province, transport) -> None:
    """statuses.yaml 34 (退回申请) and 35 (退回审核): a refused return, then an approved one
    and the re-dispatch (21) it leads to, each with the unit and the reason or decision."""
    state, _ = province
    number = register(api)
    agent, unit, supervisor = api["agent"], api["unit"], api["supervisor"]
    act(agent, number, action="accept")
    act(agent, number, action="dispatch", lead_unit="ZY-SCJGJ")
    asked = act(unit, number, action="request_return", reason="不属于本单位职责，建议转住建部门")
    assert asked["state"] == "return_requested"
    assert act(supervisor, number, action="decide_return", approved=False)["state"] == "awaiting_sign_off"  # back to the unit
    act(unit, number, action="sign_off")
    act(unit, number, action="request_return", reason="经核实属于住建部门职责")
    assert act(supervisor, number, action="decide_return", approved=True)["state"] == "returned"
    assert act(agent, number, action="redispatch", lead_unit="ZY-ZJJ")["state"] == "awaiting_sign_off"

    relay(hub).drain(120)
    province_id, _ = reported_as(state, number)
    pushes = state.pushes(province_id)
    assert [(p["StatusCode"], int(p["Seq"])) for p in pushes] == [("10", 2), ("20", 3), ("34", 4), ("35", 5), ("30", 6), ("34", 7), ("35", 8), ("21", 9)]
    first_ask, refused, _, second_ask, approved, redispatched = pushes[2:]
    assert (first_ask["HandlerUnit"], first_ask["Opinion"]) == ("SC512000-SCJG", "不属于本单位职责，建议转住建部门")
    assert second_ask["Opinion"] == "经核实属于住建部门职责"
    # REST keeps JSON booleans; zeep reads xsd:boolean back as text in the sandbox.
    assert [str(p["Approved"]).lower() for p in (refused, approved)] == ["false", "true"]
    assert refused["HandlerUnit"] == approved["HandlerUnit"] == "SC512000-SCJG"  # the unit that asked
    assert redispatched["HandlerUnit"] == "SC512000-ZJJ"
    assert {r.status for r in outbox_rows(hub, number)} == {DELIVERED}
