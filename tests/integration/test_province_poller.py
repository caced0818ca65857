"""省转办 end to end inside the hub: the sandbox province over real HTTP (SOAP and REST),
the poller registering assigned cases in a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import pytest

from adapters.province.adapter import ProvinceAdapter
from adapters.province.handle import ProvincePollers
from adapters.province.poller import ProvincePoller
from adapters.province.sandbox import ProvinceState, create_app
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import CaseState, Role
from hub.integration.contract import AdapterContext
from hub.integration.registry import build_adapter
from hub.runtime import build_hub
from hub.settings import DestinationConfig
from tests.support.live import LiveServer

AGENT = Actor(party="centre-agent", role=Role.AGENT)
UNIT = Actor(party="ZY-SCJGJ", role=Role.UNIT, unit_code="ZY-SCJGJ")


@pytest.fixture
def province():
    state = ProvinceState()
    with LiveServer(create_app(state)) as live:
        yield live, state


def _settings(live, transport: str) -> dict:
    return {"transport": transport, "endpoint": f"{live.url}/{'soap' if transport == 'soap' else 'rest'}", "timeout": 2.0, "page_size": 2}


def _poller(hub, live, transport: str, holder: str) -> ProvincePoller:
    context = AdapterContext(destination="province", clock=hub.clock, mappings_dir=hub.settings.mappings_dir)
    adapter = build_adapter("province", "province", _settings(live, transport), context)
    assert isinstance(adapter, ProvinceAdapter)
    return ProvincePoller(hub, adapter, "province", lease_seconds=60, holder=holder)


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_assigned_case_is_pulled_once_acknowledged_and_dispatched(hub, province, transport) -> None:
    live, state = province
    first_id = state.assign(AppealType="03", CategoryCode="B01", AreaCode="512002000000")
    poller = _poller(hub, live, transport, holder="a")
    result = poller.run_once()
    assert result.leader and len(result.created) == 1 and result.failed == []
    number = result.created[0]
    assert state.acks == {first_id: number}

    # Pulled again (the province re-offers it, or our cursor was lost): still one case.
    with hub.db.write() as s:
        from adapters.province.tables import ProvinceCursorRow

        s.get(ProvinceCursorRow, "province").cursor = None
    again = poller.run_once()
    assert again.created == [] and again.existing == [number]
    assert state.acks == {first_id: number}

    case = hub.cases.find_by_ref("province", first_id)
    assert case is not None and case.number == number and case.intake.channel.value == "province"
    assert (case.request_type.value, case.category_code, case.place.division_code) == ("complaint", "0201", "512002")
    assert case.history[0].role is Role.PROVINCE

    hub.cases.act(number, c.Accept(), AGENT)
    dispatched = hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    assert dispatched.state is CaseState.AWAITING_SIGN_OFF
    assert hub.cases.act(number, c.SignOff(), UNIT).state is CaseState.IN_PROGRESS


def test_only_the_lease_holder_polls(hub, province) -> None:
    live, state = province
    state.assign()
    a, b = _poller(hub, live, "soap", holder="a"), _poller(hub, live, "soap", holder="b")
    assert a.run_once().leader
    calls = len(state.calls)
    second = b.run_once()
    assert not second.leader and second.created == [] and len(state.calls) == calls  # b never called the province
    a.lease.release()
    assert b.run_once().leader


def test_cursor_is_durable_and_pages_through(hub, province) -> None:
    live, state = province
    ids = [state.assign(Title=f"第{i}件") for i in range(3)]
    poller = _poller(hub, live, "soap", holder="a")
    assert len(poller.run_once().created) == 2  # page_size 2
    assert poller.cursor() == "2"
    restarted = _poller(hub, live, "soap", holder="a")  # a new process reads the stored cursor
    assert len(restarted.run_once().created) == 1
    assert sorted(state.acks) == sorted(ids)


def test_one_bad_case_is_recorded_and_the_round_moves_on(hub, province) -> None:
    live, state = province
    bad = state.assign(AppealType="77")  # no such request type in mappings/province/codes.yaml
    good = state.assign()
    poller = _poller(hub, live, "soap", holder="a")
    result = poller.run_once()
    assert len(result.created) == 1 and [f[0] for f in result.failed] == [bad]
    assert poller.failures()[0][0] == bad and "request type" in poller.failures()[0][1]
    assert good in state.acks and bad not in state.acks
    assert poller.cursor() == "2"


def test_transient_fault_stops_the_round_without_moving_the_cursor(hub, province) -> None:
    live, state = province
    province_id = state.assign()
    poller = _poller(hub, live, "soap", holder="a")
    state.faults = ["ok", "transient"]  # FetchAssigned answers, the ack fails
    result = poller.run_once()
    assert result.stopped and "BUSY" in result.stopped and len(result.created) == 1
    assert poller.cursor() is None and state.acks == {}
    retry = poller.run_once()  # next round: the case is found, not created again, and acknowledged
    assert retry.created == [] and len(retry.existing) == 1 and province_id in state.acks


def test_feature_adds_a_poller_only_when_a_province_is_configured(settings, clock, province) -> None:
    live, _ = province
    plain = build_hub(settings, clock)
    try:
        assert plain.handles.get(ProvincePollers).pollers == [] and not any(isinstance(w, ProvincePoller) for w in plain.workers)
    finally:
        plain.close()
    configured = settings.model_copy(update={"destinations": {"sichuan": DestinationConfig(adapter="province", settings=_settings(live, "soap"))}})
    hub = build_hub(configured, clock)
    try:
        pollers = [w for w in hub.workers if isinstance(w, ProvincePoller)]
        assert len(pollers) == 1 and pollers[0].destination == "sichuan"
    finally:
        hub.close()


def test_worker_thread_polls_until_stopped(hub, province) -> None:
    import time

    live, state = province
    province_id = state.assign()
    poller = _poller(hub, live, "soap", holder="a")
    poller.interval = 0.05
    poller.start()
    try:
        deadline = time.monotonic() + 60
        while province_id not in state.acks and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert province_id in state.acks
    assert _poller(hub, live, "soap", holder="b").lease.acquire()  # stop() released the lease
