"""A batch of registrations (hub.cases.register_many, a county's push): every draft answered
on its own, one failing draft never undoing its neighbours, no case number lost or given
twice, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import pytest

from hub.db.repository import DuplicateExternalRef
from hub.domain.access import SYSTEM_ACTOR
from hub.domain.model import CaseDraft
from hub.service import Registered
from tests.support.factories import draft

DAY = "51200020250926"  # the region and the day of the tests' clock: numbers are DAY + a six-digit sequence


def _draft(ref: str | None = None, **changes) -> CaseDraft:
    refs = [{"system": "county.anyue", "external_id": ref}] if ref else []
    return CaseDraft.model_validate(draft(external_refs=refs, **changes))


def _numbers(results: list) -> list[str | None]:
    return [r.case.number if isinstance(r, Registered) else None for r in results]


def test_a_clean_batch_registers_every_draft_with_consecutive_numbers(hub) -> None:
    results = hub.cases.register_many([(_draft(f"AY-{i}"), None) for i in range(5)], SYSTEM_ACTOR)
    assert all(isinstance(r, Registered) and r.created for r in results)
    assert _numbers(results) == [f"{DAY}{n:06d}" for n in range(1, 6)]
    for i, number in enumerate(_numbers(results)):
        assert hub.cases.find_by_ref("county.anyue", f"AY-{i}").number == number


# PostgreSQL groups commits itself: the hub's group commit, counted here, is a SQLite file's.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_clean_batch_is_one_unit_of_work_on_a_sqlite_file(hub) -> None:
    group = hub.db.group
    before = group.units
    hub.cases.register_many([(_draft(f"AY-{i}"), None) for i in range(5)], SYSTEM_ACTOR)
    assert group.units - before == 1  # one savepoint for the five, not five


def test_a_draft_refused_while_registering_leaves_its_neighbours_registered(hub) -> None:
    held = hub.cases.register(_draft("AY-HELD"), SYSTEM_ACTOR).case.number
    batch = [_draft("AY-1"), _draft("AY-HELD"), _draft("AY-2"), _draft("AY-3")]
    results = hub.cases.register_many([(d, None) for d in batch], SYSTEM_ACTOR)
    assert isinstance(results[1], DuplicateExternalRef) and results[1].holder == held
    numbers = _numbers(results)
    assert numbers[1] is None and len({held, numbers[0], numbers[2], numbers[3]}) == 4
    for i, ref in ((0, "AY-1"), (2, "AY-2"), (3, "AY-3")):
        assert hub.cases.find_by_ref("county.anyue", ref).number == numbers[i]
    assert hub.cases.find_by_ref("county.anyue", "AY-HELD").number == held


# PostgreSQL reserves numbers ahead: a refused registration leaves a gap there, as a sequence
# does (tests/integration/test_counters.py); SQLite numbers inside the registration.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_a_sqlite_file_a_draft_refused_while_registering_takes_no_number(hub) -> None:
    hub.cases.register(_draft("AY-HELD"), SYSTEM_ACTOR)
    results = hub.cases.register_many([(d, None) for d in [_draft("AY-1"), _draft("AY-HELD"), _draft("AY-2")]], SYSTEM_ACTOR)
    # The refused draft's number went back with its rollback: its neighbours' follow on.
    assert _numbers(results) == [f"{DAY}000002", None, f"{DAY}000003"]
    assert hub.cases.register(_draft(), SYSTEM_ACTOR).case.number == f"{DAY}000004"


def test_one_ticket_id_twice_in_a_batch_is_registered_once(hub) -> None:
    results = hub.cases.register_many([(_draft("AY-9"), None), (_draft("AY-9", title="第二次推送"), None)], SYSTEM_ACTOR)
    assert isinstance(results[0], Registered) and results[0].created
    assert isinstance(results[1], DuplicateExternalRef) and results[1].holder == results[0].case.number
    assert hub.cases.find_by_ref("county.anyue", "AY-9").title == results[0].case.title


def test_a_batch_sent_again_with_its_keys_answers_the_same_cases(hub) -> None:
    batch = [(_draft(f"AY-K{i}"), f"push-1:{i}") for i in range(3)]
    first = hub.cases.register_many(batch, SYSTEM_ACTOR)
    again = hub.cases.register_many(batch, SYSTEM_ACTOR)
    assert all(isinstance(r, Registered) and r.created for r in first)
    assert all(isinstance(r, Registered) and not r.created for r in again)
    assert _numbers(again) == _numbers(first)


def test_a_draft_refused_before_registering_is_answered_in_its_place(hub) -> None:
    results = hub.cases.register_many([(_draft("AY-A"), None), (_draft("AY-B", category_code="0000"), None), (_draft("AY-C"), None)], SYSTEM_ACTOR)
    assert isinstance(results[0], Registered) and isinstance(results[2], Registered)
    assert not isinstance(results[1], Registered) and "0000" in str(results[1])
    assert hub.cases.find_by_ref("county.anyue", "AY-B") is None
