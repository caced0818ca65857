"""The live bridge to a 双号并行 line that speaks SOAP (12320, lines.yaml bridge.transport: soap),
against the sandbox SOAP line over real HTTP with the shipped WSDL, through the real outbox
relay: 12345 cases in the line's domain go over and their later changes follow as status
pushes; cases the line takes come in once; faults are sorted, retried or dead-lettered."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from adapters.legacy_hotlines.bridge.adapter import LegacyBridgeAdapter
from adapters.legacy_hotlines.bridge.wire_soap import SoapLine
from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.sandbox_soap import SoapLineState, create_app
from adapters.legacy_hotlines.tables import LegacyCursorRow
from hub.domain.access import Actor
from hub.domain.commands import Accept, Dispatch
from hub.domain.model import CaseDraft, CaseState, Channel, Role
from hub.integration.contract import AdapterContext, OutboundMessage, PermanentError, TransientError
from hub.settings import DestinationConfig, Settings
from outbox.feature import OutboxHandle
from outbox.tables import DEAD, DELIVERED, PENDING, OutboxMessageRow
from tests.support.factories import draft
from tests.support.faults import AnswerRewriter
from tests.support.live import LiveServer

AGENT = Actor(party="centre-agent", role=Role.AGENT)
DEST = "line12320"


@pytest.fixture
def line():
    state = SoapLineState(line="12320")
    with LiveServer(create_app(state)) as live:
        yield state, f"{live.url}/soap"


@pytest.fixture
def bridged_hub(db_url, clock, line):
    from hub.runtime import build_hub

    state, url = line
    dest = DestinationConfig(adapter="legacy_bridge", settings={"line": "12320", "base_url": url, "timeout": 3.0}, events=["case.*"], personal_data=True)
    h = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", destinations={DEST: dest}), clock)
    yield h
    for worker in h.workers:
        if getattr(worker, "name", "").startswith("legacy-puller"):
            worker.adapter.close()
    h.close()


def accepted_case(hub, category: str) -> str:
    case = hub.cases.register(CaseDraft.model_validate(draft(category_code=category, title="医院乱收费", content="市某医院检查收费与公示价格不符")), AGENT).case
    hub.cases.act(case.number, Accept(), AGENT)
    return case.number


def drain(hub) -> None:
    r = hub.handles.get(OutboxHandle).relay()
    try:
        r.drain(120)
    finally:
        r.close()


def messages(hub) -> list[OutboxMessageRow]:
    with hub.db.read() as s:
        return list(s.execute(select(OutboxMessageRow).where(OutboxMessageRow.destination == DEST).order_by(OutboxMessageRow.id)).scalars())


def test_the_line_speaks_soap_by_its_configuration(bridged_hub, line):
    _, url = line
    s = LegacyBridgeAdapter.settings_model.model_validate({"line": "12320", "base_url": url})
    adapter = LegacyBridgeAdapter(s, AdapterContext(DEST, bridged_hub.clock, bridged_hub.settings.mappings_dir))
    try:
        assert isinstance(adapter.transport, SoapLine)  # lines.yaml: 12320 bridge.transport soap
        assert adapter.health().ok
    finally:
        adapter.close()


def test_cases_in_the_lines_domain_go_over_and_their_changes_follow(bridged_hub, line, caplog):
    state, _ = line
    hub = bridged_hub
    caplog.set_level(logging.DEBUG, logger="adapters.legacy.soap")
    health = accepted_case(hub, "0601")  # 医疗服务: 12320's domain ("06")
    noise = accepted_case(hub, "0101")  # 城市管理: not the line's
    drain(hub)
    assert len(state.received) == 1
    ((line_id, got),) = state.received.items()
    assert got["HubCaseNo"] == health and got["CategoryCode"] == "YL01" and got["AppealType"] == "1"
    assert got["AreaCode"] == "512002" and got["Urgency"] == "1" and got["AppealerName"] == "张三"
    assert got["ReceivedTime"].startswith("2025-09-26T09:58:00")
    assert hub.cases.find_by_ref("legacy.12320", line_id).number == health  # the outbox stored the line's id
    assert hub.cases.get(noise, AGENT).external_id("legacy.12320") is None
    # Envelopes are logged with the person masked.
    soap_log = "\n".join(r.getMessage() for r in caplog.records if r.name == "adapters.legacy.soap")
    assert "SubmitCase request" in soap_log and "张三" not in soap_log and "13800138000" not in soap_log

    hub.cases.act(health, Dispatch(lead_unit="ZY-WJW"), AGENT)
    hub.cases.act(noise, Dispatch(lead_unit="ZY-ZJJ"), AGENT)
    drain(hub)
    (push,) = state.statuses[line_id]
    assert (push["Event"], push["HubState"], push["HandlerUnit"], push["HubCaseNo"]) == ("case.dispatched", "awaiting_sign_off", "SWJW", health)
    assert push["HandlerUnitName"] == "资阳市卫生健康委员会" and push["LineCaseId"] == line_id
    assert [a["key"] for a in state.accepted] == [
        m.idempotency_key for m in messages(hub) if m.case_number == health and m.event_type in ("case.accepted", "case.dispatched")
    ]
    assert {m.status for m in messages(hub)} == {DELIVERED}


def test_cases_the_line_takes_come_in_once_even_when_pulled_twice(bridged_hub, line):
    state, _ = line
    hub = bridged_hub
    ids = [state.take(), state.take(CategoryCode="GW02", Content="小区周边诊所医疗废物乱堆"), state.take(CategoryCode="ZZ77")]
    puller = next(w for w in hub.workers if getattr(w, "name", "") == "legacy-puller-12320")
    first = puller.run_once()
    assert len(first.created) == 2 and len(first.refused) == 1 and "code 'ZZ77' has no mapping" in first.refused[0]
    case = hub.cases.find_by_ref("legacy.12320", ids[0])
    assert case.state is CaseState.REGISTERED and case.intake.channel is Channel.LEGACY and case.category_code == "0601"
    assert case.person.name == "王五" and case.place.division_code == "512002" and case.request_type.value == "complaint"
    assert case.intake.received_at.isoformat().startswith("2025-09-26T01:30:00")  # 09:30 in the line's time zone
    assert state.acks == {ids[0]: case.number, ids[1]: hub.cases.find_by_ref("legacy.12320", ids[1]).number}
    assert puller.run_once().created == []  # the cursor moved on
    with hub.db.write() as s:  # the cursor lost (a restore): the line's ids still dedupe
        s.execute(delete(LegacyCursorRow))
    again = puller.run_once()
    assert again.created == [] and sorted(again.existing) == sorted(state.acks.values())
    # A case that came from the line is not sent back when 12345 accepts it; its dispatch is pushed.
    hub.cases.act(case.number, Accept(), AGENT)
    hub.cases.act(case.number, Dispatch(lead_unit="ZY-WJW"), AGENT)
    drain(hub)
    assert state.received == {}
    assert [p["Event"] for p in state.statuses[ids[0]]] == ["case.dispatched"]


def test_a_refused_case_is_kept_and_taken_when_the_line_offers_it_after_the_fix(bridged_hub, line):
    from adapters.legacy_hotlines.mapping import RowMapper

    state, _ = line
    hub = bridged_hub
    odd = state.take(CategoryCode="ZZ77", Content="社区诊所输液收费不明")
    puller = hub.handles.get(Legacy).pullers["12320"]
    assert len(puller.run_once().refused) == 1
    (refused,) = hub.handles.get(Legacy).refusals.list("pending", "12320")
    assert (refused.line_case_id, refused.stage) == (odd, "map") and odd not in state.acks
    # The item is kept as the WebService gave it (its time a datetime), so it maps later as it would have then.
    assert puller.refusals.item(refused.id)["受理时间"].isoformat().startswith("2025-09-26T09:30:00")
    mapping = puller.adapter.mapping
    puller.adapter.mapper = RowMapper(
        mapping.model_copy(update={"codes": mapping.codes.model_copy(update={"category": mapping.codes.category | {"ZZ77": "0601"}})}), hub.catalogue
    )
    with hub.db.write() as s:  # the line is read from the start again (its operator asked it to offer it again)
        s.execute(delete(LegacyCursorRow))
    again = puller.run_once()
    case = hub.cases.find_by_ref("legacy.12320", odd)
    assert again.created == [case.number] and case.intake.received_at.isoformat().startswith("2025-09-26T01:30:00")
    assert state.acks[odd] == case.number
    (settled,) = hub.handles.get(Legacy).refusals.list("taken")
    assert (settled.id, settled.case_number, settled.decided_by) == (refused.id, case.number, "legacy-puller-12320")


def test_faults_are_classified_retried_and_dead_lettered_through_the_relay(bridged_hub, line, clock):
    state, _ = line
    hub = bridged_hub
    state.faults = ["busy", "429", "garbage"]
    number = accepted_case(hub, "0602")
    seen = []
    for attempt in (1, 2, 3):
        drain(hub)
        (m,) = [m for m in messages(hub) if m.event_type == "case.accepted"]
        assert (m.status, m.attempts) == (PENDING, attempt)  # transient: retried, not dead
        seen.append(m.last_error)
        clock.advance(m.available_at - clock.now() + timedelta(milliseconds=1))
    assert "fault BUSY" in seen[0] and "HTTP 429" in seen[1] and "without a usable SOAP answer" in seen[2]
    drain(hub)
    (m,) = [m for m in messages(hub) if m.event_type == "case.accepted"]
    assert (m.status, m.attempts) == (DELIVERED, 4)
    assert [a["case_number"] for a in state.accepted] == [number]  # applied once

    state.faults = ["400"]  # a request the line refuses as wrong: dead letter, no retry
    refused = accepted_case(hub, "0603")
    drain(hub)
    (m,) = [m for m in messages(hub) if m.case_number == refused and m.event_type == "case.accepted"]
    assert m.status == DEAD and "INVALID_REQUEST" in m.last_error
    assert refused not in {a["case_number"] for a in state.accepted}


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("busy", TransientError, "BUSY"),
        ("500", TransientError, "E500"),
        ("429", TransientError, "429"),
        ("garbage", TransientError, "SOAP answer"),
        ("400", PermanentError, "INVALID_REQUEST"),
        ("xxe", PermanentError, "refused an answer"),
        ("billion", PermanentError, "refused an answer"),
    ],
)
def test_deliver_sorts_each_fault_into_the_contract(bridged_hub, line, fault, kind, words):
    state, url = line
    hub = bridged_hub
    number = accepted_case(hub, "0601")
    case = hub.cases.get(number, AGENT)
    message = OutboundMessage(
        idempotency_key=f"t-{number}-{fault}",
        destination=DEST,
        case_number=number,
        sequence=2,
        event_type="case.accepted",
        event={},
        case=case.model_dump(mode="json"),
    )
    s = LegacyBridgeAdapter.settings_model.model_validate({"line": "12320", "base_url": url, "timeout": 3.0})
    adapter = LegacyBridgeAdapter(s, AdapterContext(DEST, hub.clock, hub.settings.mappings_dir))
    try:
        state.faults.append(fault)
        with pytest.raises(kind) as raised:
            adapter.deliver(message)
        assert words in str(raised.value)
        if fault == "429":
            assert raised.value.retry_after == 1.0
        first = adapter.deliver(message)
        again = adapter.deliver(message.model_copy(update={"attempt": 2}))
        assert first.external_ref == again.external_ref and len(state.received) == 1  # the RequestId dedupes
    finally:
        adapter.close()


def _without_result(body: bytes) -> bytes:
    return re.sub(rb"<tns:Result>.*?</tns:Result>", b"", body, flags=re.S)


def _unqualified_detail(body: bytes) -> bytes:
    return re.sub(rb"<detail>.*</detail>", lambda m: m.group(0).replace(b"tns:", b""), body, flags=re.S)


@pytest.fixture
def rewriting_line():
    state = SoapLineState(line="12320")
    app = AnswerRewriter(create_app(state))
    with LiveServer(app) as live:
        yield state, app, f"{live.url}/soap"


def test_an_answer_the_hub_cannot_read_is_retried_with_its_key_and_dead_only_when_attempts_run_out(db_url, clock, rewriting_line):
    from hub.runtime import build_hub

    state, app, url = rewriting_line
    dest = DestinationConfig(adapter="legacy_bridge", settings={"line": "12320", "base_url": url, "timeout": 3.0}, events=["case.*"], personal_data=True)
    hub = build_hub(Settings(database_url=db_url, sqlite_synchronous="NORMAL", destinations={DEST: dest}, outbox={"max_attempts": 3}), clock)
    try:
        app.rewrites.append(_without_result)  # the line applies the case, its answer lacks the Result
        number = accepted_case(hub, "0602")
        drain(hub)
        (m,) = [m for m in messages(hub) if m.event_type == "case.accepted"]
        assert (m.status, m.attempts) == (PENDING, 1) and "unreadable answer" in m.last_error
        clock.advance(m.available_at - clock.now() + timedelta(milliseconds=1))
        drain(hub)
        (m,) = [m for m in messages(hub) if m.event_type == "case.accepted"]
        assert (m.status, m.attempts) == (DELIVERED, 2)
        assert [a["case_number"] for a in state.accepted] == [number]  # the retry's RequestId: applied once

        other = accepted_case(hub, "0603")
        for attempt in (1, 2, 3):  # every answer unreadable: retried until the attempts run out
            app.rewrites.append(_without_result)
            drain(hub)
            (m,) = [m for m in messages(hub) if m.case_number == other and m.event_type == "case.accepted"]
            assert m.attempts == attempt and m.status == (DEAD if attempt == 3 else PENDING), m.last_error
            clock.advance(m.available_at - clock.now() + timedelta(milliseconds=1) if m.available_at else timedelta(0))
        assert "gave up after 3 attempts" in m.last_error and "unreadable answer" in m.last_error
    finally:
        hub.close()


def test_a_line_fault_whose_detail_has_no_namespace_is_read_with_its_code(bridged_hub, rewriting_line):
    state, app, url = rewriting_line
    s = LegacyBridgeAdapter.settings_model.model_validate({"line": "12320", "base_url": url, "timeout": 3.0})
    adapter = LegacyBridgeAdapter(s, AdapterContext(DEST, bridged_hub.clock, bridged_hub.settings.mappings_dir))
    number = accepted_case(bridged_hub, "0601")
    case = bridged_hub.cases.get(number, AGENT)
    message = OutboundMessage(
        idempotency_key=f"t-{number}", destination=DEST, case_number=number, sequence=2, event_type="case.accepted", event={}, case=case.model_dump(mode="json")
    )
    try:
        for fault, kind, code in (("busy", TransientError, "BUSY"), ("400", PermanentError, "INVALID_REQUEST")):
            state.faults.append(fault)
            app.rewrites.append(_unqualified_detail)
            with pytest.raises(kind) as raised:
                adapter.deliver(message)
            assert raised.value.code == code and f"fault {code}" in str(raised.value)
    finally:
        adapter.close()
