"""Backoff from the stored attempt count: full jitter under an exponential cap, Retry-After as a floor."""

from __future__ import annotations

from outbox.backoff import RETRY_AFTER_CEILING, backoff_seconds


def test_full_jitter_stays_under_the_doubling_cap() -> None:
    for attempts, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (20, 60.0)]:
        waits = [backoff_seconds(attempts, base=1.0, cap=60.0) for _ in range(200)]
        assert all(0.0 <= w <= cap for w in waits)
        assert max(waits) > cap / 4  # jittered across the range, not pinned at zero


def test_the_stored_count_drives_it_so_a_restart_does_not_reset_it() -> None:
    late = [backoff_seconds(8, base=1.0, cap=600.0) for _ in range(200)]
    early = [backoff_seconds(1, base=1.0, cap=600.0) for _ in range(200)]
    assert sum(late) / len(late) > 20 * sum(early) / len(early)


def test_retry_after_is_a_floor_but_not_unbounded() -> None:
    assert all(backoff_seconds(1, base=0.01, cap=0.5, retry_after=7.0) >= 7.0 for _ in range(50))
    assert backoff_seconds(1, base=0.01, cap=0.5, retry_after=10 * RETRY_AFTER_CEILING) == RETRY_AFTER_CEILING
