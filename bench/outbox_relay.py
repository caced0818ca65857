"""Outbox relay benchmark.

1. Throughput: N queued messages delivered by the relay (real webhook adapter, real HTTP)
   to a no-op sink in its own process, beside two same-run baselines on the same database:
   the bare claim-POST-ack loop (the relay's own claim, one pooled keep-alive httpx client
   POSTing to the same sink from as many threads as the relay's pool, the relay's own
   record) and the claim-and-ack loop (no delivery). Also this process's CPU per message.
2. Latency: new cases registered at a steady rate (default 200/s) with the relay running as
   a worker in the same process (the embedded default); commit-to-delivery time is the
   sink's receipt time minus the moment the case's transaction returned.
3. With --takeover N: kill -9 of a relay process holding claims mid-backlog; how long until
   every message it held is delivered (SQLite: a new relay started right after; PostgreSQL:
   a second relay running beside it).

    .venv/bin/python -m bench.outbox_relay --messages 2000 --rounds 3 --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench._common import free_port, median, start_server, stop
from outbox.feature import OutboxHandle

CPU: dict[str, list[float]] = {}  # loop -> this process's CPU seconds per message, each round


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def noop_sink_app() -> Any:
    """A peer that accepts everything and remembers when each key arrived."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    arrived: dict[str, float] = {}

    async def events(request: Request) -> JSONResponse:
        arrived.setdefault(request.headers.get("idempotency-key", ""), time.time())
        try:
            await request.body()
        except ClientDisconnect:  # the takeover run kills the relay mid-request: expected, not a traceback
            pass
        return JSONResponse({"ok": True})

    async def batch(request: Request) -> JSONResponse:
        body = await request.json()
        now = time.time()
        results = []
        for m in body["messages"]:
            arrived.setdefault(m["idempotency_key"], now)
            results.append({"idempotency_key": m["idempotency_key"], "status": "accepted"})
        return JSONResponse({"results": results})

    async def times(request: Request) -> JSONResponse:
        return JSONResponse(arrived)

    async def reset(request: Request) -> JSONResponse:
        arrived.clear()
        return JSONResponse({})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/events", events, methods=["POST"]),
            Route("/events/batch", batch, methods=["POST"]),
            Route("/times", times),
            Route("/reset", reset, methods=["POST"]),
            Route("/health", health),
        ]
    )


MODES = {
    # one POST per message (every peer can take this)
    "single": lambda url: {"url": f"{url}/events"},
    # up to 50 messages per POST to the peer's batch endpoint, a verdict per message
    "batched": lambda url: {"url": f"{url}/events", "batch_url": f"{url}/events/batch", "batch_size": 50},
}


def _hub(database_url: str, sink_url: str, mode: str = "single", migrate: bool = True) -> Any:
    from hub.db.migrate import upgrade
    from hub.runtime import build_hub
    from hub.settings import Settings

    settings = Settings(
        database_url=database_url,
        sqlite_synchronous="FULL",
        destinations={"sink": {"adapter": "webhook", "settings": MODES[mode](sink_url), "events": ["case.registered"]}},
        outbox={"batch": 100, "concurrency": 8},
    )
    hub = build_hub(settings)
    if migrate:
        upgrade(hub.db.writer)
    return hub


def _fill(hub: Any, n: int, keys: int = 200) -> None:
    enqueue = hub.handles.get(OutboxHandle).enqueue
    payload = {"text": "x" * 400}
    for start in range(0, n, 500):
        with hub.db.write() as s:
            for i in range(start, min(n, start + 500)):
                enqueue(s, destination="sink", ordering_key=f"k{i % keys}", event_type="bench.event", payload=payload)


def _clear(hub: Any) -> None:
    from sqlalchemy import delete

    from outbox.tables import OutboxMessageRow, OutboxSequenceRow

    with hub.db.write() as s:
        s.execute(delete(OutboxMessageRow))
        s.execute(delete(OutboxSequenceRow))


def relay_round(hub: Any, n: int) -> float:
    _clear(hub)
    _fill(hub, n)
    relay = hub.handles.get(OutboxHandle).relay()
    c0, t0 = _cpu(), time.perf_counter()
    handled = relay.drain(timeout=600)
    elapsed = time.perf_counter() - t0
    CPU.setdefault("relay", []).append((_cpu() - c0) / n)
    relay.close()
    assert handled == n, f"relay handled {handled} of {n}"
    return n / elapsed


def baseline_round(hub: Any, n: int) -> float:
    """The bare claim-and-ack loop: same claim, same record, no delivery."""
    from hub.integration.contract import Delivery
    from outbox.relay import Outcome

    _clear(hub)
    _fill(hub, n)
    relay = hub.handles.get(OutboxHandle).relay()
    t0 = time.perf_counter()
    done = 0
    while True:
        claimed = relay.claim(relay.cfg.batch)
        if not claimed:
            break
        relay.record([Outcome(c, "delivered", delivery=Delivery()) for c in claimed])
        done += len(claimed)
    elapsed = time.perf_counter() - t0
    relay.close()
    assert done == n, f"baseline acked {done} of {n}"
    return n / elapsed


def bare_post_round(hub: Any, n: int, sink_url: str, mode: str) -> float:
    """The bare loop against the same sink: claim a batch (the relay's own claim), POST it
    with one pooled keep-alive httpx client from as many threads as the relay's delivery
    pool (`single`: one POST per message with its Idempotency-Key; `batched`: up to 50 per
    POST to the batch endpoint), ack what the sink took (the relay's own record)."""
    from concurrent.futures import ThreadPoolExecutor

    from hub.integration.contract import Delivery
    from outbox.relay import Outcome

    _clear(hub)
    _fill(hub, n)
    relay = hub.handles.get(OutboxHandle).relay()
    cfg = relay.cfg
    per_post = 50 if mode == "batched" else 1
    client = httpx.Client(limits=httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency))
    pool = ThreadPoolExecutor(max_workers=cfg.concurrency)

    def post(group: list[Any]) -> list[Any]:
        if per_post == 1:
            c = group[0]
            r = client.post(f"{sink_url}/events", json={**c.body, "attempt": c.attempts}, headers={"Idempotency-Key": c.body["idempotency_key"]})
            return group if r.status_code < 300 else []
        r = client.post(f"{sink_url}/events/batch", json={"messages": [{**c.body, "attempt": c.attempts} for c in group]})
        taken = {x["idempotency_key"] for x in r.json()["results"] if x["status"] == "accepted"}
        return [c for c in group if c.body["idempotency_key"] in taken]

    c0, t0 = _cpu(), time.perf_counter()
    done = 0
    while True:
        claimed = relay.claim(cfg.batch)
        if not claimed:
            break
        groups = [claimed[i : i + per_post] for i in range(0, len(claimed), per_post)]
        acked = [c for group in pool.map(post, groups) for c in group]
        relay.record([Outcome(c, "delivered", delivery=Delivery()) for c in acked])
        done += len(acked)
    elapsed = time.perf_counter() - t0
    CPU.setdefault("bare", []).append((_cpu() - c0) / n)
    pool.shutdown()
    client.close()
    relay.close()
    assert done == n, f"bare loop acked {done} of {n}"
    return n / elapsed


def _start_relay_process(hub: Any, sink_url: str, wait: float = 3.0) -> Any:
    """`hotline-hub relay` in its own process (its own interpreter lock), as at scale."""
    import os
    import subprocess
    import sys

    import yaml

    config = Path(tempfile.mkdtemp(prefix="outbox-bench-cfg-")) / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "destinations": {name: d.model_dump(mode="json") for name, d in hub.settings.destinations.items()},
                "outbox": hub.settings.outbox.model_dump(mode="json"),
            }
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "HUB_DATABASE_URL": hub.settings.database_url, "HUB_CONFIG_FILE": str(config), "HUB_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("hotline-hub")), "relay"], env=env)
    if wait:
        _await_heartbeat(hub, proc.pid)  # imports, the first LISTEN and the relay's first heartbeat
    return proc


def _await_heartbeat(hub: Any, pid: int, bound: float = 180.0) -> None:
    """Until the relay process `pid` has written its heartbeat row (its start-up is over: it
    listens and claims), so a latency run does not time a relay still importing."""
    from sqlalchemy import select

    from outbox.tables import OutboxRelayRow

    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        with hub.db.read() as s:
            if s.execute(select(OutboxRelayRow.relay_id).where(OutboxRelayRow.relay_id.like(f"%:{pid}:%"))).first():
                return
        time.sleep(0.05)
    raise RuntimeError(f"relay process {pid} wrote no heartbeat in {bound:.0f} s")


def _producer_process(
    database_url: str, sink_url: str, mode: str, first: int, step: int, total: int, rate: float, ready: Any, go: Any, start: Any, out: Any
) -> None:
    """One producer process of the latency run: its own hub (its own interpreter and
    connections, as one of several API processes), registering cases first, first + step, ...
    of the shared schedule (case i due at `start` + i / rate, wall clock, set by the parent
    once every producer is ready); puts ({case number: commit time}, its last commit's time) on `out`."""
    from sqlalchemy import text

    from hub.domain.access import SYSTEM_ACTOR
    from hub.domain.model import CaseDraft
    from tests.support.factories import draft

    hub = _hub(database_url, sink_url, mode, migrate=False)
    body = CaseDraft.model_validate(draft())
    with hub.db.read() as s:  # the first connection is opened before the schedule starts
        s.execute(text("SELECT 1"))
    ready.release()
    go.wait()
    committed: dict[str, float] = {}
    try:
        for i in range(first, total, step):
            delay = start.value + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            case = hub.cases.register(body, SYSTEM_ACTOR).case
            committed[case.number] = time.time()
    finally:
        hub.close()
    out.put((committed, time.time()))


def _produce_in_processes(hub: Any, sink_url: str, mode: str, rate: float, total: int, processes: int) -> tuple[dict[str, float], float]:
    """Several producer processes share the schedule, as the requests of several API
    processes would (threads of one interpreter reach only 42-106 cases/s on PostgreSQL).
    Returns every case's commit time and the achieved rate (cases over the schedule's start
    to the last commit)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready, go, start, out = ctx.Semaphore(0), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    procs = [
        ctx.Process(target=_producer_process, args=(hub.settings.database_url, sink_url, mode, p, processes, total, rate, ready, go, start, out), daemon=True)
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:  # their imports and hubs, on a busy machine perhaps slowly
            if not ready.acquire(timeout=300):
                raise RuntimeError("a producer process was not ready after 300 s")
        start.value = time.time() + 0.2
        go.set()
        committed: dict[str, float] = {}
        last = 0.0
        for _ in procs:
            part, ended = out.get(timeout=600)
            committed.update(part)
            last = max(last, ended)
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    return committed, total / (last - start.value)


def latency_run(
    hub: Any, sink_url: str, rate: float, seconds: float, relay_process: bool = False, producers: int = 4, producer_processes: int = 0, mode: str = "single"
) -> tuple[float, float, int, float]:
    from hub.domain.access import SYSTEM_ACTOR
    from hub.domain.model import CaseDraft
    from tests.support.factories import draft

    _clear(hub)
    httpx.post(f"{sink_url}/reset")
    worker = hub.handles.get(OutboxHandle).worker
    relay_proc = None
    if relay_process:
        relay_proc = _start_relay_process(hub, sink_url)
    else:
        worker.start()
    committed: dict[str, float] = {}
    body = CaseDraft.model_validate(draft())
    total = int(rate * seconds)
    t0 = time.monotonic() + 0.1

    def produce(first: int) -> None:
        # Several producers share the schedule, as concurrent API requests would.
        for i in range(first, total, producers):
            due = t0 + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            case = hub.cases.register(body, SYSTEM_ACTOR).case
            committed[case.number] = time.time()

    if producer_processes:
        committed, achieved = _produce_in_processes(hub, sink_url, mode, rate, total, producer_processes)
    else:
        threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        achieved = total / (time.monotonic() - t0)
    deadline = time.monotonic() + 120
    arrived: dict[str, float] = {}
    while time.monotonic() < deadline:
        arrived = httpx.get(f"{sink_url}/times", timeout=10).json()
        if len(arrived) >= total:
            break
        time.sleep(0.2)
    if relay_proc is not None:
        relay_proc.terminate()
        relay_proc.wait(30)
    else:
        worker.stop()
    from sqlalchemy import select

    from outbox.tables import OutboxMessageRow

    with hub.db.read() as s:
        key_to_case = dict(s.execute(select(OutboxMessageRow.idempotency_key, OutboxMessageRow.case_number)).all())
    lat = sorted(arrived[k] - committed[key_to_case[k]] for k in arrived if key_to_case.get(k) in committed)
    assert len(lat) == total, f"{len(lat)} of {total} delivered"
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return p50, p99, total, achieved


def takeover_run(hub: Any, sink_url: str, n: int, keep_running: bool) -> tuple[float, float, int]:
    """kill -9 of a relay process that holds claims in the middle of a backlog of `n`.

    keep_running False (SQLite: one relay process): a new relay starts right after the
    kill. True (PostgreSQL: relays apart): a second relay was running beside it all along.
    Returns (seconds from the kill until every message the dead relay held is delivered,
    the same from the new relay's first heartbeat, when its start-up is over (from the kill
    when it was running already), how many it held)."""
    import os
    import signal

    from sqlalchemy import func, select

    from outbox.tables import DELIVERED, IN_FLIGHT, OutboxMessageRow, OutboxRelayRow

    M, R = OutboxMessageRow, OutboxRelayRow
    _clear(hub)
    _fill(hub, n)
    other = _start_relay_process(hub, sink_url, wait=0.0) if keep_running else None
    doomed = _start_relay_process(hub, sink_url, wait=0.0)
    mine = f"%:{doomed.pid}:%"
    held: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with hub.db.read() as s:
            delivered = s.execute(select(func.count()).select_from(M).where(M.status == DELIVERED)).scalar_one()
            inflight = s.execute(select(func.count()).select_from(M).where(M.status == IN_FLIGHT, M.leased_by.like(mine))).scalar_one()
        if delivered >= n // 10 and inflight:
            break
        time.sleep(0.01)
    os.kill(doomed.pid, signal.SIGKILL)
    killed = time.monotonic()
    doomed.wait(30)
    with hub.db.read() as s:
        held = list(s.execute(select(M.id).where(M.status == IN_FLIGHT, M.leased_by.like(mine))).scalars())
    up = time.monotonic()
    if other is None:
        other = _start_relay_process(hub, sink_url, wait=0.0)
        new = f"%:{other.pid}:%"
        while time.monotonic() < killed + 300:  # its start-up (imports) ends with its first heartbeat
            with hub.db.read() as s:
                if s.execute(select(R.relay_id).where(R.relay_id.like(new))).first():
                    break
            time.sleep(0.01)
        up = time.monotonic()
    try:
        while time.monotonic() < killed + 300:
            with hub.db.read() as s:
                left = s.execute(select(func.count()).select_from(M).where(M.id.in_(held), M.status != DELIVERED)).scalar_one()
            if not left:
                break
            time.sleep(0.01)
        done = time.monotonic()
        assert not left, f"{left} of the dead relay's {len(held)} messages still not delivered after 300 s"
    finally:
        other.terminate()
        other.wait(30)
    return done - killed, done - up, len(held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=200.0, help="new cases per second in the latency run")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file (WAL, synchronous=FULL)")
    ap.add_argument("--modes", default="single,batched", help="delivery modes to run: single, batched")
    ap.add_argument("--producers", type=int, default=4, help="threads registering the latency run's cases")
    ap.add_argument(
        "--producer-processes",
        type=int,
        default=0,
        metavar="N",
        help="register the latency run's cases from N processes instead (each a hub of its own, at rate/N; PostgreSQL needs them to reach 200/s)",
    )
    ap.add_argument(
        "--relay-placement",
        default="both",
        choices=("both", "in-process", "apart"),
        help="latency run: the relay in the bench's process (a worker, as `serve` embeds it), as its own process (`hotline-hub relay`), or both",
    )
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--takeover", type=int, default=0, metavar="N", help="also N kill -9 runs of a relay process holding claims (#16: flowing again < 5 s)")
    args = ap.parse_args()

    port = free_port()
    sink = start_server("bench.outbox_relay:noop_sink_app", port, {}, "/health")
    sink_url = f"http://127.0.0.1:{port}"
    tmp = tempfile.mkdtemp(prefix="outbox-bench-")
    url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
    try:
        for mode in args.modes.split(","):
            hub = _hub(url, sink_url, mode)
            try:
                if not args.skip_throughput:
                    relay_rates, base_rates, bare_rates = [], [], []
                    for r in range(args.rounds):
                        base_rates.append(baseline_round(hub, args.messages))
                        bare_rates.append(bare_post_round(hub, args.messages, sink_url, mode))
                        relay_rates.append(relay_round(hub, args.messages))
                        print(
                            f"[{mode}] round {r + 1}: relay {relay_rates[-1]:.0f} msg/s, bare POST loop {bare_rates[-1]:.0f} msg/s "
                            f"(ratio {relay_rates[-1] / bare_rates[-1]:.2f}), claim-and-ack {base_rates[-1]:.0f} msg/s "
                            f"(ratio {relay_rates[-1] / base_rates[-1]:.2f})"
                        )
                    rm, bm, pm = median(relay_rates), median(base_rates), median(bare_rates)
                    print(
                        f"[{mode}] this process's CPU per message (median): relay {median(CPU.pop('relay')) * 1e6:.0f} us, "
                        f"bare loop {median(CPU.pop('bare')) * 1e6:.0f} us; per-round ratios relay/bare, median "
                        f"{median([a / b for a, b in zip(relay_rates, bare_rates)]):.2f}"
                    )
                    print(
                        f"[{mode}] throughput medians: relay {rm:.0f} msg/s; bare claim-POST-ack loop, same sink {pm:.0f} msg/s, "
                        f"ratio {rm / pm:.2f}; claim-and-ack, no delivery {bm:.0f} msg/s, ratio {rm / bm:.2f}"
                    )
                if not args.skip_latency:
                    placements = [("relay in the bench's process", False), ("relay as its own process", True)]
                    if args.relay_placement != "both":
                        placements = [placements[args.relay_placement == "apart"]]
                    who = f"{args.producers} producer threads in the bench's process"
                    if args.producer_processes:
                        who = f"{args.producer_processes} producer processes"
                    for label, separate in placements:
                        p50, p99, total, achieved = latency_run(
                            hub,
                            sink_url,
                            args.rate,
                            args.seconds,
                            relay_process=separate,
                            producers=args.producers,
                            producer_processes=args.producer_processes,
                            mode=mode,
                        )
                        print(
                            f"[{mode}] latency, {label}, {who}, at {achieved:.0f} new cases/s ({total} cases): "
                            f"commit-to-delivery p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
                        )
                for _ in range(args.takeover):
                    apart = not hub.db.is_sqlite
                    total, since_start, held = takeover_run(hub, sink_url, args.messages, keep_running=apart)
                    how = "a second relay running beside it" if apart else "a new relay started right after"
                    since = "" if apart else f" ({since_start:.2f} s after the new relay's start-up ended: its first heartbeat)"
                    print(f"[{mode}] takeover, kill -9 of a relay holding {held} claims, {how}: all of them delivered {total:.2f} s after the kill{since}")
            finally:
                hub.close()
    finally:
        stop(sink)


if __name__ == "__main__":
    main()
