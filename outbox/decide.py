"""What becomes of a message whose delivery did not succeed: retried at a time, dead-lettered,
or deferred (never sent, its attempt given back). A pure function of the outcome, the
attempts used and the outbox settings; the relay applies the verdict with SQL
(outbox/record.py `apply`). The backoff's jitter is the only randomness: it comes in
through `backoff`, so a test can pin it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from hub.settings import OutboxSettings
from outbox.backoff import backoff_seconds


class Failed(Protocol):
    """The parts of a relay outcome the decision reads (read-only: an Outcome is frozen)."""

    @property
    def kind(self) -> str: ...  # "transient" | "permanent" | "deferred"

    @property
    def error(self) -> str | None: ...

    @property
    def retry_after(self) -> float | None: ...

    @property
    def misconfigured(self) -> bool: ...


@dataclass(frozen=True)
class Retry:
    """Back to pending, not claimable before `at`."""

    at: datetime
    reason: str


@dataclass(frozen=True)
class Dead:
    """To dead letters: it holds back the later messages of its key until replayed or skipped."""

    reason: str


@dataclass(frozen=True)
class Defer:
    """Never sent (the breaker was open, or the destination is misconfigured): back to pending
    with its attempt given back. `pause_reason` set: pause the destination with that reason."""

    reason: str | None
    pause_reason: str | None = None


Verdict = Retry | Dead | Defer


def decide(outcome: Failed, attempts: int, settings: OutboxSettings, *, now: datetime, backoff: Callable[..., float] = backoff_seconds) -> Verdict:
    """`attempts` counts the attempt that just failed (counted when it was claimed)."""
    if outcome.kind == "deferred":
        if outcome.misconfigured:
            return Defer(f"not sent: {outcome.error}", pause_reason=outcome.error or "")
        return Defer(None)
    if outcome.kind == "permanent":
        return Dead(outcome.error or "refused by the peer")
    if outcome.kind != "transient":
        raise ValueError(f"no decision for a {outcome.kind!r} outcome")
    if attempts >= settings.max_attempts:
        return Dead(f"gave up after {attempts} attempts: {outcome.error}")
    wait = backoff(attempts, base=settings.backoff_base_seconds, cap=settings.backoff_max_seconds, retry_after=outcome.retry_after)
    return Retry(now + timedelta(seconds=wait), f"{outcome.error} (attempt {attempts} of {settings.max_attempts})")
