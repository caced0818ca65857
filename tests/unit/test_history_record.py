"""`hub.domain.engine.record`: the one way a change is written on a case (the engine's
transitions and acts beside the table, the repository's notes, the retention's erasure).
Expectations written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.access import Actor
from hub.domain.engine import record
from hub.domain.model import Case, CaseState, Role

AT = "2024-03-01T09:00:00+08:00"
NOW = datetime(2024, 3, 4, 2, 30, tzinfo=UTC)


def _case() -> Case:
    return Case.model_validate(
        {
            "number": "51200020240301000003",
            "version": 4,
            "state": "in_progress",
            "intake": {"channel": "phone", "received_at": AT},
            "person": {"name": "李四", "phone": "13900139000"},
            "request_type": "complaint",
            "category_code": "0101",
            "title": "噪音",
            "content": "夜间施工",
            "place": {"division_code": "512002001"},
            "handling": {"lead_unit": "ZY-SCJGJ"},
            "history": [
                {"seq": 1, "at": AT, "actor": "A1", "role": "agent", "action": "register", "from_state": None, "to_state": "registered"},
                {"seq": 2, "at": AT, "actor": "S1", "role": "supervisor", "action": "sign_off", "from_state": "awaiting_sign_off", "to_state": "in_progress"},
            ],
            "created_at": AT,
            "updated_at": AT,
        }
    )


def test_a_change_beside_the_lifecycle_is_one_version_on_with_one_line() -> None:
    case = _case()
    entry = record(case, Actor(party="OPS-1", role=Role.SUPERVISOR), "outbox_skip", NOW, note="跳过", data={"message_id": 7})
    assert (case.version, case.updated_at, case.state) == (5, NOW, CaseState.IN_PROGRESS)
    assert len(case.history) == 3 and case.history[-1] is entry
    assert (entry.seq, entry.at, entry.actor, entry.role, entry.action) == (3, NOW, "OPS-1", Role.SUPERVISOR, "outbox_skip")
    assert (entry.from_state, entry.to_state, entry.note, entry.data) == (CaseState.IN_PROGRESS, CaseState.IN_PROGRESS, "跳过", {"message_id": 7})


def test_a_transition_names_the_state_it_came_from() -> None:
    case = _case()
    case.state = CaseState.REPLIED  # the caller moved its copy on
    entry = record(case, Actor(party="ZY-SCJGJ", role=Role.UNIT, unit_code="ZY-SCJGJ"), "reply", NOW, from_state=CaseState.IN_PROGRESS)
    assert (entry.from_state, entry.to_state) == (CaseState.IN_PROGRESS, CaseState.REPLIED)
    assert (entry.note, entry.data) == (None, {})
    assert case.version == 5


def test_lines_follow_each_other() -> None:
    case = _case()
    hub = Actor(party="hub", role=Role.SYSTEM)
    record(case, hub, "recount_deadlines", NOW)
    record(case, hub, "attach", NOW, data={"id": "a1"})
    assert [h.seq for h in case.history] == [1, 2, 3, 4]
    assert [h.action for h in case.history[2:]] == ["recount_deadlines", "attach"]
    assert case.version == 6
