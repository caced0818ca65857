"""The upsert counters (hub/db/counters.py) through their two users, on a real SQLite file and
a real PostgreSQL database: case numbers per local day (hub/db/numbering.py) and the outbox's
sequences per destination and ordering key (outbox/store.py). Expected numbers written out
by hand."""

from __future__ import annotations

from datetime import datetime

from hub.db import numbering
from hub.domain.clock import LOCAL_TZ
from outbox.store import next_sequence

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
