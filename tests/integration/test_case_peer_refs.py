"""The case service's peer ids, as the outbox relay records them inside its own transaction
(hub/service.py record_peer_ref / peer_refs): a new id is attached, the same one again is a
no-op, a different one is refused without undoing the caller's other writes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.domain.access import Actor
from hub.domain.errors import RuleViolation
from hub.domain.model import CaseDraft, ExternalRef, Role
from outbox.feature import OutboxHandle
from outbox.tables import OutboxMessageRow
from tests.support.factories import draft

AGENT = Actor(party="centre-agent", role=Role.AGENT)


def test_a_peer_id_is_attached_once_and_read_back(hub) -> None:
    number = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
    with hub.db.write() as s:
        assert hub.cases.record_peer_ref(s, number, ExternalRef(system="province", external_id="SC-7")) is True
        assert hub.cases.record_peer_ref(s, number, ExternalRef(system="province", external_id="SC-7")) is False
    with hub.db.read() as s:
        assert hub.cases.peer_refs(s, {number}, {"province", "county.anyue"}) == {(number, "province"): "SC-7"}
        assert hub.cases.peer_refs(s, {number}, {"county.anyue"}) == {}
    assert [(r.system, r.external_id) for r in hub.cases.get(number, AGENT).external_refs] == [("province", "SC-7")]


def test_a_conflicting_peer_id_is_refused_and_the_callers_other_writes_stand(hub) -> None:
    number = hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number
    with hub.db.write() as s:
        hub.cases.record_peer_ref(s, number, ExternalRef(system="province", external_id="SC-7"))
    with hub.db.write() as s:
        hub.handles.get(OutboxHandle).enqueue(s, destination="elsewhere", ordering_key="k", event_type="test.kept", payload={})
        with pytest.raises(RuleViolation, match="SC-7"):
            hub.cases.record_peer_ref(s, number, ExternalRef(system="province", external_id="SC-8"))
    with hub.db.read() as s:
        kept = list(s.execute(select(OutboxMessageRow.event_type).where(OutboxMessageRow.event_type == "test.kept")).scalars())
        assert hub.cases.peer_refs(s, {number}, {"province"}) == {(number, "province"): "SC-7"}
    assert kept == ["test.kept"]
