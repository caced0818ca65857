"""Publishing and retiring reach the province through the outbox, in the same transaction
and in order per article (ordering key kb:<id>), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.domain.access import Actor
from hub.domain.model import Role
from hub.settings import Settings
from knowledge.handle import Knowledge
from knowledge.model import ArticleInput
from knowledge.review import ReviewAction

SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
UNIT = Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ")


@pytest.fixture
def shared_hub(db_url, clock):
    from hub.runtime import build_hub

    settings = Settings(
        database_url=db_url, sqlite_synchronous="NORMAL", destinations={"province": {"adapter": "webhook", "settings": {"url": "http://127.0.0.1:9/kb"}}}
    )
    hub = build_hub(settings, clock)
    yield hub
    hub.close()


def test_publish_and_retire_are_enqueued_for_the_province(shared_hub) -> None:
    from outbox.tables import OutboxMessageRow

    store = shared_hub.handles.get(Knowledge).store
    assert store.sharing.enqueue is not None and store.sharing.destinations == ["province"]
    a = store.create(ArticleInput(owner_unit="ZY-RSJ", kind="faq", title="失业金怎么领", body="失业保险金可在掌上12333申领。"), UNIT)
    store.act(a.id, ReviewAction.REVIEW, SUPERVISOR)
    with shared_hub.db.read() as s:
        assert s.execute(select(OutboxMessageRow)).first() is None  # nothing leaves before publication
    store.act(a.id, ReviewAction.PUBLISH, SUPERVISOR)
    store.act(a.id, ReviewAction.RETIRE, UNIT)
    with shared_hub.db.read() as s:
        rows = list(s.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.id)).scalars())
    assert [(r.destination, r.ordering_key, r.sequence, r.event_type) for r in rows] == [
        ("province", f"kb:{a.id}", 1, "knowledge.published"),
        ("province", f"kb:{a.id}", 2, "knowledge.retired"),
    ]
    assert rows[0].body["event"]["title"] == "失业金怎么领" and rows[0].body["event"]["version"] == 1
