"""The relay's decision after a delivery that did not succeed (outbox/decide.py), every branch:
retry at a time, dead letter, defer (with or without pausing the destination)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hub.settings import OutboxSettings
from outbox.decide import Dead, Defer, Retry, decide

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SETTINGS = OutboxSettings(max_attempts=4, backoff_base_seconds=2.0, backoff_max_seconds=100.0)


@dataclass
class Failed:
    kind: str
    error: str | None = "ReadTimeout: peer slow"
    retry_after: float | None = None
    misconfigured: bool = False


def fixed_wait(seconds: float):
    calls = []

    def backoff(attempts, *, base, cap, retry_after=None):  # noqa: ANN001, ANN202
        calls.append((attempts, base, cap, retry_after))
        return seconds

    return backoff, calls


def test_a_transient_failure_with_attempts_left_retries_after_the_backoff() -> None:
    backoff, calls = fixed_wait(7.5)
    verdict = decide(Failed("transient", retry_after=3.0), 2, SETTINGS, now=NOW, backoff=backoff)
    assert verdict == Retry(at=datetime(2026, 3, 2, 8, 0, 7, 500000, tzinfo=UTC), reason="ReadTimeout: peer slow (attempt 2 of 4)")
    # The backoff is asked with the stored attempts, the settings' base and cap, and the peer's Retry-After.
    assert calls == [(2, 2.0, 100.0, 3.0)]


def test_the_real_backoff_keeps_the_retry_within_its_window_and_above_retry_after() -> None:
    for _ in range(50):
        verdict = decide(Failed("transient"), 3, SETTINGS, now=NOW)
        assert isinstance(verdict, Retry) and NOW <= verdict.at <= NOW + timedelta(seconds=8)  # 2 * 2**(3-1)
        floored = decide(Failed("transient", retry_after=30.0), 1, SETTINGS, now=NOW)
        assert isinstance(floored, Retry) and floored.at >= NOW + timedelta(seconds=30)


def test_the_last_transient_attempt_goes_to_dead_letters() -> None:
    backoff, calls = fixed_wait(1.0)
    assert decide(Failed("transient"), 4, SETTINGS, now=NOW, backoff=backoff) == Dead("gave up after 4 attempts: ReadTimeout: peer slow")
    assert decide(Failed("transient"), 9, SETTINGS, now=NOW, backoff=backoff) == Dead("gave up after 9 attempts: ReadTimeout: peer slow")
    assert calls == []  # no wait computed for a message that will not be retried


def test_a_permanent_refusal_is_dead_at_once_whatever_the_attempts() -> None:
    assert decide(Failed("permanent", error="PermanentError: 422 unknown case"), 1, SETTINGS, now=NOW) == Dead("PermanentError: 422 unknown case")
    assert decide(Failed("permanent", error=None), 1, SETTINGS, now=NOW) == Dead("refused by the peer")


def test_not_sent_because_the_breaker_was_open_is_deferred_without_touching_the_error() -> None:
    assert decide(Failed("deferred", error="not sent: paused"), 3, SETTINGS, now=NOW) == Defer(None)


def test_not_sent_because_misconfigured_is_deferred_and_pauses_the_destination() -> None:
    verdict = decide(Failed("deferred", error="misconfigured: mapping file gone", misconfigured=True), 4, SETTINGS, now=NOW)
    assert verdict == Defer("not sent: misconfigured: mapping file gone", pause_reason="misconfigured: mapping file gone")


def test_a_delivered_outcome_has_no_decision() -> None:
    with pytest.raises(ValueError):
        decide(Failed("delivered"), 1, SETTINGS, now=NOW)
