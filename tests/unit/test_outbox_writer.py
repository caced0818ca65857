"""The hub's OutboxWriter (outbox/store.py) rings the relays listening on it, and only
those: two hubs in one process on one database do not share bells any more."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.clock import ManualClock
from outbox.store import OutboxWriter

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_ring_wakes_every_listener_of_this_writer_and_no_other() -> None:
    mine, theirs = OutboxWriter(ManualClock(START)), OutboxWriter(ManualClock(START))
    woken: list[str] = []
    mine.listen(lambda: woken.append("a"))
    mine.listen(lambda: woken.append("b"))
    theirs.listen(lambda: woken.append("other hub"))
    mine.ring()
    assert sorted(woken) == ["a", "b"]


def test_a_relay_that_stopped_listening_is_not_rung() -> None:
    writer = OutboxWriter(ManualClock(START))
    woken: list[str] = []

    def bell() -> None:
        woken.append("relay")

    writer.listen(bell)
    writer.unlisten(bell)
    writer.unlisten(bell)  # twice: harmless (a relay stopping after a failed start)
    writer.ring()
    assert woken == []
