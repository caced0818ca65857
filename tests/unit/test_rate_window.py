"""The sliding-window counter behind the shared rate limit (channels/rates.py): the estimate
and the wait it gives. Figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.rates import estimate, retry_after, window_of


def test_windows_start_on_the_minute_in_utc() -> None:
    start, elapsed = window_of(datetime(2025, 9, 26, 10, 0, 45, tzinfo=UTC))
    assert start == datetime(2025, 9, 26, 10, 0, tzinfo=UTC) and elapsed == 45


@pytest.mark.parametrize(
    "previous, current, elapsed, expected",
    [
        (0, 3, 10, 3),  # nothing before: the current count
        (60, 0, 15, 45),  # three quarters of the previous window are still in the last 60 s
        (60, 10, 30, 40),
        (60, 0, 60, 0),
    ],
)
def test_the_estimate(previous, current, elapsed, expected) -> None:
    assert estimate(previous, current, elapsed) == expected


@pytest.mark.parametrize(
    "previous, current, elapsed, limit, expected",
    [
        # limit 5, 5 in this window, 20 s in: 40 s to its end, then 5 * (1 - t/60) <= 4 needs t >= 12 s.
        (0, 5, 20, 5, 52),
        # limit 10, previous 10, current 0, 0 s in: 10 * (1 - t/60) <= 9 needs t >= 6 s.
        (10, 0, 0, 10, 6),
        # ... and 4 s in: 2 s more.
        (10, 0, 4, 10, 2),
        # limit 10, previous 10, current 5, 30 s in: 10 * (1 - t/60) <= 4 needs t >= 36 s: 6 s more.
        (10, 5, 30, 10, 6),
    ],
)
def test_the_wait(previous, current, elapsed, limit, expected) -> None:
    assert retry_after(previous, current, elapsed, limit) == expected
