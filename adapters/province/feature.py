"""The province feature: its tables, a poller per configured province destination, the
`hotline-hub province ...` commands and the sandbox province for `hotline-hub sandbox`."""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from typing import TYPE_CHECKING

import adapters.province.tables  # noqa: F401  (registers the tables with Base.metadata)
from adapters.province.adapter import ProvinceAdapter, check_mappings
from adapters.province.handle import ProvincePollers
from adapters.province.poller import ProvincePoller
from adapters.province.sandbox import ProvinceState, create_app
from hub.db.migrate import upgrade
from hub.features import FeatureBase, HubOpener, Peer
from hub.integration.contract import AdapterContext, ConfigurationError
from hub.integration.registry import build_adapter
from hub.logmask import configure_logging
from hub.settings import Settings
from sandbox.run import run_stamp

if TYPE_CHECKING:
    from hub.container import Hub

ADAPTER = "province"


class _Feature(FeatureBase):
    name = "province"
    order = 40

    def install(self, hub: Hub) -> None:
        pollers: list[ProvincePoller] = []
        for destination, config in hub.settings.destinations.items():
            if config.adapter != ADAPTER or not config.enabled:
                continue
            context = AdapterContext(destination=destination, clock=hub.clock, mappings_dir=hub.settings.mappings_dir)
            adapter = build_adapter(destination, ADAPTER, config.settings, context)
            if not isinstance(adapter, ProvinceAdapter):  # another package's adapter under our name
                raise ConfigurationError(f"destination {destination!r}: adapter {ADAPTER!r} is {type(adapter).__qualname__}, not the province adapter")
            poller = ProvincePoller(hub, adapter, destination)
            pollers.append(poller)
            hub.workers.append(poller)
        hub.handles.add(ProvincePollers(pollers))

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        p = sub.add_parser("province", help="the provincial exchange (省转办 / 全省联网)")
        psub = p.add_subparsers(dest="province_command", required=True)
        poll = psub.add_parser("poll", help="pull the cases the province assigned to the city")
        poll.add_argument(
            "--once", action="store_true", help="one round, then exit (0 when it completed, 1 when it stopped early, 3 when another process leads the polling)"
        )
        poll.add_argument("--destination", help="which province destination (default: all)")
        poll.set_defaults(func=partial(_cmd_poll, hubs=hubs))
        check = psub.add_parser("check", help="validate mappings/province/ and exit")
        check.add_argument("--folder", default="province", help="folder under mappings/")
        check.set_defaults(func=_cmd_check)

    def sandbox_peers(self, base_port: int) -> list[Peer]:
        port = base_port + 2
        # The run stamp keeps this run's province ids apart from those an earlier run left in var/sandbox.
        state = ProvinceState(run=run_stamp())
        return [
            Peer(
                "province",
                port,
                lambda: create_app(state, assign_every=45.0),
                # Every case event, the caller included: city cases go up (ReportCase, then PushStatus);
                # without `events` the destination would hear of nothing.
                {
                    "adapter": ADAPTER,
                    "settings": {"endpoint": f"http://127.0.0.1:{port}/soap", "poll_interval": 10.0},
                    "events": ["case.*"],
                    "personal_data": True,
                },
                "sandbox province (SOAP at /soap, WSDL at /soap?wsdl, REST at /rest/): assigns a case every 45 s; GET /sandbox/state",
            )
        ]


def _cmd_poll(args: argparse.Namespace, hubs: HubOpener) -> int:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    hub = hubs.build(settings)
    if hub.db.is_sqlite:
        upgrade(hub.db.writer)
    pollers = [p for p in hub.handles.get(ProvincePollers).pollers if args.destination in (None, p.destination)]
    if not pollers:
        print("no province destination is configured (destinations.<name>.adapter: province)", file=sys.stderr)
        return 1
    try:
        if args.once:
            code = 0
            for poller in pollers:
                try:
                    result = poller.run_once()
                finally:
                    poller.lease.release()  # a one-shot run must not block the next one for a lease period
                if not result.leader:  # another process polls: nothing was done here, and that is no summary
                    print(f"{poller.destination}: not polled: {_leader(poller.lease)}", file=sys.stderr)
                    code = code or 3
                    continue
                state = f"created {len(result.created)}, acknowledged again {len(result.existing)}, failed {len(result.failed)}"
                print(f"{poller.destination}: {state}" + (f"; stopped: {result.stopped}" if result.stopped else ""))
                code = code or (3 if not result.leader else 1 if result.stopped else 0)  # 3: another poller leads
            return code
        for poller in pollers:
            poller.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
        finally:
            for poller in pollers:
                poller.stop()
    finally:
        hub.close()


def _leader(lease) -> str:  # noqa: ANN001 (hub.leases.Lease)
    held = lease.held_by()
    who = f"{held[0]}, until {held[1].isoformat(timespec='seconds')}" if held else "it has just let go; run again"
    return f"another process leads (lease {lease.name!r} held by {who})"


def _cmd_check(args: argparse.Namespace) -> int:
    codes = check_mappings(Settings().mappings_dir, args.folder)
    print(
        f"mappings/{args.folder} ok: {len(codes.statuses)} statuses, {len(codes.categories.to_province)} categories, "
        f"{len(codes.divisions.to_province)} divisions, {len(codes.units.to_province)} units"
    )
    return 0


feature = _Feature()
