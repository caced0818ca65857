"""The supervision feature: the scheduler worker, the assessment and supervision API,
and the `scheduler` and `assessment` commands."""

from __future__ import annotations

import argparse
import sys
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hub.domain.access import SYSTEM_ACTOR
from hub.features import FeatureBase, HubOpener
from hub.logmask import configure_logging
from hub.mappings import UnknownCode
from records.retention import RetentionWorker
from supervision.api import router
from supervision.assessment import Period
from supervision.calendar_watch import CalendarCollector
from supervision.export import to_csv, to_xlsx
from supervision.items import record_items
from supervision.scheduler import Scheduler
from supervision.service import Supervision

if TYPE_CHECKING:
    from hub.container import Hub


class _Feature(FeatureBase):
    name = "supervision"
    order = 60

    def install(self, hub: Hub) -> None:
        hub.routers.append(router)
        # Each case's assessment items, written with its history lines (supervision.items).
        hub.cases.sinks.append(record_items)
        hub.handles.add(Supervision(hub))
        hub.workers.append(Scheduler(hub))
        hub.metrics_registry.register(CalendarCollector(hub))  # the registry /metrics serves

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        p = sub.add_parser("scheduler", help="warn (预警), mark overdue (超期) and supervise (督办) on a timer")
        p.add_argument("--once", action="store_true", help="one run, print what it did, exit")
        p.set_defaults(func=partial(_cmd_scheduler, hubs=hubs))
        a = sub.add_parser("assessment", help="考核 figures of a month, as JSON, CSV or XLSX")
        a.add_argument("--period", required=True, help="YYYY-MM, YYYY-MM-DD, YYYY-Www, YYYY-Qn, YYYY, or YYYY-MM-DD..YYYY-MM-DD")
        a.add_argument("--unit")
        a.add_argument("--county")
        a.add_argument("--format", choices=["json", "csv", "xlsx"], default="json")
        a.add_argument("--out", help="file to write (default: stdout; required for xlsx)")
        a.set_defaults(func=partial(_cmd_assessment, hubs=hubs))


def _cmd_scheduler(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    configure_logging(hub.settings.log_level, hub.settings.log_format)
    scheduler = next(w for w in hub.workers if isinstance(w, Scheduler))
    try:
        if args.once:
            try:
                result = scheduler.run_once()
            finally:
                scheduler.lease.release()  # a one-shot run must not hold the lead for the ttl
            if not result.leased:
                print("another scheduler holds the lease; nothing done", file=sys.stderr)
                return 3  # cannot run now (hub.cli exit codes)
            print(
                f"warned {len(result.warned)}, overdue {len(result.overdue)}, supervised {len(result.supervised)}, "
                f"closed unreached {len(result.closed)}, skipped {len(result.skipped)}, "
                f"deadlines recounted {len(result.recounted)}"
            )
            for line in result.warned + result.overdue + result.supervised + result.closed + result.recounted:
                print(f"  {line}")
            return 0
        # The scheduler process also runs the daily retention pass (docs/operations.md), when
        # the records feature is installed.
        found = hub.handles.find(RetentionWorker)
        retention = [found] if found is not None else []
        # Started inside the try: a Ctrl-C that lands while they start (the retention pass may
        # already have run in its thread) still stops them and releases their leases.
        try:
            scheduler.start()
            for worker in retention:
                worker.start()
            print(f"scheduler running every {hub.settings.supervision.scheduler_interval_seconds:g}s; Ctrl-C stops it")
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        for worker in retention:
            worker.stop()
        scheduler.stop()
        return 0
    finally:
        hub.close()


def _cmd_assessment(args: argparse.Namespace, hubs: HubOpener) -> int:
    try:
        period = Period.parse(args.period)
    except ValueError as exc:
        print(f"--period: {exc}", file=sys.stderr)
        return 2
    if args.format == "xlsx" and not args.out:
        print("--out is required for xlsx", file=sys.stderr)
        return 2
    with hubs() as hub:
        service = hub.handles.get(Supervision)
        try:
            unit, county = service.scope_for(SYSTEM_ACTOR, args.unit, args.county)
        except UnknownCode as exc:
            print(str(exc), file=sys.stderr)
            return 2
        if args.format == "json":
            body = service.assess(period, unit, county).model_dump_json(indent=2).encode()
        else:
            rows = service.breakdown(period, unit, county)
            names = service.unit_names()
            body = to_csv(rows, names) if args.format == "csv" else to_xlsx(rows, names)
        if args.out:
            Path(args.out).write_bytes(body)
            print(f"wrote {args.out}")
        else:
            sys.stdout.buffer.write(body)
        return 0


feature = _Feature()
