"""A county that cannot push: the hub polls its feed (lezhi), applies tickets and updates
as if pushed, keeps its cursor durably, and one lease keeps it to one poller."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from adapters.county.intake import CountyIntake
from adapters.county.poller import CountyPoller
from adapters.county.sandbox import CountySandboxState, create_app
from hub.db.models import WorkerPassRow
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.integration.contract import AdapterError
from hub.settings import Settings
from tests.support.live import LiveServer

pytestmark = pytest.mark.e2e

AGENT = Actor(party="centre-agent", role=Role.AGENT)


def _ms(clock, minutes: int = 0) -> int:
    return int((clock.now() + timedelta(minutes=minutes)).timestamp() * 1000)


@pytest.fixture
def settings(db_url: str) -> Settings:
    # lezhi is polled only because a destination names it (the default install polls nobody).
    return Settings(
        database_url=db_url,
        sqlite_synchronous="NORMAL",
        destinations={"county-lezhi": {"adapter": "county", "settings": {"county": "lezhi", "url": "http://127.0.0.1:9/gd"}}},
    )


@pytest.fixture
def lezhi(hub):
    intake = hub.handles.get(CountyIntake)
    cfg = intake.counties["lezhi"]
    state = CountySandboxState(cfg)
    with LiveServer(create_app(state)) as live:
        poller = CountyPoller(hub, cfg, intake, intake.store, f"{live.url}/feed")
        yield state, live, poller
        poller.stop()


def test_the_feed_is_applied_once_and_resumed_after_a_restart(hub, clock, lezhi) -> None:
    state, live, poller = lezhi
    assert [w.name for w in hub.workers if w.name.startswith("county-poller")] == ["county-poller-lezhi"]
    ticket = {
        "GDBH": "LZ-100",
        "SLSJ": _ms(clock),
        "SQLX": "3",
        "SXFL": "201",
        "BT": "商品质量投诉",
        "NR": "买到过期食品。",
        "QHDM": "512022",
        "DZ": "乐至县天池镇",
        "XM": "王五",
        "DH": "13700137000",
        "JJCD": "0",
    }
    httpx.post(f"{live.url}/control/feed", json={"tickets": [ticket, {**ticket, "GDBH": "LZ-101", "SXFL": "nope"}]}).raise_for_status()
    first = poller.poll_once()
    assert (first.tickets, first.cursor) == (2, "2")
    assert len(first.refused) == 1 and "tickets[1].SXFL" in first.refused[0]
    case = hub.cases.find_by_ref("county.lezhi", "LZ-100")
    assert case is not None and case.category_code == "0201" and case.request_type.value == "complaint"
    assert hub.cases.find_by_ref("county.lezhi", "LZ-101") is None
    assert poller.poll_once().tickets == 0  # nothing new past the cursor

    hub.cases.act(case.number, c.Accept(), AGENT)
    hub.cases.act(case.number, c.Dispatch(lead_unit="LZ-GOV"), AGENT)
    updates = [
        {"GDBH": "LZ-100", "CZLX": "10", "CZSJ": _ms(clock, 5), "CZBH": "u1"},
        {"GDBH": "LZ-100", "CZLX": "77", "CZSJ": _ms(clock, 6), "CZBH": "u2"},
        {"GDBH": "LZ-100", "CZLX": "20", "CZSJ": _ms(clock, 3), "CZBH": "u3", "CZNR": "older than the sign-off"},
        {"GDBH": "LZ-100", "CZLX": "50", "CZSJ": _ms(clock, 9), "CZBH": "u4", "CZNR": "已处理"},
    ]
    httpx.post(f"{live.url}/control/feed", json={"updates": updates}).raise_for_status()
    second = poller.poll_once()
    assert second.updates == 4 and len(second.refused) == 1 and "updates[1].CZLX" in second.refused[0]
    after = hub.cases.get(case.number, AGENT)
    assert after.state.value == "replied" and after.outcome.reply.text == "已处理"
    assert [h.action for h in after.history][-3:] == ["dispatch", "sign_off", "reply"]  # the stale progress is ignored

    # A restarted poller resumes at the stored cursor: nothing is applied twice.
    restarted = CountyPoller(hub, poller.cfg, poller.intake, poller.store, poller.url)
    restarted.lease = poller.lease  # the same holder, as after a restart within the lease
    assert restarted.poll_once().cursor == "6"
    assert len(hub.cases.get(case.number, AGENT).history) == len(after.history)


def test_one_poller_at_a_time(hub, lezhi) -> None:
    _, _, poller = lezhi
    other = CountyPoller(hub, poller.cfg, poller.intake, poller.store, poller.url)
    assert poller.poll_once().leased is True
    assert other.poll_once().leased is False
    poller.lease.release()
    assert other.poll_once().leased is True


def test_a_poll_records_its_pass_and_a_feed_that_is_down_does_not(hub, clock, lezhi) -> None:
    def passes() -> tuple:
        with hub.db.read() as s:
            row = s.get(WorkerPassRow, "county-poller-lezhi")
            return row.last_success_at, row.last_error_at

    _, _, poller = lezhi
    assert poller.poll_once().leased
    polled = clock.now()
    assert passes() == (polled, None)

    poller.lease.release()  # the next leader reads a feed nobody serves (port 9)
    down = CountyPoller(hub, poller.cfg, poller.intake, poller.store, "http://127.0.0.1:9/feed")
    clock.advance(timedelta(minutes=2))
    with pytest.raises(AdapterError):
        down.poll_once()
    assert passes() == (polled, clock.now())
