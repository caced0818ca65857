"""How long a message waits before its next attempt.

Exponential backoff with full jitter (tenacity's `wait_random_exponential`), computed from
the attempt count stored on the row, so a relay restart neither resets nor repeats it. A
peer's Retry-After is a floor: we never come back sooner than it asked.
"""

from __future__ import annotations

from tenacity import RetryCallState, Retrying, wait_random_exponential

# A peer asking for more than a day is more likely broken than busy.
RETRY_AFTER_CEILING = 86_400.0


def backoff_seconds(attempts: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = max(1, attempts)
    jittered = wait_random_exponential(multiplier=base, max=cap)(state)
    if retry_after is not None and retry_after > 0:
        return max(jittered, min(retry_after, RETRY_AFTER_CEILING))
    return jittered
