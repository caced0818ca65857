"""Two /metrics series read from the database (SQLite file and PostgreSQL): each leader
worker's last successful pass (`worker_passes`, 0021), which a failing pass leaves where it
was, and the running cases warned (预警, the `cases.warned` column, 0021)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import inspect, select

from adapters.province.adapter import ProvinceAdapter
from adapters.province.poller import ProvincePoller
from adapters.province.sandbox import ProvinceState, create_app
from hub.db.migrate import alembic_config
from hub.db.models import CaseRow, WorkerPassRow
from hub.db.repository import CaseQuery, CaseRepository
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, CaseState, Role
from hub.integration.contract import AdapterContext
from hub.integration.registry import build_adapter
from supervision.scheduler import RunResult, Scheduler
from tests.support.factories import draft
from tests.support.live import LiveServer

AGENT = Actor("centre-agent", Role.AGENT)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
SUCCESS = "hub_worker_last_success_timestamp_seconds"


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=LOCAL_TZ)


def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def passes(hub, name: str) -> WorkerPassRow | None:
    with hub.db.read() as s:
        row = s.execute(select(WorkerPassRow).where(WorkerPassRow.name == name)).scalar_one_or_none()
        if row is not None:
            s.expunge(row)
        return row


class BrokenScheduler(Scheduler):
    """A scheduler whose sweep fails, as when the database drops in the middle of a pass."""

    def sweep(self) -> RunResult:
        raise RuntimeError("connection lost during the sweep")


def test_a_scheduler_pass_moves_the_time_and_a_failing_one_does_not(hub, clock, server) -> None:
    first = local(2025, 9, 26, 11, 0)
    clock.set(first)
    assert Scheduler(hub, holder="only").run_once().leased
    assert passes(hub, "scheduler").last_success_at == first
    assert scrape(server)[(SUCCESS, (("worker", "scheduler"),))] == first.timestamp()

    failed_at = local(2025, 9, 26, 11, 5)
    clock.set(failed_at)
    broken = BrokenScheduler(hub, holder="only")  # the same holder: it leads, and its pass fails
    broken.round()  # logged, not raised: the loop goes on
    row = passes(hub, "scheduler")
    assert (row.last_success_at, row.last_error_at) == (first, failed_at)
    assert row.last_error == "RuntimeError: connection lost during the sweep"
    got = scrape(server)
    assert got[(SUCCESS, (("worker", "scheduler"),))] == first.timestamp()
    assert got[("hub_worker_last_error_timestamp_seconds", (("worker", "scheduler"),))] == failed_at.timestamp()

    later = local(2025, 9, 26, 11, 10)
    clock.set(later)
    Scheduler(hub, holder="only").run_once()
    assert passes(hub, "scheduler").last_success_at == later


def test_a_process_that_does_not_lead_records_no_pass(hub, clock) -> None:
    assert Scheduler(hub, holder="leader").run_once().leased
    before = passes(hub, "scheduler")
    clock.advance(timedelta(minutes=1))
    assert not Scheduler(hub, holder="standby").run_once().leased
    assert passes(hub, "scheduler").last_success_at == before.last_success_at


def _province_poller(hub, url: str) -> ProvincePoller:
    context = AdapterContext(destination="province", clock=hub.clock, mappings_dir=hub.settings.mappings_dir)
    adapter = build_adapter("province", "province", {"transport": "rest", "endpoint": f"{url}/rest", "timeout": 2.0}, context)
    assert isinstance(adapter, ProvinceAdapter)
    return ProvincePoller(hub, adapter, "province", lease_seconds=600, holder="a")


def test_a_poller_whose_peer_is_gone_keeps_its_last_success(hub, clock, server) -> None:
    state = ProvinceState()
    state.assign()
    polled = local(2025, 9, 26, 12, 0)
    clock.set(polled)
    with LiveServer(create_app(state)) as live:
        poller = _province_poller(hub, live.url)
        result = poller.run_once()
        assert result.leader and len(result.created) == 1 and result.stopped is None
    assert passes(hub, "province-poller:province").last_success_at == polled

    clock.set(polled + timedelta(minutes=3))
    result = poller.run_once()  # the province's server is down now
    assert result.leader and result.stopped
    row = passes(hub, "province-poller:province")
    assert (row.last_success_at, row.last_error_at) == (polled, polled + timedelta(minutes=3))
    assert scrape(server)[(SUCCESS, (("worker", "province-poller:province"),))] == polled.timestamp()


def _dispatched_enquiry(hub) -> str:
    number = hub.cases.register(CaseDraft.model_validate(draft(request_type="enquiry")), AGENT).case.number
    hub.cases.act(number, c.Accept(), AGENT)
    hub.cases.act(number, c.Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    return number


def test_warned_counts_the_running_warned_cases_only(hub, clock, server) -> None:
    # Friday 2025-09-26 10:00: three enquiries (3 working days) to ZY-SCJGJ, and one left registered.
    clock.set(local(2025, 9, 26, 10, 0))
    a, b, replied = (_dispatched_enquiry(hub) for _ in range(3))
    hub.cases.register(CaseDraft.model_validate(draft()), AGENT)
    clock.set(local(2025, 9, 28, 14, 0))
    for number in (a, b, replied):
        hub.cases.act(number, c.SignOff(), UNIT)
    assert not any(key[0] == "hub_cases_warned" for key in scrape(server))  # nothing warned yet

    # Completion due 30th 23:59:59; warned from 0.8 of the limit, 30th 02:00 (docs/deadlines.md).
    clock.set(local(2025, 9, 30, 2, 0))
    assert sorted(Scheduler(hub, holder="only").run_once().warned) == sorted(f"{n}:completion" for n in (a, b, replied))
    clock.set(local(2025, 9, 30, 9, 0))
    after = hub.cases.act(replied, c.ReplyCmd(text="已答复诉求人"), UNIT)
    assert after.flags.warned and after.state is not CaseState.IN_PROGRESS  # still flagged, no longer running

    got = scrape(server)
    warned = {labels: n for (name, labels), n in got.items() if name == "hub_cases_warned"}
    assert warned == {(("state", "in_progress"),): 2}  # a and b; the replied one is not running
    with hub.db.read() as s:  # the console's 预警与超期 queue reads the same column
        queue, _ = CaseRepository(s).list(CaseQuery(warning=True), AGENT, clock.now())
    assert sorted(case.number for case in queue) == sorted((a, b))
    with hub.db.read() as s:  # the column says what each document says
        rows = s.execute(select(CaseRow.number, CaseRow.warned, CaseRow.doc)).all()
    assert all(row.warned == bool(row.doc["flags"]["warned"]) for row in rows) and len(rows) == 4

    # Cases warned before 0021: stepped back (the column dropped) and applied again, its backfill
    # sets the column from the documents.
    cfg = alembic_config(hub.db.writer)
    command.downgrade(cfg, "0021_worker_passes@-1")
    with hub.db.writer.connect() as conn:
        assert "warned" not in {col["name"] for col in inspect(conn).get_columns("cases")}
    command.upgrade(cfg, "heads")
    with hub.db.read() as s:
        assert set(s.execute(select(CaseRow.number).where(CaseRow.warned.is_(True))).scalars()) == {a, b, replied}
    assert {labels: n for (name, labels), n in scrape(server).items() if name == "hub_cases_warned"} == {(("state", "in_progress"),): 2}
