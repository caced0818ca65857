"""The outbox feature: the routing sink in every case transaction, the relay worker, the
operators' API and CLI, and /metrics."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from hub.cli import print_json
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.features import FeatureBase, HubOpener
from hub.logmask import configure_logging
from hub.runtime import log_start_warnings
from outbox import store
from outbox.admin import (
    KeptMessage,
    NotDead,
    backlog,
    dead_letters,
    kept_messages,
    known_destination,
    pause,
    prune,
    replay,
    resume,
    skip,
)
from outbox.api import metrics_router, router
from outbox.metrics import MetricsServer, OutboxMetrics
from outbox.relay import Relay, build_relay
from outbox.routing import CaseEventRouter, subscriptions
from outbox.worker import RelayWorker

if TYPE_CHECKING:
    from hub.container import Hub
    from hub.settings import OutboxSettings


@dataclass
class OutboxHandle:
    """What other features and tests use: hub.handles.get(OutboxHandle)."""

    hub: Hub
    metrics: OutboxMetrics
    worker: RelayWorker
    writer: store.OutboxWriter

    def relay(self, *, settings: OutboxSettings | None = None, relay_id: str | None = None, **overrides: Any) -> Relay:
        """A relay of this hub; `overrides` (batch, lease_seconds, concurrency, ...) change its outbox settings."""
        return build_relay(self.hub, self.writer, settings=settings, metrics=self.metrics, relay_id=relay_id, **overrides)

    def kept_messages(self, case_numbers: list[str]) -> list[KeptMessage]:
        """The messages of these cases still kept, oldest first (the subject-access export's
        "sent to")."""
        return kept_messages(self.hub, case_numbers)

    @property
    def enqueue(self) -> Any:
        """The writer's enqueue: stamped with the hub's clock, rings this hub's relays."""
        return self.writer.enqueue


class _Feature(FeatureBase):
    name = "outbox"
    order = 10

    def install(self, hub: Hub) -> None:
        writer = store.OutboxWriter(hub.clock)  # this hub's: its clock, its relays to ring
        hub.cases.sinks.append(CaseEventRouter(subscriptions(hub.settings.destinations), writer))
        metrics = OutboxMetrics(hub, hub.metrics_registry)
        worker = RelayWorker(hub, writer, metrics)
        hub.workers.append(worker)
        hub.routers.extend([router, metrics_router])
        hub.handles.add(OutboxHandle(hub, metrics, worker, writer))

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        relay = sub.add_parser("relay", help="deliver the outbox to every destination until SIGTERM/SIGINT")
        relay.add_argument(
            "--metrics-port",
            type=int,
            metavar="N",
            help="serve Prometheus metrics at http://HOST:N/metrics (this relay's deliveries, failures "
            "and latency, and the shared backlog); 0 picks a free port. Default: outbox.metrics_port, "
            "none served when unset",
        )
        relay.add_argument(
            "--metrics-host",
            metavar="HOST",
            help="address the metrics endpoint listens on (default outbox.metrics_host, 127.0.0.1; 0.0.0.0 for a remote Prometheus)",
        )
        relay.set_defaults(func=partial(_cmd_relay, hubs=hubs))
        p = sub.add_parser("outbox", help="look at and steer the outbox: status, dead, replay, skip, pause, resume")
        osub = p.add_subparsers(dest="outbox_cmd", required=True)
        status = osub.add_parser("status", help="backlog, oldest age, dead letters and pause per destination")
        status.add_argument("--json", action="store_true", help="as a JSON array, one object per destination")
        status.set_defaults(func=partial(_cmd_status, hubs=hubs))
        dead = osub.add_parser("dead", help="dead letters with their last error")
        dead.add_argument("--destination")
        dead.add_argument("--limit", type=int, default=100)
        dead.add_argument("--json", action="store_true", help="as a JSON array")
        dead.set_defaults(func=partial(_cmd_dead, hubs=hubs))
        replay = osub.add_parser("replay", help="send dead letters again (same idempotency key)")
        replay.add_argument("ids", nargs="*", type=int, help="dead-letter ids (see `outbox dead`)")
        replay.add_argument("--destination", help="every dead letter of this destination")
        replay.add_argument("--all", action="store_true", help="every dead letter")
        replay.set_defaults(func=partial(_cmd_replay, hubs=hubs))
        skip = osub.add_parser(
            "skip", help="give up dead letters for good; the later messages of their case flow on (written into the case history with who and why)"
        )
        skip.add_argument("ids", nargs="+", type=int, help="dead-letter ids (see `outbox dead`)")
        skip.add_argument("--reason", required=True, help="why (recorded in the case history)")
        skip.add_argument("--party", default="cli-supervisor", help="who skips (recorded)")
        skip.set_defaults(func=partial(_cmd_skip, hubs=hubs))
        pause = osub.add_parser("pause", help="stop delivering to a destination until resumed")
        pause.add_argument("destination")
        pause.add_argument("--reason")
        pause.set_defaults(func=partial(_cmd_pause, hubs=hubs))
        resume = osub.add_parser("resume", help="deliver to a destination again (also lifts the breaker)")
        resume.add_argument("destination")
        resume.set_defaults(func=partial(_cmd_resume, hubs=hubs))
        prune = osub.add_parser(
            "prune", help="delete delivered messages older than --hours (the relay also does this by itself after outbox.keep_delivered_hours)"
        )
        prune.add_argument("--hours", type=float, required=True, help="finished longer ago than this many hours")
        prune.add_argument("--dead", action="store_true", help="dead letters that old too (they are lost for replay)")
        prune.set_defaults(func=partial(_cmd_prune, hubs=hubs))


def _cmd_relay(args: argparse.Namespace, hubs: HubOpener) -> int:
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        print("--metrics-port: a port from 0 to 65535", file=sys.stderr)
        return 2
    hub = hubs()
    configure_logging(hub.settings.log_level, hub.settings.log_format)
    log = logging.getLogger("hub.outbox")
    handle = hub.handles.get(OutboxHandle)
    metrics_server: MetricsServer | None = None
    port = args.metrics_port if args.metrics_port is not None else hub.settings.outbox.metrics_port
    host = args.metrics_host or hub.settings.outbox.metrics_host
    if port is not None:
        try:
            metrics_server = MetricsServer(handle.metrics.registry, host, port)
        except OSError as exc:
            print(f"metrics port {port}: cannot listen on {host}: {exc.strerror or exc}", file=sys.stderr)
            hub.close()
            return 2
        log.info("relay metrics at http://%s:%d/metrics", metrics_server.host, metrics_server.port)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    handle.worker.start()

    log_start_warnings(hub)
    log.info("relay running on %s; SIGTERM or Ctrl-C stops it", "SQLite" if hub.db.is_sqlite else "PostgreSQL")
    while not stopping.wait(0.5):
        pass
    handle.worker.stop()
    if metrics_server is not None:  # after the stop, so what the relay recorded at the end was scrapeable until then
        metrics_server.close()
    hub.close()
    return 0


def _cmd_status(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    if args.json:  # the same fields as GET /api/v1/outbox (admin.backlog)
        print_json(backlog(hub))
        return 0
    print(f"{'destination':<20} {'backlog':>8} {'oldest':>10} {'dead':>6} {'held':>6}  state")
    for d in backlog(hub):
        age = f"{d['oldest_age_seconds']:.0f}s" if d["oldest_age_seconds"] is not None else "-"
        state = "paused by operator" if d["paused_by_operator"] else f"paused until {d['paused_until']}" if d["paused"] else "flowing"  # the reason says why
        if d["pause_reason"]:
            state += f": {d['pause_reason']}"
        config = hub.settings.destinations.get(d["destination"])
        if config is not None and config.enabled and not config.events:  # not "flowing": nothing ever comes
            nothing = "subscribes to nothing (no `events:`): receives no messages"
            state = nothing if state == "flowing" else f"{state}; {nothing}"
        if d["held_cases"]:
            state += f"; {d['held_cases']} cases ({d['held_messages']} messages) held behind dead letters"
        print(f"{d['destination']:<20} {d['backlog']:>8} {age:>10} {d['dead']:>6} {d['held_cases']:>6}  {state}")
    return 0


def _cmd_dead(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    rows = dead_letters(hub, args.destination, args.limit)
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(
            f"{r['id']:>8}  {r['destination']:<16} {r['case_number'] or r['ordering_key']:<22} {r['event_type']:<24} "
            f"attempts {r['attempts']:<3} holds {r['holding']:<3} {r['last_error']}"
        )
    if not rows:
        print("no dead letters")
    return 0


def _cmd_replay(args: argparse.Namespace, hubs: HubOpener) -> int:
    if not args.ids and not args.destination and not args.all:
        print("name dead-letter ids, --destination, or --all", file=sys.stderr)
        return 2
    hub = hubs()
    if args.destination and not known_destination(hub, args.destination):  # as the API's 404: a typo is not "replayed 0"
        print(f"--destination {args.destination!r}: neither configured nor holding messages", file=sys.stderr)
        return 2
    n = replay(hub, args.ids or None, args.destination)
    print(f"replayed {n}")
    return 0


def _cmd_skip(args: argparse.Namespace, hubs: HubOpener) -> int:
    if not args.reason.strip():
        print("--reason: say why (it is recorded in the case history)", file=sys.stderr)
        return 2
    try:
        done = skip(hubs(), args.ids, Actor(party=args.party, role=Role.SUPERVISOR), args.reason.strip())
    except NotDead as exc:
        print(f"not dead letters: {' '.join(map(str, exc.ids))}; nothing skipped", file=sys.stderr)
        return 1
    for r in done:
        where = f"case {r['case_number']} history" if r["in_case_history"] else "its last error (no case)"
        print(f"skipped {r['id']} ({r['destination']}, sequence {r['sequence']}); recorded in {where}")
    return 0


def _cmd_pause(args: argparse.Namespace, hubs: HubOpener) -> int:
    pause(hubs(), args.destination, args.reason)
    print(f"{args.destination}: paused")
    return 0


def _cmd_resume(args: argparse.Namespace, hubs: HubOpener) -> int:
    was = resume(hubs(), args.destination)
    print(f"{args.destination}: {'resumed' if was else 'was not paused'}")
    return 0


def _cmd_prune(args: argparse.Namespace, hubs: HubOpener) -> int:
    if args.hours < 0:
        print("--hours: must be 0 or more", file=sys.stderr)
        return 2
    n = prune(hubs(), timedelta(hours=args.hours), dead=args.dead)
    print(f"pruned {n}")
    return 0


feature = _Feature()
