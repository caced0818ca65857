"""Personal data never leaves readable: masks for views, exports and log lines."""

from __future__ import annotations

import logging

from hub.domain.access import Actor, export_view, mask_address, mask_name, mask_phone, view_for
from hub.domain.model import Case, CaseDraft, Role
from hub.logmask import MaskingFilter, mask_text
from tests.support.factories import draft
from tests.unit.test_lifecycle_table import NOW


def _case(**changes) -> Case:
    return Case.model_validate(
        {"number": "512000202509260001", "state": "registered", "created_at": NOW, "updated_at": NOW, **CaseDraft.model_validate(draft(**changes)).model_dump()}
    )


def test_masks() -> None:
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("028-12345678") == "028*****5678"
    assert mask_phone("12345") == "12*45"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_address("雁江区建设路12号3栋") == "雁江区***********"[: len("雁江区建设路12号3栋")]


def test_export_view_masks_person_and_address_whoever_asks() -> None:
    exported = export_view(_case())
    assert exported.person.name == "张*" and exported.person.phone == "138****8000"
    assert "建设路" not in (exported.place.address or "")


def test_view_for_masks_confidential_person_outside_the_centre() -> None:
    case = _case(**{"person.confidential": True})
    assert view_for(Actor("c", Role.AGENT), case).person.phone == "13800138000"
    for actor in (Actor("u", Role.UNIT, unit_code="ZY-SCJGJ"), Actor("y", Role.COUNTY, divisions=("512002",)), Actor("p", Role.PROVINCE)):
        assert view_for(actor, case).person.phone == "138****8000"
    assert view_for(Actor("u", Role.UNIT, unit_code="ZY-SCJGJ"), _case()).person.phone == "13800138000"


def test_log_lines_are_masked(caplog) -> None:
    text = mask_text("回拨 13800138000 或 028-12345678，身份证 51200219900101123X")
    assert "13800138000" not in text and "12345678" not in text and "19900101" not in text
    assert text == "回拨 138****8000 或 028-****5678，身份证 512002***********X"
    logger = logging.getLogger("test.mask")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.mask"):
        logger.info("caller %s rang", "13912345678")
    assert "13912345678" not in caplog.text and "139****5678" in caplog.text


def test_mobile_numbers_with_country_code_and_separators_are_masked_in_log_text() -> None:
    assert mask_text("来电 +86 138 1234 5678 回电") == "来电 +86 138 **** 5678 回电"
    assert mask_text("+86-138-1234-5678") == "+86-138-****-5678"
    assert mask_text("0086 13812345678") == "0086 138****5678"
    assert mask_text("+8613812345678") == "+86138****5678"
    assert mask_text("138 1234 5678; 13812345678") == "138 **** 5678; 138****5678"


def test_the_json_log_format_is_one_masked_object_per_line_with_the_request_id() -> None:
    import json

    from hub.logmask import RequestIdFilter, formatter, request_id

    record = logging.LogRecord("hub.x", logging.WARNING, __file__, 1, "call %s", ("+86 138 1234 5678",), None)
    token = request_id.set("r-1")
    try:
        assert MaskingFilter().filter(record) and RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(formatter("json").format(record))
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == ("WARNING", "hub.x", "call +86 138 **** 5678", "r-1")
    assert line["time"].endswith("+00:00")
    assert formatter("text").format(record).endswith("WARNING hub.x [r-1] call +86 138 **** 5678")
