"""改单 reaching the province (issue #20), end to end through the real outbox relay, on SQLite
and PostgreSQL, over SOAP and REST: a supervisor corrects a dispatched complaint to an
enquiry; the province's sandbox receives PushStatus 22 (改单, mappings/province/statuses.yaml)
after 已受理 and 已派发, with the reason as Opinion and the deadline recounted from the
dispatch as DueTime: Tue 2025-09-30 23:59:59 Asia/Shanghai, the 3rd working day after Fri
Sep 26 (National Day Oct 1-8 off, Sun Sep 28 worked)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.e2e.test_province_relay import act, province, register, relay, reported_as, settings, transport  # noqa: F401

pytestmark = pytest.mark.e2e


def test_a_correction_reaches_the_province(hub, api, province, clock) -> None:  # noqa: F811
    state, _ = province
    number = register(api)
    act(api["agent"], number, action="accept")
    act(api["agent"], number, action="dispatch", lead_unit="ZY-SCJGJ")
    clock.advance(timedelta(days=3))
    act(api["supervisor"], number, action="correct", request_type="enquiry", reason="登记时诉求类型选错")
    assert relay(hub).drain(120) == 4  # ReportCase and three statuses

    province_id, _ = reported_as(state, number)
    pushes = state.pushes(province_id)
    assert [p["StatusCode"] for p in pushes] == ["10", "20", "22"]
    corrected = pushes[2]
    assert corrected["Opinion"] == "登记时诉求类型选错"
    assert datetime.fromisoformat(str(corrected["DueTime"]).replace("Z", "+00:00")) == datetime.fromisoformat("2025-09-30T23:59:59+08:00")
