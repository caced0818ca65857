"""The county feature: county files validated at start, the push API, the store's sink,
one poller per county that cannot push, CLI checks and sandbox peers."""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from typing import TYPE_CHECKING

import uvicorn

from adapters.county.api import router
from adapters.county.config import load_counties
from adapters.county.intake import CountyIntake
from adapters.county.poller import CountyPoller
from adapters.county.sandbox import CountySandboxState, create_app, path_of
from adapters.county.sandbox_desk import sandbox_peer
from adapters.county.store import CountyStore
from hub.features import FeatureBase, HubOpener, Peer
from hub.mappings import MappingError, load_catalogue
from hub.settings import Settings
from sandbox.run import run_stamp

if TYPE_CHECKING:
    from hub.container import Hub

SANDBOX_PORT_OFFSET = 50  # sandbox counties listen on base_port + 50, 51, ...


class _Feature(FeatureBase):
    name = "county"
    order = 30

    def install(self, hub: Hub) -> None:
        counties = load_counties(hub.settings.mappings_dir, hub.catalogue)  # a bad file stops the start here
        store = CountyStore(hub.db)
        intake = CountyIntake(hub, counties, store)
        hub.cases.sinks.append(store.sink)
        hub.routers.append(router)
        hub.handles.add(intake)
        named = _named_counties(hub)
        for cfg in counties.values():
            # Polled only when a county destination in the settings names it: a county file
            # alone (shipped with every install) makes the hub call nobody.
            if cfg.transport.updates == "poll" and cfg.county in named:
                url = named[cfg.county] or cfg.transport.poll_url
                assert url is not None  # the config model requires poll_url for polling counties
                hub.workers.append(CountyPoller(hub, cfg, intake, store, url))

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        p = sub.add_parser("county", help="county adapter: check the county files, poll a county once")
        csub = p.add_subparsers(dest="county_cmd", required=True)
        check = csub.add_parser("check", help="validate mappings/county/*.yaml against the catalogue")
        check.set_defaults(func=_cmd_check)
        poll = csub.add_parser("poll", help="poll one county's feed once (the worker does this on a timer)")
        poll.add_argument("county")
        poll.set_defaults(func=partial(_cmd_poll, hubs=hubs))
        sb = csub.add_parser(
            "sandbox",
            help="run one county's sandbox ticket system alone: the county's API in its own shape, its fault modes and the conformance kit's /_kit endpoints",
        )
        sb.add_argument("county")
        sb.add_argument("--port", type=int, default=8060)
        sb.add_argument("--hub-url", help="where it pushes tickets (POST /control/tickets); with --api-key")
        sb.add_argument("--api-key", help="the county's hub key, for pushing")
        sb.set_defaults(func=_cmd_sandbox)

    def sandbox_peers(self, base_port: int) -> list[Peer]:
        counties = load_counties(Settings().mappings_dir)
        run = run_stamp()
        # Each county pushes its first ticket two rounds after the previous one, then every 15 rounds.
        return [sandbox_peer(cfg, base_port + SANDBOX_PORT_OFFSET + i, base_port, first_push=1 + 2 * i, run=run) for i, cfg in enumerate(counties.values())]


def _named_counties(hub: Hub) -> dict[str, str | None]:
    """County -> its destination's `poll_url` (None: the county file's), for every enabled
    county destination in the settings."""
    out: dict[str, str | None] = {}
    for dest in hub.settings.destinations.values():
        if dest.adapter == "county" and dest.enabled and dest.settings.get("county"):
            poll_url = dest.settings.get("poll_url")
            out[str(dest.settings["county"])] = str(poll_url) if poll_url else None
    return out


def _cmd_check(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        counties = load_counties(settings.mappings_dir, load_catalogue(settings.mappings_dir))
    except MappingError as exc:
        print(exc)
        return 1
    for cfg in counties.values():
        print(
            f"{cfg.county:<10} {cfg.name_zh} divisions {','.join(cfg.divisions)} updates by {cfg.transport.updates}"
            f"{' signed' if cfg.security.hmac_secret_env else ''}"
        )
    return 0


def _cmd_poll(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs.build()
    try:
        pollers = [w for w in hub.workers if isinstance(w, CountyPoller) and w.name == f"county-poller-{args.county}"]
        if not pollers:
            print(f"county {args.county!r} is not polled: its transport.updates is not 'poll', or no enabled county destination in the settings names it")
            return 1
        result = pollers[0].poll_once()
        print(f"tickets {result.tickets}, updates {result.updates}, refused {len(result.refused)}, cursor {result.cursor}")
        for line in result.refused:
            print(f"  refused {line}")
        return 0
    finally:
        hub.close()


feature = _Feature()


def _cmd_sandbox(args: argparse.Namespace) -> int:
    """One county's sandbox on its own, e.g. for `kit check --adapter county --peer …` against a
    county file that is new (`hotline-hub sandbox` starts all of them beside a hub)."""

    settings = Settings()
    try:
        counties = load_counties(settings.mappings_dir, load_catalogue(settings.mappings_dir))
    except MappingError as exc:
        print(exc, file=sys.stderr)
        return 2
    cfg = counties.get(args.county)
    if cfg is None:
        print(f"no county {args.county!r} in {settings.mappings_dir / 'county'}; known: {', '.join(sorted(counties))}", file=sys.stderr)
        return 2
    env = cfg.security.hmac_secret_env
    state = CountySandboxState(cfg, hub_url=args.hub_url, api_key=args.api_key, secret=os.environ.get(env) if env else None)
    print(
        f"sandbox county {cfg.county} ({cfg.name_zh}) on http://127.0.0.1:{args.port}: receives at POST "
        f"{path_of(cfg.outbound.url)}; GET /received; /_kit/* for the kit",
        flush=True,
    )
    uvicorn.run(create_app(state), host="127.0.0.1", port=args.port, log_level="warning")
    return 0
