"""The kit's sample cases are in states the lifecycle really puts a case in after each event:
an adapter is checked against messages the hub can send, not ones it never would."""

from __future__ import annotations

import pytest

from hub.domain.events import EVENT_TYPES
from hub.domain.lifecycle import PREVIOUS, TABLE
from integration_kit.scenarios import EVENT_STATE


def _targets(event_type: str) -> set[str]:
    actions = {action for action, event in EVENT_TYPES.items() if event == event_type}
    out: set[str] = set()
    for row in TABLE:
        if row.action.value not in actions:
            continue
        if row.target == PREVIOUS:  # back where the request came from
            out |= {r.source.value for r in TABLE if r.target == row.source}
        else:
            out.add(row.target.value)
    return out


# Not moves of the table: registering creates the case; attaching a file (Engine.attach) leaves
# the state where it is, so its sample is any state a file is added in.
@pytest.mark.parametrize("event_type", sorted(set(EVENT_STATE) - {"case.registered", "case.attachment_added"}))
def test_each_sample_state_is_a_target_of_its_event(event_type: str) -> None:
    assert EVENT_STATE[event_type].value in _targets(event_type), (event_type, sorted(_targets(event_type)))


def test_a_redo_sends_the_case_back_to_the_centre() -> None:
    assert EVENT_STATE["case.redo"].value == "accepted"  # 重办: accepted again, before a new dispatch
