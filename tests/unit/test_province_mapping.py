"""Province codes and shapes: pure functions, no I/O beyond reading the mapping files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from adapters.province import mapping
from adapters.province.config import load_province_codes
from adapters.province.wire import FaultPolicy, ProvincePermanentError, ProvinceTransientError
from adapters.province.wire_soap import masked_envelope
from hub.integration.contract import MappingFailure, OutboundMessage, PermanentError, TransientError
from hub.mappings import MappingError, load_catalogue

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(MAPPINGS)


@pytest.fixture(scope="module")
def codes(catalogue):
    return load_province_codes(MAPPINGS / "province", catalogue)


CASE = {
    "number": "512000202509260001",
    "version": 1,
    "state": "registered",
    "intake": {"channel": "phone", "received_at": "2025-09-26T09:58:00+08:00"},
    "person": {"name": "张三", "phone": "13800138000", "kind": "enterprise", "anonymous": False, "confidential": False},
    "request_type": "complaint",
    "category_code": "0205",
    "title": "价格欺诈",
    "content": "商家虚假标价。",
    "place": {"address": "雁江区建设路12号", "division_code": "512002003001", "longitude": 104.6, "latitude": 30.1},
    "urgency": "urgent",
    "external_refs": [],
}


def _message(
    event_type: str = "case.registered", seq: int = 1, data: dict | None = None, case: dict | None = None, external_id: str | None = None
) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=f"k-{seq}",
        destination="province",
        case_number=CASE["number"],
        sequence=seq,
        event_type=event_type,
        event={"type": event_type, "occurred_at": "2025-09-26T10:00:00+08:00", "data": data or {}},
        case=case or CASE,
        external_id=external_id,
    )


def test_city_case_maps_to_province_codes(codes) -> None:
    request = mapping.report_case_request(_message(), codes, "512000")
    order = request["WorkOrder"]
    assert request["RequestId"] == "k-1" and request["CityCode"] == "512000"
    assert (order["AppealType"], order["Urgency"], order["AppealerType"]) == ("03", "2", "2")
    assert order["CategoryCode"] == "B00"  # 0205 has no row: its parent 02's code
    assert order["AreaCode"] == "512002000000"  # 12-digit hub code looked up by its county
    assert (order["AppealerName"], order["AppealerPhone"]) == ("张三", "13800138000")


def test_confidential_person_is_not_sent(codes) -> None:
    case = {**CASE, "person": {**CASE["person"], "confidential": True}}
    order = mapping.report_case_request(_message(case=case), codes, "512000")["WorkOrder"]
    assert order["AppealerName"] is None and order["AppealerPhone"] is None and order["Confidential"] is True


def test_status_push_carries_mapped_status_unit_and_sequence(codes) -> None:
    push = mapping.push_status_request(
        _message("case.dispatched", 3, {"lead_unit": "ZY-SCJGJ", "due_at": "2025-10-20T18:00:00+08:00"}, external_id="SC1"), codes
    )
    assert push is not None
    assert (push["StatusCode"], push["Seq"], push["HandlerUnit"], push["ProvinceCaseId"]) == ("20", 3, "SC512000-SCJG", "SC1")
    follow = mapping.push_status_request(_message("case.followed_up", 9, {"reached": True, "resolved": True, "satisfaction": "basically_satisfied"}), codes)
    assert follow is not None and (follow["StatusCode"], follow["Satisfaction"], follow["Reached"]) == ("50", "2", True)
    assert mapping.push_status_request(_message("case.chased", 4), codes) is None  # skipped on purpose


def test_unknown_event_is_a_mapping_failure(codes) -> None:
    with pytest.raises(MappingFailure, match="case.teleported"):
        mapping.push_status_request(_message("case.teleported", 2), codes)


def test_case_from_the_province_is_recognised() -> None:
    from_province = {**CASE, "intake": {**CASE["intake"], "channel": "province"}}
    assert mapping.came_from_province(_message(case=from_province))
    assert not mapping.came_from_province(_message())


def test_assigned_work_order_becomes_a_draft(codes) -> None:
    pulled = mapping.pulled_case(
        {
            "ProvinceCaseId": "SC9",
            "ReceivedTime": "2025-09-26T08:00:00+08:00",
            "AppealerName": "李四",
            "AppealerPhone": "13900139000",
            "AppealerType": "1",
            "AppealType": "01",
            "CategoryCode": "C02",
            "Title": "长" * 300,
            "Content": "医保咨询",
            "AreaCode": "512021000000",
            "Urgency": "3",
            "Anonymous": False,
        },
        codes,
    )
    draft = pulled.draft
    assert pulled.ref.system == "province" and pulled.ref.external_id == "SC9" and pulled.ack_token == "SC9"
    assert draft.intake.channel.value == "province" and draft.external_refs[0].external_id == "SC9"
    assert (draft.request_type.value, draft.category_code, draft.place.division_code, draft.urgency.value) == ("enquiry", "0302", "512021", "critical")
    assert len(draft.title) == 200


def test_unknown_province_codes_fall_back_or_fail(codes) -> None:
    order = {
        "ProvinceCaseId": "SC10",
        "ReceivedTime": "2025-09-26T08:00:00+08:00",
        "AppealType": "03",
        "CategoryCode": "NOPE",
        "Title": "t",
        "Content": "c",
        "AreaCode": "999999000000",
        "Urgency": "1",
    }
    draft = mapping.pulled_case(order, codes).draft
    assert (draft.category_code, draft.place.division_code) == ("9901", "512000")  # configured defaults
    with pytest.raises(MappingFailure, match="request type"):
        mapping.pulled_case({**order, "AppealType": "77"}, codes)
    with pytest.raises(MappingFailure, match="SC10"):
        mapping.pulled_case({**order, "AppealerPhone": "not-a-phone"}, codes)


def _copy_mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def test_bad_mapping_names_file_and_line(tmp_path, catalogue) -> None:
    root = _copy_mappings(tmp_path)
    units = root / "province" / "units.yaml"
    text = units.read_text(encoding="utf-8")
    text += '  - {hub: ZY-NOSUCH, province: "X1"}\n  - {hub: ZY-RSJ, province: "X2"}\n'
    units.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as raised:
        load_province_codes(root / "province", catalogue)
    message = str(raised.value)
    lines = len(text.splitlines())
    assert f"units.yaml:{lines - 1}" in message and "unknown hub code 'ZY-NOSUCH'" in message
    assert f"units.yaml:{lines}" in message and "'ZY-RSJ' is listed twice" in message


def test_every_event_must_be_mapped_or_skipped(tmp_path, catalogue) -> None:
    root = _copy_mappings(tmp_path)
    statuses = root / "province" / "statuses.yaml"
    statuses.write_text(statuses.read_text(encoding="utf-8").replace("  - case.chased", "  - case.nothing"), encoding="utf-8")
    with pytest.raises(MappingError) as raised:
        load_province_codes(root / "province", catalogue)
    assert "unknown hub event 'case.nothing'" in str(raised.value)
    assert "neither mapped nor skipped: case.chased" in str(raised.value)


def test_fault_codes_are_classified(codes) -> None:
    policy = FaultPolicy(codes.transient_faults, codes.permanent_faults)
    assert isinstance(policy.error("BUSY", "x", server_side=False), TransientError)
    assert isinstance(policy.error("UNKNOWN_CASE", "x", server_side=True), PermanentError)
    assert isinstance(policy.error("E999", "x", server_side=True), ProvinceTransientError)
    assert isinstance(policy.error("E999", "x", server_side=False), ProvincePermanentError)
    with pytest.raises(PermanentError, match="AUTH_FAILED"):
        policy.check_result({"Result": {"ResultCode": "AUTH_FAILED", "ResultMessage": "no"}})
    assert policy.check_result({"Result": {"ResultCode": "0"}, "ProvinceCaseId": "SC1"})["ProvinceCaseId"] == "SC1"


def test_logged_envelope_masks_personal_data() -> None:
    envelope = etree.fromstring(
        '<e xmlns:t="urn:x"><t:AppealerName>张三丰</t:AppealerName><t:AppealerPhone>13800138000</t:AppealerPhone>'
        "<t:Address>雁江区建设路12号3单元</t:Address><t:Content>请回电 13912345678</t:Content><t:Password>s3cret</t:Password></e>"
    )
    text = masked_envelope(envelope)
    for secret in ("张三丰", "13800138000", "建设路12号3单元", "13912345678", "s3cret"):
        assert secret not in text
    assert "张**" in text and "138****8000" in text
    assert etree.fromstring(etree.tostring(envelope)).find("{urn:x}AppealerName").text == "张三丰"  # original untouched
