"""The relay's local circuit breaker (outbox/breaker.py): trips after N failures in a row,
stays open for the pause, is reset by a success, and follows the database once its
tripping failure is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.domain.clock import ManualClock
from outbox.breaker import LocalBreaker

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def breaker(failures: int = 3, pause: float = 60.0) -> tuple[LocalBreaker, ManualClock]:
    clock = ManualClock(START)
    return LocalBreaker(clock, failures, pause), clock


def test_the_nth_failure_in_a_row_trips_it_and_only_that_one() -> None:
    b, _ = breaker(failures=3)
    assert [b.note("peer", failed=True) for _ in range(3)] == [False, False, True]
    assert b.is_open("peer")


def test_a_success_between_failures_starts_the_count_again() -> None:
    b, _ = breaker(failures=3)
    b.note("peer", failed=True)
    b.note("peer", failed=True)
    b.note("peer", failed=False)
    assert [b.note("peer", failed=True) for _ in range(2)] == [False, False]
    assert not b.is_open("peer")


def test_destinations_are_counted_apart() -> None:
    b, _ = breaker(failures=2)
    b.note("a", failed=True)
    b.note("b", failed=True)
    assert not b.is_open("a") and not b.is_open("b")
    assert b.note("a", failed=True) is True
    assert b.is_open("a") and not b.is_open("b")


def test_it_stays_open_for_the_pause_then_closes_by_itself() -> None:
    b, clock = breaker(failures=1, pause=60.0)
    b.note("peer", failed=True)
    clock.advance(timedelta(seconds=59))
    assert b.is_open("peer")
    clock.advance(timedelta(seconds=1))  # the pause is up to, not including, its end
    assert not b.is_open("peer")


def test_after_tripping_the_count_starts_from_zero() -> None:
    b, clock = breaker(failures=2, pause=10.0)
    b.note("peer", failed=True)
    assert b.note("peer", failed=True) is True
    clock.advance(timedelta(seconds=11))
    assert b.note("peer", failed=True) is False  # the first of a new run, not the third
    assert b.note("peer", failed=True) is True


def test_an_unrecorded_pause_holds_even_if_the_database_shows_none() -> None:
    """Before its failure is committed the database cannot know: the local pause is all there is."""
    b, _ = breaker(failures=1)
    b.note("peer", failed=True)
    b.follow([])
    assert b.is_open("peer")


def test_a_recorded_pause_lifted_in_the_database_is_lifted_here() -> None:
    """An operator's resume (or another relay's success) lifts it for this relay too."""
    b, _ = breaker(failures=1)
    b.note("peer", failed=True)
    b.recorded({"peer"})
    b.follow(["peer"])  # still paused there: still paused here
    assert b.is_open("peer")
    b.follow([])
    assert not b.is_open("peer")


def test_recording_a_destination_that_never_tripped_here_changes_nothing() -> None:
    b, _ = breaker(failures=1)
    b.recorded({"other"})
    b.note("other", failed=True)  # trips now, after the unrelated record
    b.follow([])
    assert b.is_open("other")


def test_tripping_again_needs_a_new_record_before_the_database_is_followed() -> None:
    b, clock = breaker(failures=1, pause=10.0)
    b.note("peer", failed=True)
    b.recorded({"peer"})
    clock.advance(timedelta(seconds=11))
    b.note("peer", failed=True)  # a new local pause, not yet recorded
    b.follow([])
    assert b.is_open("peer")
