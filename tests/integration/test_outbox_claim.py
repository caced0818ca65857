"""The claim's order rule and, on PostgreSQL, its row locks (outbox/claim.py): a message is
claimed only while it heads its (destination, ordering key), two relays never take the
same message, and a head another relay is claiming is skipped, not passed by its key's later
messages. Real SQLite file and real PostgreSQL; the claim's SQL is called directly."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from outbox import claim as claim_sql
from outbox.feature import OutboxHandle
from outbox.tables import DEAD, DELIVERED, IN_FLIGHT, OutboxMessageRow

M = OutboxMessageRow
DEST = "peer"


def queue(hub, keys: int, per_key: int) -> dict[int, tuple[str, int]]:
    """`per_key` messages for each of `keys` keys, interleaved; {id: (key, position in its key)}."""
    enqueue = hub.handles.get(OutboxHandle).enqueue
    with hub.db.write() as s:
        for n in range(per_key):
            for k in range(keys):
                enqueue(s, destination=DEST, ordering_key=f"k{k}", event_type="test.event", payload={"n": n})
    with hub.db.read() as s:
        return {r.id: (r.ordering_key, r.sequence) for r in s.execute(select(M)).scalars()}


def take(s, hub, holder: str, limit: int) -> list[int]:
    now = hub.clock.now()
    rows = claim_sql.claim(s, holder=holder, limit=limit, now=now, lease_seconds=600, deliverable=[DEST], paused_now=[], probing=[])
    return [r.id for r in rows]


def finish(hub, ids: list[int], status: str = DELIVERED) -> None:
    with hub.db.write() as s:
        s.execute(update(M).where(M.id.in_(ids)).values(status=status, delivered_at=hub.clock.now(), lease_until=None))


def test_only_the_head_of_each_key_is_claimed_and_a_dead_letter_holds_its_key(hub) -> None:
    messages = queue(hub, keys=3, per_key=3)
    by_key = {k: [i for i, (kk, _) in sorted(messages.items(), key=lambda x: x[1][1]) if kk == k] for k in ("k0", "k1", "k2")}
    with hub.db.write() as s:
        first = take(s, hub, "relay-a", 100)
    assert sorted(first) == sorted(ids[0] for ids in by_key.values())  # one per key: the first of each
    with hub.db.write() as s:
        assert take(s, hub, "relay-a", 100) == []  # the heads are in flight: nothing else is due
    finish(hub, [by_key["k0"][0], by_key["k1"][0]])
    finish(hub, [by_key["k2"][0]], DEAD)
    with hub.db.write() as s:
        second = take(s, hub, "relay-a", 100)
    assert sorted(second) == sorted([by_key["k0"][1], by_key["k1"][1]])  # k2 waits behind its dead letter


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_claim_skips_heads_another_relay_holds_locked_and_never_passes_them(hub) -> None:
    """Row locks: PostgreSQL's (SQLite has one writer)."""
    messages = queue(hub, keys=4, per_key=3)
    heads = {i for i, (_, seq) in messages.items() if seq == min(q for kk, q in messages.values() if kk == messages[i][0])}
    taken_b: list[int] = []
    with hub.db.write() as a:
        taken_a = take(a, hub, "relay-a", 2)  # locked, not yet committed
        assert len(taken_a) == 2 and set(taken_a) <= heads

        def other() -> None:
            with hub.db.write() as b:
                taken_b.extend(take(b, hub, "relay-b", 100))

        t = threading.Thread(target=other)
        t.start()
        t.join(30)
        assert not t.is_alive(), "the second claim waited on the first one's locks instead of skipping them"
    # B took the two other heads only: neither A's (locked) nor any later message of A's keys.
    assert sorted(taken_b) == sorted(heads - set(taken_a))
    with hub.db.write() as s:
        assert take(s, hub, "relay-b", 100) == []  # every head is in flight now
    with hub.db.read() as s:
        holders = dict(s.execute(select(M.id, M.leased_by).where(M.status == IN_FLIGHT)).all())
    assert holders == {**dict.fromkeys(taken_a, "relay-a"), **dict.fromkeys(taken_b, "relay-b")}


def test_relays_claiming_at_once_take_each_message_once_and_each_key_in_order(hub) -> None:
    keys, per_key = 20, 6
    messages = queue(hub, keys=keys, per_key=per_key)
    log: list[int] = []  # claims, in the order their claimers saw them committed
    log_lock = threading.Lock()
    errors: list[BaseException] = []

    def relay(name: str, seed: int) -> None:
        rnd = random.Random(seed)
        try:
            idle = 0
            while idle < 20:
                with hub.db.write(durable=False) as s:
                    got = take(s, hub, name, rnd.randint(1, 7))
                with log_lock:
                    log.extend(got)
                if not got:
                    idle += 1
                    threading.Event().wait(0.01)
                    continue
                idle = 0
                finish(hub, got)  # delivered: the key's next message may go
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=relay, args=(f"relay-{n}", n)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(log) == sorted(messages)  # every message, each exactly once
    for k in range(keys):
        claimed = [messages[i][1] for i in log if messages[i][0] == f"k{k}"]
        assert claimed == sorted(claimed) and len(claimed) == per_key  # in its key's order


def test_delivered_messages_no_longer_hold_their_key(hub) -> None:
    """Only pending, in-flight and dead messages hold a key: delivered history does not (pruning relies on it)."""
    messages = queue(hub, keys=2, per_key=4)
    ordered = sorted(messages, key=lambda i: (messages[i][0], messages[i][1]))
    k0 = [i for i in ordered if messages[i][0] == "k0"]
    finish(hub, k0[:3])
    hub.clock.advance(timedelta(seconds=1))
    with hub.db.write() as s:
        got = take(s, hub, "relay-a", 100)
    k1_head = next(i for i in ordered if messages[i][0] == "k1")
    assert sorted(got) == sorted([k0[3], k1_head])
