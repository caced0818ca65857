"""The upsert counters (hub/db/counters.py) through their two users, on a real SQLite file and
a real PostgreSQL database: case numbers per local day (hub/db/numbering.py) and the outbox's
sequences per destination and ordering key (outbox/store.py). Expected numbers written out
by hand."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from hub.db import numbering
from hub.domain.clock import LOCAL_TZ, ManualClock
from hub.settings import Settings
from outbox.store import next_sequence
from tests.conftest import START

DAY_1 = datetime(2025, 9, 26, 23, 59, tzinfo=LOCAL_TZ)
DAY_2 = datetime(2025, 9, 27, 0, 1, tzinfo=LOCAL_TZ)


def test_case_numbers_count_per_local_day_and_a_reserved_block_follows_on(hub) -> None:
    with hub.db.write() as s:
        assert numbering.next_number(s, "512000", DAY_1) == "51200020250926000001"
        assert numbering.next_number(s, "512000", DAY_2) == "51200020250927000001"  # a new day starts again
        assert numbering.next_number(s, "512000", DAY_1) == "51200020250926000002"
        # Three for day 1 and one for day 2, in the order given, each day's block after its last number.
        assert numbering.reserve_numbers(s, "512000", [DAY_1, DAY_2, DAY_1, DAY_1]) == [
            "51200020250926000003",
            "51200020250927000002",
            "51200020250926000004",
            "51200020250926000005",
        ]
    with hub.db.write() as s:  # kept across transactions
        assert numbering.next_number(s, "512000", DAY_1) == "51200020250926000006"


def test_outbox_sequences_count_per_destination_and_ordering_key(hub) -> None:
    with hub.db.write() as s:
        assert [next_sequence(s, "province", "case-1") for _ in range(3)] == [1, 2, 3]
        assert next_sequence(s, "province", "case-2") == 1
        assert next_sequence(s, "county", "case-1") == 1
    with hub.db.write() as s:
        assert next_sequence(s, "province", "case-1") == 4


# -- case numbers through registration ------------------------------------------------------
# The hub fixture's clock stands at 2025-09-26 10:00 in Ziyang, so its cases are numbered
# 512000 20250926 nnnnnn.


def _register(hub, **changes):
    from hub.domain.access import SYSTEM_ACTOR
    from hub.domain.model import CaseDraft
    from tests.support.factories import draft

    key = changes.pop("key", None)
    return hub.cases.register(CaseDraft.model_validate(draft(**changes)), SYSTEM_ACTOR, idempotency_key=key)


def test_a_replayed_key_takes_no_number(hub) -> None:
    first = _register(hub, key="call-1")
    again = _register(hub, key="call-1")
    after = _register(hub)
    assert (first.case.number, again.case.number, again.created) == ("51200020250926000001", "51200020250926000001", False)
    assert after.case.number == "51200020250926000002"


def test_a_registration_that_fails_leaves_a_gap_on_postgresql_only(hub, monkeypatch) -> None:
    """On SQLite the number is taken in the registration's own transaction, so a failure gives it
    back; on PostgreSQL it is taken in a transaction of its own (no lock held through the
    registration), so a failure leaves a gap, as a sequence does. Never the same number twice."""
    from hub.db.repository import CaseRepository

    add = CaseRepository.add
    calls = {"n": 0}

    def failing_once(self, case):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk trouble in the middle of the registration")
        return add(self, case)

    monkeypatch.setattr(CaseRepository, "add", failing_once)
    with pytest.raises(RuntimeError):
        _register(hub)
    expected = "51200020250926000001" if hub.db.is_sqlite else "51200020250926000002"
    assert _register(hub).case.number == expected


@pytest.mark.postgres
def test_on_postgresql_a_registration_in_progress_does_not_hold_up_the_next(pg_database, tmp_path, monkeypatch) -> None:
    """Before, the day's counter row stayed locked until the registration committed, so every
    concurrent registration waited for it: here the second would wait until the first is let go."""
    from hub.db.repository import CaseRepository
    from hub.runtime import build_hub

    pg_database.clean()
    hub = build_hub(Settings(database_url=pg_database.url, attachments={"directory": tmp_path / "attachments"}), ManualClock(START))
    inside, release = threading.Event(), threading.Event()
    add = CaseRepository.add

    def slow_first(self, case):
        if case.number.endswith("000001"):
            inside.set()
            release.wait(60)
        return add(self, case)

    monkeypatch.setattr(CaseRepository, "add", slow_first)
    results: dict[str, str] = {}
    first = threading.Thread(target=lambda: results.update(first=_register(hub).case.number))
    second = threading.Thread(target=lambda: results.update(second=_register(hub).case.number))
    try:
        first.start()
        assert inside.wait(60), "the first registration never reached its case row"
        second.start()
        second.join(60)
        assert not second.is_alive(), "the second registration waited for the first one's transaction"
        assert "first" not in results  # the first is still inside its transaction
    finally:
        release.set()
        first.join(60)
        second.join(60)
        hub.close()
    assert results == {"first": "51200020250926000001", "second": "51200020250926000002"}
