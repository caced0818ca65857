"""A registration as one unit of a shared commit (hub/db/group_commit.py): on a SQLite file
CaseService submits it cursor-only, in a savepoint on the driver connection. A registration
refused after its rows were written leaves none of them (case, history, event, retrieval code,
idempotency key), and the registrations beside it in the batch are stored whole; the
Idempotency-Key rows, now written on the cursor, still replay and refuse as before."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hub.domain.access import SYSTEM_ACTOR
from hub.domain.errors import RuleViolation
from hub.domain.model import CaseDraft
from hub.service import IdempotencyConflict, Registered
from tests.support.factories import draft

REFUSED_TITLE = "被退回的登记"


class RefusedBySink(RuleViolation):
    pass


def _refuse_one(_session, case, _rows) -> None:
    # A sink runs after the case, its history and its event are written, in the same unit.
    if case.title == REFUSED_TITLE:
        raise RefusedBySink(case.number)


def _count(hub, sql: str, **params) -> int:
    with hub.db.read() as s:
        return int(s.execute(text(sql), params).scalar_one())


def test_a_registration_refused_after_its_rows_leaves_none_and_its_neighbours_are_stored(hub) -> None:
    hub.cases.sinks.append(_refuse_one)
    drafts = [
        (CaseDraft.model_validate(draft(title="第一件")), None),
        (CaseDraft.model_validate(draft(title=REFUSED_TITLE)), "key-refused"),
        (CaseDraft.model_validate(draft(title="第三件")), None),
    ]
    first, refused, third = hub.cases.register_many(drafts, SYSTEM_ACTOR)
    assert isinstance(first, Registered) and isinstance(third, Registered)
    assert isinstance(refused, RefusedBySink)
    # (On SQLite the refused case's number was undone with it: the third case took it again.)
    assert _count(hub, "SELECT count(*) FROM cases") == 2
    assert _count(hub, "SELECT count(*) FROM cases WHERE search_text LIKE :t", t=f"{REFUSED_TITLE}%") == 0
    assert _count(hub, "SELECT count(*) FROM case_history") == 2
    assert _count(hub, "SELECT count(*) FROM case_events") == 2
    assert _count(hub, "SELECT count(*) FROM retrieval_codes") == 2
    assert _count(hub, "SELECT count(*) FROM idempotency_keys") == 0
    for kept in (first, third):
        assert _count(hub, "SELECT count(*) FROM case_events WHERE case_number = :n", n=kept.case.number) == 1
        assert _count(hub, "SELECT count(*) FROM retrieval_codes WHERE case_number = :n", n=kept.case.number) == 1


def test_the_same_key_twice_in_one_batch_registers_once_and_replays(hub) -> None:
    same = CaseDraft.model_validate(draft(title="同一请求"))
    first, again = hub.cases.register_many([(same, "key-1"), (same, "key-1")], SYSTEM_ACTOR)
    assert isinstance(first, Registered) and isinstance(again, Registered)
    assert first.created and not again.created
    assert again.case.number == first.case.number
    assert _count(hub, "SELECT count(*) FROM cases") == 1


def test_a_key_answered_replays_and_a_different_body_under_it_is_refused(hub) -> None:
    body = CaseDraft.model_validate(draft(title="原请求"))
    registered = hub.cases.register(body, SYSTEM_ACTOR, idempotency_key="key-2")
    replay = hub.cases.register(body, SYSTEM_ACTOR, idempotency_key="key-2")
    assert registered.created and not replay.created and replay.case.number == registered.case.number
    with pytest.raises(IdempotencyConflict, match=registered.case.number):
        hub.cases.register(CaseDraft.model_validate(draft(title="另一个请求")), SYSTEM_ACTOR, idempotency_key="key-2")
    assert _count(hub, "SELECT count(*) FROM cases") == 1
    assert _count(hub, "SELECT count(*) FROM idempotency_keys WHERE key = 'key-2'") == 1
