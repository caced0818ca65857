"""The live bridge to a 双号并行 line (12315), against the sandbox line over real HTTP:
12345 cases in the line's domain go over through the outbox, cases the line takes come in."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from adapters.legacy_hotlines.bridge.adapter import LegacyBridgeAdapter
from adapters.legacy_hotlines.bridge.poller import LegacyPuller
from adapters.legacy_hotlines.bridge.refusals import RefusalSettled
from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.mapping import RowMapper
from adapters.legacy_hotlines.sandbox import SandboxLine, create_app, offer
from adapters.legacy_hotlines.tables import LegacyCursorRow
from hub.db.models import WorkerPassRow
from hub.domain.access import Actor
from hub.domain.commands import Accept, Dispatch
from hub.domain.model import CaseDraft, CaseState, Channel, Role
from hub.integration.contract import AdapterContext, MappingFailure, OutboundMessage, PermanentError, TransientError
from hub.settings import DestinationConfig, Settings
from outbox.feature import OutboxHandle
from tests.support.factories import draft
from tests.support.live import LiveServer

AGENT = Actor(party="centre-agent", role=Role.AGENT)


@pytest.fixture
def line():
    state = SandboxLine(line="12315")
    with LiveServer(create_app(state)) as live:
        yield state, live.url


@pytest.fixture
def bridged_hub(db_url, clock, line):
    from hub.runtime import build_hub

    state, url = line
    dest = DestinationConfig(adapter="legacy_bridge", settings={"line": "12315", "base_url": url, "timeout": 3.0}, events=["case.*"], personal_data=True)
    h = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", destinations={"line12315": dest}), clock)
    yield h
    for worker in h.workers:
        if getattr(worker, "name", "").startswith("legacy-puller"):
            worker.adapter.close()
    h.close()


def adapter_for(hub, url: str, **settings) -> LegacyBridgeAdapter:
    s = LegacyBridgeAdapter.settings_model.model_validate({"line": "12315", "base_url": url, "timeout": 3.0, **settings})
    return LegacyBridgeAdapter(s, AdapterContext("line12315", hub.clock, hub.settings.mappings_dir))


def accepted_case(hub, category: str) -> str:
    case = hub.cases.register(
        CaseDraft.model_validate(draft(category_code=category, title="电热水壶漏电", content="网购的电热水壶漏电，商家拒绝退货")), AGENT
    ).case
    hub.cases.act(case.number, Accept(), AGENT)
    return case.number


def relay(hub):
    return hub.handles.get(OutboxHandle).relay()


def test_cases_in_the_lines_domain_go_over_through_the_outbox(bridged_hub, line):
    state, _ = line
    hub = bridged_hub
    market = accepted_case(hub, "0201")  # 消费维权: 12315's domain ("02")
    noise = accepted_case(hub, "0101")  # 城市管理: not the line's
    r = relay(hub)
    try:
        r.drain(120)
    finally:
        r.close()
    assert len(state.received) == 1
    ((line_id, payload),) = state.received.items()
    assert payload["hub_case_number"] == market
    assert payload["问题类别"] == "01" and payload["诉求类型"] == "投诉" and payload["所属区域"] == "雁江区"
    assert payload["诉求内容"] == "网购的电热水壶漏电，商家拒绝退货" and payload["登记时间"] == "2025年09月26日 09:58"
    assert hub.cases.find_by_ref("legacy.12315", line_id).number == market  # the outbox stored the line's id
    assert hub.cases.get(noise, AGENT).external_id("legacy.12315") is None


def test_deliver_sorts_the_lines_failures_into_the_contract(bridged_hub, line):
    state, url = line
    hub = bridged_hub
    number = accepted_case(hub, "0202")
    case = hub.cases.get(number, AGENT)
    message = OutboundMessage(
        idempotency_key=f"t-{number}-2",
        destination="line12315",
        case_number=number,
        sequence=2,
        event_type="case.accepted",
        event={},
        case=case.model_dump(mode="json"),
    )
    adapter = adapter_for(hub, url)
    try:
        state.faults.append("503")
        with pytest.raises(TransientError) as busy:
            adapter.deliver(message)
        assert busy.value.retry_after == 1.0
        state.faults.append("400")
        with pytest.raises(PermanentError):
            adapter.deliver(message)
        first = adapter.deliver(message)
        again = adapter.deliver(message.model_copy(update={"attempt": 2}))
        assert first.external_ref == again.external_ref and len(state.received) == 1  # the key dedupes at the line
        group = message.case | {"category_code": "05"}  # in no domain of 12315
        assert adapter.deliver(message.model_copy(update={"case": group})).external_ref is None
        wide = adapter_for(hub, url, categories=["0"])  # widened by settings: 0101 has no 12315 code
        try:
            other = wide.deliver(message.model_copy(update={"idempotency_key": "t-other", "case": message.case | {"category_code": "0101"}}))
            assert state.received[other.external_ref.external_id]["问题类别"] == "09"  # the line's 其他
        finally:
            wide.close()
    finally:
        adapter.close()
    bare = adapter_for(hub, url)
    bare.mapping = bare.mapping.model_copy(update={"outbound_other_category": None})
    try:
        with pytest.raises(MappingFailure):
            bare.to_line(message.model_copy(update={"case": message.case | {"category_code": "0102"}}))
    finally:
        bare.close()


def test_cases_the_line_takes_come_in_once_and_are_acknowledged(bridged_hub, line):
    state, _ = line
    hub = bridged_hub
    ids = [offer(state), offer(state, 问题类别="02", 诉求内容="餐馆食品变质"), offer(state, 问题类别="77")]
    puller = next(w for w in hub.workers if getattr(w, "name", "") == "legacy-puller-12315")
    first = puller.run_once()
    assert len(first.created) == 2 and len(first.refused) == 1 and "code '77' has no mapping" in first.refused[0]
    case = hub.cases.find_by_ref("legacy.12315", ids[0])
    assert case.state is CaseState.REGISTERED and case.intake.channel is Channel.LEGACY and case.category_code == "0201"
    assert state.acks == {ids[0]: case.number, ids[1]: hub.cases.find_by_ref("legacy.12315", ids[1]).number}
    # The item the hub could not map is not lost: it is recorded, with why, for an operator.
    refusals = hub.handles.get(Legacy).refusals
    (refused,) = refusals.list("pending", "12315")
    assert (refused.line_case_id, refused.stage, refused.attempts, refused.case_number) == (ids[2], "map", 1, None)
    assert "code '77' has no mapping" in refused.reason and "测试人" not in refused.reason
    assert ids[2] not in state.acks  # nor acknowledged: the line has not been told 12345 holds it
    assert puller.run_once().created == []  # the cursor moved on
    with hub.db.write() as s:  # the cursor lost (a restore): the line's ids still dedupe
        s.execute(delete(LegacyCursorRow))
    again = puller.run_once()
    assert again.created == [] and sorted(again.existing) == sorted(state.acks.values())
    assert [(r.id, r.attempts) for r in refusals.list("pending")] == [(refused.id, 2)]  # the same item: one record
    # A case that came from the line is not sent back to it when 12345 accepts it.
    hub.cases.act(case.number, Accept(), AGENT)
    r = relay(hub)
    try:
        r.drain(120)
    finally:
        r.close()
    assert state.received == {}


def test_status_changes_of_a_case_the_line_holds_are_pushed_over_rest(bridged_hub, line):
    state, url = line
    hub = bridged_hub
    number = accepted_case(hub, "0201")
    r = relay(hub)
    try:
        r.drain(120)
    finally:
        r.close()
    (line_id,) = state.received
    hub.cases.act(number, Dispatch(lead_unit="ZY-SCJGJ"), AGENT)
    case = hub.cases.get(number, AGENT)
    message = OutboundMessage(
        idempotency_key=f"t-{number}-3",
        destination="line12315",
        case_number=number,
        sequence=3,
        event_type="case.dispatched",
        case=case.model_dump(mode="json", exclude={"history"}),
        event={"state": "awaiting_sign_off", "occurred_at": "2025-09-26T10:00:00+08:00"},
    )
    adapter = adapter_for(hub, url)
    adapter.bridge = adapter.bridge.model_copy(update={"status_events": ["case.dispatched"]})  # as lines.yaml could say
    try:
        assert "pushed" in adapter.deliver(message).detail
        assert "pushed" in adapter.deliver(message.model_copy(update={"attempt": 2})).detail
        (change,) = state.statuses[line_id]  # the key dedupes at the line
        assert (change["hub_case_number"], change["event"], change["hub_state"], change["unit"], change["seq"]) == (
            number,
            "case.dispatched",
            "awaiting_sign_off",
            "市局",
            3,
        )
        assert change["occurred_at"] == "2025年09月26日 10:00" and change["id"] == line_id
        stranger = message.model_copy(
            update={"idempotency_key": "t-stranger", "case_number": "512000202509269999", "case": message.case | {"external_refs": []}}
        )
        assert "holds no case" in adapter.deliver(stranger).detail  # the line answered 404: not a dead letter
    finally:
        adapter.close()


def test_a_parallel_line_without_a_bridge_is_warned_at_start(db_url, clock, line, caplog):
    from hub.runtime import build_hub, log_start_warnings

    _, url = line
    dest = DestinationConfig(adapter="legacy_bridge", settings={"line": "12315", "base_url": url}, events=["case.*"])
    caplog.set_level(logging.WARNING, logger="adapters.legacy")
    h = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", destinations={"line12315": dest}), clock)
    try:
        # Kept for the long-running processes (serve, relay), not logged by every one-shot command.
        assert not [r for r in caplog.records if r.name == "adapters.legacy"]
        ((logger, said),) = h.start_warnings
        assert logger == "adapters.legacy" and said.startswith("legacy line 12320 is 双号并行") and "no live bridge" in said
        log_start_warnings(h)
        warned = [r.getMessage() for r in caplog.records if r.name == "adapters.legacy"]
        assert warned == [said] and caplog.records[-1].levelname == "WARNING"
        assert list(h.handles.get(Legacy).unbridged) == ["12320"]
        assert [w.name for w in h.workers if getattr(w, "name", "").startswith("legacy-puller")] == ["legacy-puller-12315"]
    finally:
        for worker in h.workers:
            if getattr(worker, "name", "").startswith("legacy-puller"):
                worker.adapter.close()
        h.close()


def test_cases_the_line_takes_take_part_in_the_duplicate_search(bridged_hub, line, tmp_path):
    from adapters.legacy_hotlines.importing.importer import LegacyImporter
    from adapters.legacy_hotlines.tables import LegacyCandidateRow, LegacyRecordRow
    from tests.fixtures.legacy.samples import CSV_12315

    state, _ = line
    hub = bridged_hub
    own = accepted_case(hub, "0201")  # 12345's own: 09:58, the person's phone, the kettle
    importer = LegacyImporter(hub, hub.handles.get(Legacy).config, progress=None)
    importer.run("12315", CSV_12315, dedupe=False)  # SC2018120001: 张三's heater, 2018-12-28
    kettle = offer(state)  # the same person told 12315 about the same kettle at 09:30
    heater = offer(
        state,
        联系电话="13800001111",
        登记时间="2018年12月29日 10:00",
        标题="电暖器质量问题",
        诉求内容="在雁江区某商场购买的电暖器使用三天后无法加热，商家不给退换",
    )
    puller = next(w for w in hub.workers if getattr(w, "name", "") == "legacy-puller-12315")
    assert len(puller.run_once().created) == 2
    bridged = {i: hub.cases.find_by_ref("legacy.12315", i).number for i in (kettle, heater)}
    found = importer.dedupe()
    assert found.indexed_hub_cases == 3  # 12345's case and the two bridged ones; the imported ones are indexed already
    with hub.db.read() as s:
        pairs = {(r.case_a, r.case_b): (r.line_a, r.line_b) for r in s.execute(select(LegacyCandidateRow)).scalars()}
        records = {r.case_number: (r.line, r.original_id, r.run_id) for r in s.execute(select(LegacyRecordRow)).scalars()}
    assert pairs[(bridged[kettle], own)] == ("12315", "12345")  # a live-bridged case against 12345's own
    imported = hub.cases.find_by_ref("legacy.12315", "SC2018120001").number
    assert pairs[(imported, bridged[heater])] == ("12315", "12315")  # and against the line's imported history
    # Each case is in the index once: the bridged ones by the line's id, as an import of that id would be.
    assert records[bridged[kettle]] == ("12315", kettle, None) and records[own] == ("12345", own, None)
    assert len(records) == 2 + 5 + 1  # 5 rows of the sample were accepted by the import
    assert importer.dedupe().indexed_hub_cases == 0
    # An export that later lists a case the bridge brought in skips it (already held).
    export = CSV_12315.read_bytes().splitlines(keepends=True)[0] + (
        f"{kettle},2025年09月26日 09:30,测试人,13800138000,投诉,01,网购商品质量问题,网购的电热水壶漏电，商家拒绝退货,雁江区,雁江区,已办结,市局,,\r\n"
    ).encode("gbk")
    path = tmp_path / "live.csv"
    path.write_bytes(export)
    summary = importer.run("12315", path, dedupe=False)
    assert (summary.accepted, summary.skipped) == (0, 1)


def test_a_refused_case_is_taken_once_the_mapping_is_fixed(bridged_hub, line):
    state, _ = line
    hub = bridged_hub
    puller = hub.handles.get(Legacy).pullers["12315"]
    refusals = hub.handles.get(Legacy).refusals
    odd = offer(state, 问题类别="77", 诉求内容="网购的充电宝鼓包")
    assert puller.run_once().refused
    (refused,) = refusals.list()
    supervisor = Actor(party="centre-supervisor", role=Role.SUPERVISOR)
    still = puller.retry(refused.id, supervisor)  # the mapping is as it was: refused again, still pending
    assert (still.status, still.stage, still.attempts) == ("pending", "map", 2) and hub.cases.find_by_ref("legacy.12315", odd) is None
    # The operator adds the code to mappings/legacy/12315.yaml; the hub reads it at its next start.
    mapping = puller.adapter.mapping
    fixed = mapping.model_copy(update={"codes": mapping.codes.model_copy(update={"category": mapping.codes.category | {"77": "0205"}})})
    puller.adapter.mapper = RowMapper(fixed, hub.catalogue)
    taken = puller.retry(refused.id, supervisor)
    case = hub.cases.find_by_ref("legacy.12315", odd)
    assert (taken.status, taken.case_number, taken.decided_by) == ("taken", case.number, "centre-supervisor")
    assert case.category_code == "0205" and case.content == "网购的充电宝鼓包" and state.acks[odd] == case.number
    with pytest.raises(RefusalSettled):
        puller.retry(refused.id, supervisor)
    assert refusals.list() == [] and [r.id for r in refusals.list("taken")] == [refused.id]


def test_a_refused_acknowledgement_keeps_the_case_and_owes_the_line_its_ack(bridged_hub, line, monkeypatch):
    state, _ = line
    hub = bridged_hub
    puller = hub.handles.get(Legacy).pullers["12315"]
    refusals = hub.handles.get(Legacy).refusals
    line_id = offer(state)
    ack = puller.adapter.transport.acknowledge

    def refuse(*args):
        raise PermanentError("line 12315 answered 400 to the acknowledgement")

    monkeypatch.setattr(puller.adapter.transport, "acknowledge", refuse)
    first = puller.run_once()
    (refused,) = refusals.list()
    assert first.created == [refused.case_number] and refused.stage == "acknowledge" and line_id not in state.acks
    monkeypatch.setattr(puller.adapter.transport, "acknowledge", ack)
    taken = puller.retry(refused.id, AGENT)
    assert taken.status == "taken" and state.acks == {line_id: refused.case_number}
    assert hub.cases.find_by_ref("legacy.12315", line_id).number == refused.case_number  # registered once


def test_a_pull_records_its_pass_and_a_line_that_is_down_does_not(bridged_hub, line, clock):
    def passes() -> tuple:
        with bridged_hub.db.read() as s:
            row = s.get(WorkerPassRow, "legacy-puller-12315")
            return row.last_success_at, row.last_error_at

    state, _ = line
    offer(state)
    puller = next(w for w in bridged_hub.workers if getattr(w, "name", "") == "legacy-puller-12315")
    assert len(puller.run_once().created) == 1
    pulled = clock.now()
    assert passes() == (pulled, None)

    puller.lease.release()  # the next leader's line is down: nothing listens on port 9
    down = LegacyPuller(bridged_hub, adapter_for(bridged_hub, "http://127.0.0.1:9"))
    clock.advance(timedelta(minutes=2))
    with pytest.raises(TransientError):
        down.run_once()
    down.adapter.close()
    assert passes() == (pulled, clock.now())
