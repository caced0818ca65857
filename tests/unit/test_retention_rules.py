"""The retention rule as pure functions: when a case's personal data falls due, and what an
erasure leaves. Expectations are written out by hand (Asia/Shanghai local time)."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.clock import LOCAL_TZ
from hub.domain.model import Case
from records.retention import erased, erasure_due, personal_fields


def test_due_the_same_local_time_n_years_later() -> None:
    # 2021-03-15 23:30 in Ziyang is 15:30 UTC; three years on is 2024-03-15 23:30 local.
    archived = datetime(2021, 3, 15, 15, 30, tzinfo=UTC)
    assert erasure_due(archived, 3) == datetime(2024, 3, 15, 23, 30, tzinfo=LOCAL_TZ)


def test_the_local_date_counts_not_the_utc_one() -> None:
    # 2020-12-31 17:00 UTC is already 2021-01-01 01:00 in Ziyang.
    assert erasure_due(datetime(2020, 12, 31, 17, 0, tzinfo=UTC), 1) == datetime(2022, 1, 1, 1, 0, tzinfo=LOCAL_TZ)


def test_29_february_falls_to_28_february() -> None:
    assert erasure_due(datetime(2024, 2, 29, 10, 0, tzinfo=LOCAL_TZ), 1) == datetime(2025, 2, 28, 10, 0, tzinfo=LOCAL_TZ)
    assert erasure_due(datetime(2024, 2, 29, 10, 0, tzinfo=LOCAL_TZ), 4) == datetime(2028, 2, 29, 10, 0, tzinfo=LOCAL_TZ)


def _archived_case() -> Case:
    at = "2020-05-06T10:00:00+08:00"
    return Case.model_validate(
        {
            "number": "51200020200501000007",
            "version": 9,
            "state": "archived",
            "intake": {"channel": "phone", "received_at": at},
            "person": {"name": "张三", "phone": "13800138000", "kind": "person", "confidential": True},
            "request_type": "complaint",
            "category_code": "0101",
            "title": "噪音",
            "content": "夜间施工",
            "place": {"address": "雁江区建设路12号", "division_code": "512002001", "longitude": 104.6, "latitude": 30.1},
            "handling": {"lead_unit": "ZY-SCJGJ", "co_units": ["ZY-RSJ"]},
            "outcome": {
                "follow_ups": [{"at": at, "by": "A1", "reached": True, "resolved": True, "satisfaction": "satisfied"}],
                "closed_at": at,
                "archived_at": at,
            },
            "links": {"attachments": ["recording-7.mp3"]},
            "history": [{"seq": 1, "at": at, "actor": "A1", "role": "agent", "action": "register", "from_state": None, "to_state": "registered"}],
            "created_at": at,
            "updated_at": at,
        }
    )


def test_an_erasure_removes_the_person_and_the_place_and_keeps_the_statistics() -> None:
    case = _archived_case()
    now = datetime(2023, 5, 6, 10, 0, tzinfo=LOCAL_TZ)
    out = erased(case, now, 3)
    assert (out.person.name, out.person.phone, out.place.address, out.place.longitude, out.place.latitude) == (None,) * 5
    assert out.links.attachments == []
    # What statistics read stays.
    assert (out.request_type.value, out.category_code, out.place.division_code, out.state.value) == ("complaint", "0101", "512002001", "archived")
    assert out.handling.lead_unit == "ZY-SCJGJ" and out.handling.co_units == ["ZY-RSJ"]
    assert out.outcome.follow_ups[0].satisfaction.value == "satisfied"
    assert out.created_at == datetime(2020, 5, 6, 2, 0, tzinfo=UTC)
    assert out.person.confidential is True and out.person.kind.value == "person"
    # One version on, one history line saying what went.
    assert out.version == 10 and out.updated_at == now
    last = out.history[-1]
    assert (last.seq, last.action, last.actor, last.role.value, last.from_state.value, last.to_state.value) == (
        2,
        "erase_personal_data",
        "hub-retention",
        "system",
        "archived",
        "archived",
    )
    assert last.data["fields"] == ["person.name", "person.phone", "place.address", "place.coordinates", "links.attachments"]
    # The input is untouched and a second erasure finds nothing left.
    assert case.person.name == "张三" and personal_fields(out) == []


def test_an_anonymous_case_without_address_has_nothing_to_erase() -> None:
    case = _archived_case()
    case.person.name = case.person.phone = case.place.address = None
    case.place.longitude = case.place.latitude = None
    case.links.attachments = []
    assert personal_fields(case) == []
