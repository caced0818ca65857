"""One holder at a time across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from hub.leases import Lease


def test_one_holder_and_takeover_after_expiry(hub, clock) -> None:
    a = Lease(hub.db, clock, "scheduler", timedelta(seconds=30), holder="a")
    b = Lease(hub.db, clock, "scheduler", timedelta(seconds=30), holder="b")
    assert a.acquire() and not b.acquire()
    clock.advance(timedelta(seconds=20))
    assert a.acquire() and not b.acquire()  # renewal pushes expiry
    clock.advance(timedelta(seconds=31))
    assert b.acquire() and not a.acquire()  # a's lease lapsed
    b.release()
    assert a.acquire()


def test_refs_attach_without_new_version(hub) -> None:
    import pytest

    from hub.db.repository import CaseRepository
    from hub.domain.access import SYSTEM_ACTOR
    from hub.domain.errors import RuleViolation
    from hub.domain.model import CaseDraft, ExternalRef
    from tests.support.factories import draft

    case = hub.cases.register(CaseDraft.model_validate(draft()), SYSTEM_ACTOR).case
    with hub.db.write() as s:
        assert CaseRepository(s).attach_ref(case.number, ExternalRef(system="province", external_id="SC-1"))
        assert not CaseRepository(s).attach_ref(case.number, ExternalRef(system="province", external_id="SC-1"))
    with pytest.raises(RuleViolation):
        with hub.db.write() as s:
            CaseRepository(s).attach_ref(case.number, ExternalRef(system="province", external_id="SC-2"))
    stored = hub.cases.get(case.number, SYSTEM_ACTOR)
    assert stored.version == 1 and stored.external_id("province") == "SC-1"
