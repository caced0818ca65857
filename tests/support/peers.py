"""A webhook peer that answers late, for the tests that kill a relay between sending a message
and recording it (tests/e2e/test_outbox_processes.py, tests/e2e/test_topology.py)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter


class DelayedAck:
    """Wraps the sandbox sink (sandbox/webhook_sink.py): the sink applies a POST /events, then
    its answer waits `delay` seconds and, while the peer is held (`hold()` .. `release()`),
    until it is released. Meanwhile the sending relay has not recorded the delivery: the
    window a kill is meant to fall into. `holding()` names the messages (by Idempotency-Key)
    applied and waiting for their answer now; `sends` counts every POST per key."""

    def __init__(self, app, delay: float = 0.0) -> None:  # noqa: ANN001
        self.app, self.delay = app, delay
        self.sends: Counter[str] = Counter()
        self._open = threading.Event()
        self._open.set()
        self._holding: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def holding(self) -> set[str]:
        with self._lock:
            return {key for key, n in self._holding.items() if n > 0}

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or scope.get("path") != "/events":
            await self.app(scope, receive, send)
            return
        key = dict(scope["headers"]).get(b"idempotency-key", b"").decode()
        with self._lock:
            self.sends[key] += 1

        async def late(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                if self.delay:
                    await asyncio.sleep(self.delay)
                if not self._open.is_set():
                    applied = message["status"] == 200  # the sink kept it (or had it already)
                    with self._lock:
                        self._holding[key] += applied
                    try:
                        while not self._open.is_set():  # noqa: ASYNC110 - released from the test's thread, not this loop
                            await asyncio.sleep(0.02)
                    finally:
                        with self._lock:
                            self._holding[key] -= applied
            await send(message)

        await self.app(scope, receive, late)
