"""The console's action forms come from the lifecycle table and the command models: every
action a person may take has a form, and a posted form becomes the API's own command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from console import forms
from hub.domain import commands as c
from hub.domain.lifecycle import TABLE
from hub.domain.model import Place, Role

PEOPLE = {Role.AGENT, Role.SUPERVISOR, Role.UNIT, Role.COUNTY}


def test_every_action_a_person_may_take_has_a_form_and_a_label() -> None:
    for row in TABLE:
        if row.roles & PEOPLE:
            assert row.action.value in forms.MODELS, row
            assert row.action.value in forms.ACTION_LABELS, row


def test_dispatch_form_has_a_unit_picker_and_co_units() -> None:
    units = [("ZY-SCJGJ", "市场监管局"), ("ZY-RSJ", "人社局")]
    inputs = {i.name: i for i in forms.inputs_of(c.Dispatch, units, [])}
    assert inputs["lead_unit"].kind == "select" and inputs["lead_unit"].required and inputs["lead_unit"].options == units
    assert inputs["co_units"].kind == "multiselect" and not inputs["co_units"].required
    assert inputs["note"].kind == "textarea" and not inputs["note"].required


def test_a_posted_form_becomes_the_command() -> None:
    dispatch = forms.command_from_form("dispatch", {"lead_unit": ["ZY-SCJGJ"], "co_units": ["ZY-RSJ", "YJ-GOV"], "note": [" "]})
    assert dispatch == c.Dispatch(lead_unit="ZY-SCJGJ", co_units=["ZY-RSJ", "YJ-GOV"])
    follow = forms.command_from_form("follow_up", {"reached": ["true"], "resolved": ["false"], "satisfaction": ["unsatisfied"]})
    assert follow == c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied")
    days = forms.command_from_form("request_extension", {"working_days": ["5"], "reason": ["需多部门核查"]})
    assert days.working_days == 5


def test_a_datetime_input_is_beijing_time() -> None:
    chase = forms.command_from_form("chase", {"response_due": ["2025-10-09T17:00"]})
    assert chase.response_due == datetime(2025, 10, 9, 9, 0, tzinfo=UTC)
    assert chase.response_due.utcoffset() == timedelta(hours=8)


def test_a_form_the_model_refuses_names_the_field_in_chinese() -> None:
    with pytest.raises(ValidationError) as refused:
        forms.command_from_form("reject", {"reason_code": ["other"], "reason": ["   "]})
    assert any(e.startswith("理由：") for e in forms.errors_of(refused.value))
    with pytest.raises(ValidationError):
        forms.command_from_form("no_such_action", {})


def test_a_unit_sees_the_lead_s_forms_or_its_part_s_never_both() -> None:
    """协办: on a case in progress, the lead's key gets the lead's actions; a co-unit's key the
    actions of its part (and progress); a supervisor also the waiver."""
    from hub.domain.model import CaseState
    from tests.unit.test_lifecycle_table import case_in  # lead ZY-SCJGJ, co-unit YJ-GOV

    case = case_in(CaseState.IN_PROGRESS)
    lead = {f.action for f in forms.forms_for(case, Role.UNIT, [], [], "ZY-SCJGJ")}
    co = {f.action for f in forms.forms_for(case, Role.UNIT, [], [], "YJ-GOV")}
    assert lead == {
        "request_return",
        "request_extension",
        "report_progress",
        "reply",
        "request_unreasonable",
        "appeal_assessment",
        "forward",
        "decide_forward_extension",
    }
    assert co == {"sign_off_part", "report_progress"}  # its part not signed yet: nothing to reply
    assert "waive_part" in {f.action for f in forms.forms_for(case, Role.SUPERVISOR, [], [])}
    assert forms.command_from_form("reply_part", {"unit": [""], "text": ["已配合核查"]}) == c.ReplyPart(text="已配合核查")


def test_part_forms_follow_the_part_s_own_state() -> None:
    """协办: a co-unit signs off an unsigned part, replies a signed one and has nothing left once
    its part is replied or waived; the supervisor waives only a part still open, choosing among
    those (the engine refuses the rest)."""
    from datetime import timedelta

    from hub.domain.model import CaseState, Part
    from tests.unit.test_lifecycle_table import NOW, case_in  # lead ZY-SCJGJ, co-unit YJ-GOV

    case = case_in(CaseState.IN_PROGRESS)
    case.handling.co_units = ["YJ-GOV", "ZY-RSJ"]
    case.handling.parts = [Part(unit_code="YJ-GOV", signed_at=NOW), Part(unit_code="ZY-RSJ", signed_at=NOW, replied_at=NOW, reply="已核实")]
    units = [("YJ-GOV", "雁江区政府"), ("ZY-RSJ", "人社局"), ("ZY-SCJGJ", "市场监管局")]

    def actions(unit: str) -> set[str]:
        return {f.action for f in forms.forms_for(case, Role.UNIT, units, [], unit)}

    assert actions("YJ-GOV") == {"reply_part", "report_progress"}
    assert actions("ZY-RSJ") == {"report_progress"}
    (waive,) = [f for f in forms.forms_for(case, Role.SUPERVISOR, units, []) if f.action == "waive_part"]
    assert [i.options for i in waive.inputs if i.name == "unit"] == [[("YJ-GOV", "雁江区政府")]]
    case.handling.parts[0].waived_at = NOW + timedelta(hours=1)
    assert actions("YJ-GOV") == {"report_progress"}
    assert "waive_part" not in {f.action for f in forms.forms_for(case, Role.SUPERVISOR, units, [])}


def test_the_township_holding_a_case_sees_only_what_was_dispatched_on_to_it() -> None:
    """二次派单: the township unit's key acts on its forward, not as the lead or a co-unit."""
    from hub.domain.model import CaseState, Forward
    from tests.unit.test_lifecycle_table import NOW, case_in

    case = case_in(CaseState.IN_PROGRESS)
    case.handling.cascade = [Forward(unit_code="YJ-STZ", by_unit="ZY-SCJGJ", at=NOW, sign_off_due=NOW, due_at=NOW)]
    town = {f.action for f in forms.forms_for(case, Role.UNIT, [], [], "YJ-STZ")}
    assert town == {"sign_off_forward", "reply_forward", "return_forward", "request_forward_extension", "report_progress"}


def test_a_corrected_place_amends_the_case_s_own_and_drops_its_position() -> None:
    """改单 at the console: the division and the address as two inputs; what is left empty stays
    as the case has it, and the old position is not carried onto a corrected place."""
    current = {"division_code": "512002", "address": "雁江区建设路12号", "longitude": 104.6, "latitude": 30.1}
    names = {i.name for i in forms.inputs_of(forms.MODELS["correct"], [], [], [("512021", "安岳县")])}
    assert {"place.division_code", "place.address"} <= names and "place" not in names
    cmd = forms.command_from_form("correct", {"place.division_code": ["512021"], "place.address": [""], "reason": ["区划登记错误"]}, current)
    assert cmd.place == Place(division_code="512021", address="雁江区建设路12号")
    cmd = forms.command_from_form("correct", {"place.address": ["雁江区建设路21号"], "reason": ["门牌号错"]}, current)
    assert cmd.place == Place(division_code="512002", address="雁江区建设路21号")
    assert forms.command_from_form("correct", {"title": ["新标题"]}, current).place is None
