"""The relay's pipeline (outbox/relay.py `_pump`): a whole next batch is claimed while the last
one is still at the peer, never more than two batches are held, and each key's messages still
reach the peer once each and in order. Real SQLite file and real PostgreSQL; the peer is an
adapter that holds every call until the test lets it answer."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from hub.integration.contract import Delivery, OutboundMessage
from hub.settings import OutboxSettings
from outbox.feature import OutboxHandle
from outbox.relay import Relay
from outbox.tables import DELIVERED, IN_FLIGHT, OutboxMessageRow

M = OutboxMessageRow
DEST = "peer"
BATCH = 10
PER_CALL = 5


class HeldPeer:
    """Takes batches of PER_CALL; every call waits for `answer`, counting what it holds."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.lock = threading.Lock()
        self.received: list[OutboundMessage] = []
        self.holding = 0
        self.most_held = 0

    def external_system(self) -> str | None:
        return None

    def batch_limit(self) -> int:
        return PER_CALL

    def deliver(self, message: OutboundMessage) -> Delivery:
        return self.deliver_batch([message])[0]  # type: ignore[return-value]

    def deliver_batch(self, messages: list[OutboundMessage]) -> list[Delivery]:
        with self.lock:
            self.received.extend(messages)
            self.holding += len(messages)
            self.most_held = max(self.most_held, self.holding)
        self.answer.wait(300)
        with self.lock:
            self.holding -= len(messages)
        return [Delivery() for _ in messages]

    def close(self) -> None:
        pass


class OnePeer:
    """The relay's adapter factory: one destination, the held peer, shared by every thread."""

    def __init__(self, peer: HeldPeer) -> None:
        self.peer = peer

    def configured(self) -> list[str]:
        return [DEST]

    def deliverable(self) -> list[str]:
        return [DEST]

    def build(self, destination: str) -> HeldPeer:
        return self.peer


def _until(condition, what: str, bound: float = 120.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"not within {bound:.0f} s: {what}"
        time.sleep(0.02)


def test_the_next_batch_is_claimed_while_the_last_is_out_and_each_key_keeps_its_order(hub) -> None:
    handle = hub.handles.get(OutboxHandle)
    with hub.db.write() as s:
        for n in range(3):  # 30 keys, three messages each, interleaved
            for k in range(30):
                handle.enqueue(s, destination=DEST, ordering_key=f"k{k}", event_type="test.event", payload={"n": n})
    peer = HeldPeer()
    cfg = OutboxSettings(batch=BATCH, concurrency=8, lease_seconds=600)
    relay = Relay(hub.db, hub.clock, cfg, OnePeer(peer), hub.cases, handle.writer)  # type: ignore[arg-type]
    handled: list[int] = []
    runner = threading.Thread(target=lambda: handled.append(relay.drain(timeout=600)))
    runner.start()
    try:
        # Nothing has answered yet, and a second whole batch is already at the peer.
        _until(lambda: peer.holding == 2 * BATCH, "two batches held at the peer at once")
        with hub.db.read() as s:
            assert s.execute(select(func.count()).select_from(M).where(M.status == IN_FLIGHT)).scalar_one() == 2 * BATCH
    finally:
        peer.answer.set()
        runner.join(600)
        relay.close()
    assert handled == [90]
    assert peer.most_held <= 2 * BATCH  # never more than two batches out
    keys = [m.idempotency_key for m in peer.received]
    assert len(keys) == len(set(keys)) == 90  # each message once
    for k in range(30):
        mine = [m.sequence for m in peer.received if m.idempotency_key == f"{DEST}:k{k}:{m.sequence}"]
        assert mine == [1, 2, 3], f"key k{k} reached the peer as {mine}"
    with hub.db.read() as s:
        assert set(s.execute(select(M.status)).scalars()) == {DELIVERED}
