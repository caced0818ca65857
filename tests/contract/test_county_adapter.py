"""CountyAdapter against the contract and against a sandbox county over real HTTP: the
outgoing payload in each county's own shape, Idempotency-Key dedupe, the county's ticket
id returned, and every HTTP failure classified transient or permanent."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from adapters.county.config import load_counties
from adapters.county.sandbox import CountySandboxState, create_app
from hub.domain.clock import ManualClock
from hub.domain.model import Case, CaseState, Handling
from hub.integration.contract import (
    AdapterContext,
    MappingFailure,
    OutboundMessage,
    PermanentError,
    TransientError,
)
from hub.integration.registry import build_adapter, contract_problems, discover
from hub.mappings import load_catalogue
from hub.settings import REPO_ROOT
from tests.support.factories import draft
from tests.support.live import LiveServer, free_port

MAPPINGS = REPO_ROOT / "mappings"
NOW = datetime.fromisoformat("2025-09-26T10:00:00+08:00")
COUNTIES = load_counties(MAPPINGS, load_catalogue(MAPPINGS))


def _case(division: str, lead: str, co: list[str] | None = None, refs: list[dict] | None = None) -> dict:
    body = draft(**{"place.division_code": division + "001"})
    case = Case.model_validate(
        {
            **body,
            "number": "51200020250926000042",
            "version": 3,
            "state": CaseState.AWAITING_SIGN_OFF,
            "external_refs": refs or [],
            "created_at": NOW,
            "updated_at": NOW,
            "handling": Handling(lead_unit=lead, co_units=co or [], dispatched_at=NOW, due_at=datetime.fromisoformat("2025-10-20T23:59:59+08:00")),
        }
    )
    return case.model_dump(mode="json")


def _message(case: dict, event_type: str = "case.dispatched", key: str = "msg-1", external_id: str | None = None) -> OutboundMessage:
    event = {
        "type": event_type,
        "case_number": case["number"],
        "case_version": 3,
        "occurred_at": NOW.isoformat(),
        "actor": "centre-agent",
        "role": "agent",
        "state": case["state"],
        "data": {"lead_unit": case["handling"]["lead_unit"], "co_units": case["handling"]["co_units"]},
    }
    return OutboundMessage(
        idempotency_key=key,
        destination="county",
        case_number=case["number"],
        sequence=1,
        event_type=event_type,
        event=event,
        case=case,
        external_id=external_id,
    )


@pytest.fixture(params=sorted(COUNTIES))
def county(request):
    cfg = COUNTIES[request.param]
    state = CountySandboxState(cfg)
    with LiveServer(create_app(state)) as live:
        path = cfg.outbound.url.split("://", 1)[1].split("/", 1)[1]
        adapter = build_adapter(
            f"county-{cfg.county}",
            "county",
            {"county": cfg.county, "url": f"{live.url}/{path}", "timeout": 1.0},
            AdapterContext(f"county-{cfg.county}", ManualClock(NOW), MAPPINGS),
        )
        yield cfg, state, adapter
        adapter.close()


def test_registered_and_conforming() -> None:
    assert contract_problems(discover()["county"]) == []


def test_dispatch_reaches_the_county_in_its_shape_once_per_key(county) -> None:
    cfg, state, adapter = county
    lead = next(iter(cfg.codes.unit.values()))
    message = _message(_case(cfg.divisions[0], lead, co=["ZY-SCJGJ"]))
    first = adapter.deliver(message)
    again = adapter.deliver(message)  # a retry after a lost answer
    assert first.external_ref is not None and first.external_ref.system == cfg.system
    assert again.external_ref == first.external_ref
    assert (len(state.order), state.duplicates) == (1, 1)
    sent = state.received["msg-1"]
    fields = cfg.outbound.fields
    by_source = {spec.source: target for target, spec in fields.items()}
    from adapters.county.mapping import get_path

    assert get_path(sent, by_source["op"]) == cfg.outbound.events["case.dispatched"]
    assert get_path(sent, by_source["case.number"]) == "51200020250926000042"
    assert get_path(sent, by_source["case.category_code"]) == cfg.reverse("category")["0101"]
    assert get_path(sent, by_source["case.request_type"]) == cfg.reverse("request_type")["complaint"]
    assert get_path(sent, by_source["case.handling.lead_unit"]) == cfg.reverse("unit")[lead]
    assert get_path(sent, by_source["case.state"]) == cfg.codes.status[CaseState.AWAITING_SIGN_OFF]


def test_yanjiang_payload_literally() -> None:
    cfg = COUNTIES["yanjiang"]
    from adapters.county.mapping import message_to_payload

    payload = message_to_payload(cfg, _message(_case("512002", "YJ-GOV", co=["YJ-SCJG", "ZY-SCJGJ"])), "YJ-77")
    assert payload["opType"] == "PF" and payload["ticketNo"] == "YJ-77" and payload["status"] == "10"
    assert payload["opTime"] == "2025-09-26 10:00:00" and payload["handle"]["deadline"] == "2025-10-20 23:59:59"
    assert payload["handle"]["leadUnit"] == "YJ0001" and payload["handle"]["coUnits"] == ["YJ0101", "ZY-SCJGJ"]
    assert payload["appealType"] == "03" and payload["itemCode"] == "CS01" and payload["area"]["code"] == "512002001"
    assert payload["caller"] == {"name": "张三", "mobile": "13800138000", "secret": False}


def test_an_added_file_reaches_the_county_as_a_reference_and_other_changes_carry_none(county) -> None:
    from adapters.county.mapping import get_path

    cfg, state, adapter = county
    case = _case(cfg.divisions[0], "ZY-SCJGJ", refs=[{"system": cfg.system, "external_id": "T-9"}])
    url = f"/api/v1/cases/{case['number']}/attachments/0123456789abcdef01234567"
    message = _message(case, "case.attachment_added", "k-attach")
    message.event["data"] = {
        "id": "0123456789abcdef01234567",
        "media_type": "image/jpeg",
        "size": 52341,
        "visibility": "public",
        "sha256": "ab" * 32,
        "url": url,
    }
    adapter.deliver(message)
    sent = state.received["k-attach"]
    by_source = {spec.source: target for target, spec in cfg.outbound.fields.items()}
    assert get_path(sent, by_source["op"]) == cfg.outbound.events["case.attachment_added"]
    # The reference, in the county's own field names: where the county reads the file with its key.
    assert [get_path(sent, by_source[f"event.data.{k}"]) for k in ("url", "sha256", "media_type", "size")] == [url, "ab" * 32, "image/jpeg", 52341]
    adapter.deliver(_message(case, "case.supervised" if "case.supervised" in cfg.outbound.events else "case.closed", "k-other"))
    other = state.received["k-other"]
    assert all(get_path(other, by_source[f"event.data.{k}"]) is None for k in ("url", "sha256", "media_type", "size"))
    assert "url" not in str(other) and "sha256" not in str(other).lower()  # the fields are left out, not sent empty


def test_yanjiang_sends_an_attachment_literally() -> None:
    cfg = COUNTIES["yanjiang"]
    from adapters.county.mapping import message_to_payload

    message = _message(_case("512002", "YJ-GOV"), "case.attachment_added")
    message.event["data"] = {
        "id": "a1",
        "media_type": "application/pdf",
        "size": 900,
        "visibility": "internal",
        "sha256": "cd" * 32,
        "url": "/api/v1/cases/N/attachments/a1",
    }
    payload = message_to_payload(cfg, message, "YJ-77")
    assert payload["opType"] == "FJ" and payload["ticketNo"] == "YJ-77"
    assert payload["attachment"] == {"url": "/api/v1/cases/N/attachments/a1", "sha256": "cd" * 32, "mediaType": "application/pdf", "size": 900}


def test_later_changes_carry_the_county_ticket_id(county) -> None:
    cfg, state, adapter = county
    case = _case(cfg.divisions[0], "ZY-SCJGJ", refs=[{"system": cfg.system, "external_id": "T-9"}])
    delivered = adapter.deliver(_message(case, "case.supervised" if "case.supervised" in cfg.outbound.events else "case.closed", "k2"))
    assert delivered.external_ref is not None and delivered.external_ref.external_id == "T-9"
    assert list(state.tickets) == ["T-9"]


def test_what_is_not_for_the_county_is_not_sent(county) -> None:
    cfg, state, adapter = county
    assert "not sent" in (adapter.deliver(_message(_case("512000", "ZY-SCJGJ"))).detail or "")
    assert "not sent" in (adapter.deliver(_message(_case(cfg.divisions[0], next(iter(cfg.codes.unit.values()))), "case.registered")).detail or "")
    assert state.attempts == 0


@pytest.mark.parametrize(
    "fault, error, retry_after",
    [
        ("500", TransientError, None),
        ("503", TransientError, None),
        ("429", TransientError, 2.0),
        ("slow", TransientError, None),
        ("garbage", TransientError, None),
        ("400", PermanentError, None),
        ("no_id", PermanentError, None),
    ],
)
def test_failures_are_classified(fault, error, retry_after) -> None:
    cfg = COUNTIES["yanjiang"]
    state = CountySandboxState(cfg, faults=[fault], slow_seconds=2.0)
    with LiveServer(create_app(state)) as live:
        adapter = build_adapter(
            "county-yanjiang",
            "county",
            {"county": "yanjiang", "url": f"{live.url}/api/tickets", "timeout": 0.5},
            AdapterContext("county-yanjiang", ManualClock(NOW), MAPPINGS),
        )
        with pytest.raises(error) as raised:
            adapter.deliver(_message(_case("512002", "YJ-GOV")))
        assert not isinstance(raised.value, MappingFailure)
        if retry_after is not None:
            assert raised.value.retry_after == retry_after
        adapter.close()


def test_unmapped_code_and_unreachable_county() -> None:
    cfg = COUNTIES["yanjiang"]
    adapter = build_adapter(
        "county-yanjiang",
        "county",
        {"county": "yanjiang", "url": f"http://127.0.0.1:{free_port()}/api/tickets"},
        AdapterContext("county-yanjiang", ManualClock(NOW), MAPPINGS),
    )
    case = _case("512002", "YJ-GOV")
    case["category_code"] = "1204"  # 文物保护: yanjiang's file has no code for it
    with pytest.raises(MappingFailure, match="itemCode"):
        adapter.deliver(_message(case))
    with pytest.raises(TransientError):
        adapter.deliver(_message(_case("512002", "YJ-GOV")))
    assert adapter.health().ok is False
    adapter.close()
    from hub.integration.contract import ConfigurationError

    with pytest.raises(ConfigurationError, match="atlantis"):
        build_adapter("c", "county", {"county": "atlantis"}, AdapterContext("c", ManualClock(NOW), MAPPINGS))
    assert Path(MAPPINGS / "county" / "yanjiang.yaml").is_file() and cfg.system == "county.yanjiang"


@pytest.mark.parametrize("name", sorted(COUNTIES))
def test_the_kit_finds_every_event_type_mapped_or_skipped(name: str) -> None:
    from hub.domain.events import EVENT_TYPES
    from integration_kit import run_kit

    cfg = COUNTIES[name]
    report = run_kit("county", {"county": name, "url": f"http://127.0.0.1:{free_port()}/x"}, None)
    mappings = next(c for c in report.checks if c.name == "mappings")
    assert mappings.ok, report.render(verbose=True)
    assert any("event_types via outbound.events" in n for n in mappings.notes), report.render(verbose=True)
    # 预警 and 超期 reach every county that holds the case, like 督办 does.
    assert {"case.warned", "case.overdue", "case.supervised", "case.redo", "case.closed"} <= set(cfg.outbound.events)
    assert set(cfg.outbound.events) | set(cfg.outbound.skip) == set(EVENT_TYPES.values())


def test_an_event_type_left_out_fails_the_kit_and_the_start_with_file_and_line(tmp_path: Path) -> None:
    import shutil

    from hub.mappings import MappingError
    from integration_kit import run_kit

    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    gaoxin = mappings / "county" / "gaoxin.yaml"
    text = gaoxin.read_text(encoding="utf-8")
    assert "    case.warned: WARN\n" in text
    gaoxin.write_text(text.replace("    case.warned: WARN\n", "").replace("case.redo: REDO", "case.redone: REDO"), encoding="utf-8")

    report = run_kit("county", {"county": "gaoxin", "url": f"http://127.0.0.1:{free_port()}/x"}, None, mappings_dir=mappings)
    mappings_check = next(c for c in report.checks if c.name == "mappings")
    failures = " | ".join(mappings_check.problems)
    assert not mappings_check.ok and "case.warned" in failures and "case.redo" in failures, report.render(verbose=True)
    assert "case.redone" in failures  # not a hub event type

    with pytest.raises(MappingError) as raised:
        load_counties(mappings, load_catalogue(mappings))
    message = str(raised.value)
    assert "gaoxin.yaml:" in message and "case.warned" in message and "'case.redone' is not a hub event type" in message


def test_every_state_a_sent_event_leaves_has_a_county_status_word(tmp_path: Path) -> None:
    """After 重办 the case is back at the centre (accepted): a county without a word for it
    would get its redo message dead-lettered (MappingFailure), so the kit says so first."""
    import shutil

    from adapters.county.adapter import states_after
    from integration_kit import run_kit

    assert "accepted" in states_after(["case.redo"]) and states_after(["case.return_decided"]) >= {"returned", "awaiting_sign_off", "in_progress"}
    for cfg in COUNTIES.values():
        assert states_after(cfg.outbound.events) <= {s.value for s in cfg.codes.status}, cfg.county
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, mappings)
    lezhi = mappings / "county" / "lezhi.yaml"
    lezhi.write_text("\n".join(ln for ln in lezhi.read_text(encoding="utf-8").splitlines() if not ln.startswith("    accepted:")), encoding="utf-8")
    report = run_kit("county", {"county": "lezhi", "url": f"http://127.0.0.1:{free_port()}/gd"}, None, mappings_dir=mappings)
    problems = " | ".join(report.problems)
    assert "no mapping for 1 states code(s)" in problems and "accepted" in problems, report.render(verbose=True)
