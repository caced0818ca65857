"""Personal data never leaves readable: masks for views, exports and log lines."""

from __future__ import annotations

import logging

from hub.domain.access import Actor, export_view, mask_address, mask_name, mask_phone, view_for
from hub.domain.model import Case, CaseDraft, Role
from hub.logmask import MaskingFilter, mask_text
from tests.support.factories import draft
from tests.unit.test_lifecycle_table import NOW


def _case(**changes) -> Case:
    return Case.model_validate({"number": "512000202509260001", "state": "registered", "created_at": NOW,
                                "updated_at": NOW, **CaseDraft.model_validate(draft(**changes)).model_dump()})


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
