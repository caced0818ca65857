"""Persistence on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.db.models import Base, is_managed
from hub.db.repository import CaseRepository, DuplicateExternalRef
from hub.domain import commands as c
from hub.domain.access import SYSTEM_ACTOR, Actor
from hub.domain.errors import StaleCase
from hub.domain.model import CaseDraft, ExternalRef, Role
from tests.support.factories import draft


def _register(hub, **changes):
    return hub.cases.register(CaseDraft.model_validate(draft(**changes)), SYSTEM_ACTOR).case


def test_migrations_match_the_models(hub) -> None:
    with hub.db.writer.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True, "include_name": is_managed}), Base.metadata)
    assert diffs == []


def test_round_trip_keeps_every_field(hub) -> None:
    case = _register(hub, external_refs=[{"system": "province", "external_id": "SC-2025-1"}], **{"place.longitude": 104.63, "place.latitude": 30.12})
    stored = hub.cases.get(case.number, SYSTEM_ACTOR)
    assert stored == case
    assert hub.cases.find_by_ref("province", "SC-2025-1").number == case.number


def test_case_numbers_are_region_date_sequence(hub) -> None:
    numbers = [_register(hub).number for _ in range(3)]
    assert numbers == [f"51200020250926{n:06d}" for n in (1, 2, 3)]


def test_external_ref_is_unique_per_system(hub) -> None:
    _register(hub, external_refs=[{"system": "county.yanjiang", "external_id": "YJ-7"}])
    with pytest.raises(DuplicateExternalRef, match="YJ-7"):
        _register(hub, external_refs=[{"system": "county.yanjiang", "external_id": "YJ-7"}])
    # The same id in another system is a different thing.
    _register(hub, external_refs=[{"system": "county.anyue", "external_id": "YJ-7"}])


def test_stale_write_is_refused_never_lost(hub) -> None:
    number = _register(hub).number
    with hub.db.read() as s:
        first = CaseRepository(s).get(number)
        second = CaseRepository(s).get(number)
    engine = hub.cases.engine()
    a = engine.act(first, c.Accept(note="A"), SYSTEM_ACTOR, hub.clock.now())
    b = engine.act(second, c.Reject(reason_code="other", reason="B"), Actor("centre", Role.SUPERVISOR), hub.clock.now())
    with hub.db.write() as s:
        CaseRepository(s).save(a.case, first.version)
    with pytest.raises(StaleCase):
        with hub.db.write() as s:
            CaseRepository(s).save(b.case, second.version)
    stored = hub.cases.get(number, SYSTEM_ACTOR)
    assert stored.state.value == "accepted" and [h.action for h in stored.history] == ["register", "accept"]


def test_events_are_written_with_the_change(hub) -> None:
    from hub.service import event_rows

    number = _register(hub).number
    hub.cases.act(number, c.Accept(), SYSTEM_ACTOR)
    with hub.db.read() as s:
        rows = event_rows(s, number)
    assert [(r.type, r.case_version) for r in rows] == [("case.registered", 1), ("case.accepted", 2)]


def test_a_failed_transition_leaves_nothing(hub) -> None:
    from hub.domain.errors import ActionNotAllowed
    from hub.service import event_rows

    number = _register(hub).number
    with pytest.raises(ActionNotAllowed):
        hub.cases.act(number, c.SignOff(), SYSTEM_ACTOR)
    with hub.db.read() as s:
        assert [r.type for r in event_rows(s, number)] == ["case.registered"]
    assert hub.cases.get(number, SYSTEM_ACTOR).version == 1


def test_refs_added_later_are_stored(hub) -> None:
    case = _register(hub)
    updated = case.model_copy(update={"external_refs": [ExternalRef(system="province", external_id="SC-9")], "version": 2})
    with hub.db.write() as s:
        CaseRepository(s).save(updated, 1)
    assert hub.cases.find_by_ref("province", "SC-9").number == case.number
