"""The legacy hotlines feature: lines and mappings validated at start, the review API,
a puller per 双号并行 line with a bridge destination, the router that dispatches a 设分中心
line's cases to its unit, `hotline-hub legacy ...` and the sandbox lines for `hotline-hub sandbox`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.legacy_hotlines import tables  # noqa: F401  (registers the tables)
from adapters.legacy_hotlines.api import router
from adapters.legacy_hotlines.bridge.adapter import LegacyBridgeAdapter
from adapters.legacy_hotlines.bridge.poller import LegacyPuller
from adapters.legacy_hotlines.bridge.refusals import Refusals
from adapters.legacy_hotlines.bridge.refusals_cli import add_refusals_cli
from adapters.legacy_hotlines.config import BRIDGE_ADAPTER, bridge_destination, bridge_gaps, load_legacy
from adapters.legacy_hotlines.handle import Legacy, close_hub
from adapters.legacy_hotlines.importing.candidates import CandidateNotFound, Candidates
from adapters.legacy_hotlines.importing.dedupe import find_candidates
from adapters.legacy_hotlines.importing.importer import HOLD_TARGET_SECONDS, LegacyImporter
from adapters.legacy_hotlines.importing.readers import UnreadableFile
from adapters.legacy_hotlines.importing.report import Progress
from adapters.legacy_hotlines.sandbox import sandbox_peers
from adapters.legacy_hotlines.sub_centre import SubCentreRouter
from hub.cli import print_json
from hub.domain.access import Actor
from hub.domain.errors import RuleViolation
from hub.domain.model import Role
from hub.features import FeatureBase, HubOpener, Peer
from hub.integration.contract import AdapterContext, AdapterError
from hub.integration.registry import build_adapter
from hub.logmask import configure_logging
from hub.mappings import MappingError, load_catalogue
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.container import Hub

SANDBOX_PORT_OFFSET = 60  # sandbox lines listen on base_port + 60, 61, ... (counties: + 50 ...)


class _Feature(FeatureBase):
    name = "legacy"
    order = 70

    def install(self, hub: Hub) -> None:
        config = load_legacy(hub.settings.mappings_dir, hub.catalogue)  # a bad file stops the start here
        hub.routers.append(router)
        legacy = Legacy(config, Candidates(hub), Refusals(hub))
        hub.handles.add(legacy)
        _warn_unbridged(hub, config)
        for puller in _pullers(hub, config):
            hub.workers.append(puller)
            legacy.pullers[puller.line] = puller  # retries of refused items go through it
        if config.sub_centre_lines():
            sub_centre = SubCentreRouter(hub, config)
            hub.cases.sinks.append(sub_centre.sink)  # rings after commit; the router acts in its own transactions
            hub.workers.append(sub_centre)
            legacy.sub_centre = sub_centre

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        p = sub.add_parser("legacy", help="legacy hotlines: import exports, review duplicates, pull a bridged line")
        lsub = p.add_subparsers(dest="legacy_cmd", required=True)
        imp = lsub.add_parser("import", help="import a line's export (CSV UTF-8/GBK, XLSX, JSON lines)")
        imp.add_argument("--line", required=True, help="the line, e.g. 12315 (mappings/legacy/lines.yaml)")
        imp.add_argument("file", type=Path)
        imp.add_argument("--dry-run", action="store_true", help="validate and count; store nothing")
        imp.add_argument("--reject-file", type=Path, help="write every refused row (row, id, column, reason) here as CSV")
        imp.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="rows a transaction, exactly; by default up to 1000, fewer while a transaction would hold "
            "the SQLite writer (and so the running hub's API writes) longer than 0.1 s",
        )
        imp.add_argument("--no-dedupe", action="store_true", help="skip the duplicate search after the import")
        imp.add_argument("--quiet", action="store_true", help="no progress bar")
        imp.set_defaults(func=partial(_cmd_import, hubs=hubs))
        check = lsub.add_parser("check", help="validate mappings/legacy/*.yaml; say which 双号并行 lines have no bridge")
        check.add_argument("--strict", action="store_true", help="exit 1 when a 双号并行 line has no bridge destination")
        check.set_defaults(func=_cmd_check)
        dd = lsub.add_parser("dedupe", help="look for duplicates among imported and 12345 cases")
        dd.set_defaults(func=partial(_cmd_dedupe, hubs=hubs))
        cand = lsub.add_parser("candidates", help="list duplicate candidates")
        cand.add_argument("--status", default="pending", choices=["pending", "confirmed", "dismissed"])
        cand.add_argument("--limit", type=int, default=50)
        cand.add_argument("--json", action="store_true", help="as a JSON array")
        cand.set_defaults(func=partial(_cmd_candidates, hubs=hubs))
        for verb in ("confirm", "dismiss"):
            d = lsub.add_parser(verb, help=f"{verb} a duplicate candidate")
            d.add_argument("candidate_id", type=int)
            d.add_argument("--note")
            d.add_argument("--party", default="cli-supervisor", help="who decides (recorded)")
            d.set_defaults(func=partial(_cmd_decide, hubs=hubs), verb=verb)
        pull = lsub.add_parser("pull", help="pull a 双号并行 line's outgoing cases once (exit 3 when another process leads the pulling)")
        pull.add_argument("--line", required=True)
        pull.set_defaults(func=partial(_cmd_pull, hubs=hubs))
        add_refusals_cli(lsub, hubs)  # legacy refusals list|retry|dismiss
        route = lsub.add_parser("route", help="设分中心: dispatch accepted cases of sub-centre lines to their units")
        route.add_argument("--once", action="store_true", help="one look, then exit (default: keep routing until Ctrl-C)")
        route.set_defaults(func=partial(_cmd_route, hubs=hubs))

    def sandbox_peers(self, base_port: int) -> list[Peer]:
        """For `hotline-hub sandbox`: a sandbox line per 双号并行 line (REST or SOAP) on base_port + 60, + 61, ...,
        with a legacy_bridge destination each, so its puller runs and cases cross both ways."""

        return sandbox_peers(base_port + SANDBOX_PORT_OFFSET)


def _warn_unbridged(hub: Hub, config) -> None:  # noqa: ANN001
    """A 双号并行 line with no bridge destination exchanges nothing live: said loudly at start
    of `serve` and `relay` (hub.start_warnings), and by `legacy check`; not by every one-shot command.

    A warning, not a refusal to start: lines.yaml (mapping data, shipped) declares 12315 and
    12320 as 双号并行, but their addresses are deployment settings that the embedded default
    cannot know, so refusing would stop `hotline-hub serve` out of the box and every one-shot
    command with it. A line may also be declared before its system is reachable; its history
    imports meanwhile. `hotline-hub legacy check --strict` fails on the same gap for a
    deployment's own checks."""

    gaps = bridge_gaps(config, hub.settings.destinations)
    hub.handles.get(Legacy).unbridged = gaps
    for line, why in gaps.items():
        hub.start_warnings.append(
            ("adapters.legacy", f"legacy line {line} is 双号并行 but has no live bridge ({why}): no case goes over or comes in (docs/legacy.md, Live bridge)")
        )


def _pullers(hub: Hub, config) -> list:  # noqa: ANN001
    """A puller for each enabled destination using the legacy_bridge adapter."""

    out = []
    for name, dest in hub.settings.destinations.items():
        if dest.adapter != LegacyBridgeAdapter.name or not dest.enabled:
            continue
        context = AdapterContext(destination=name, clock=hub.clock, mappings_dir=hub.settings.mappings_dir)
        adapter = build_adapter(name, dest.adapter, dest.settings, context, {LegacyBridgeAdapter.name: LegacyBridgeAdapter})
        if not isinstance(adapter, LegacyBridgeAdapter):  # built from the one class offered above
            raise AssertionError(f"destination {name!r}: built {type(adapter).__qualname__}, not the legacy bridge")
        out.append(LegacyPuller(hub, adapter))
    return out


# Beside a running hub on SQLite (the default sizing) the import lowers its own CPU priority:
# on a busy machine its mapping competes for the cores with the API's requests, and an API
# write then waits for a core as well as for the lock (bench/RESULTS.md, "Legacy import beside
# live traffic": p99 366 ms at priority 0, 214 ms at 10). It still gets every idle cycle.
IMPORT_NICE = 10


def _lower_priority() -> None:
    try:
        os.nice(IMPORT_NICE)
    except (AttributeError, OSError):  # not POSIX, or not allowed: the import runs as it is
        pass


def _cmd_import(args: argparse.Namespace, hubs: HubOpener) -> int:
    """Exit 0 done (or nothing new), 2 unusable input, 130 interrupted (run it again to resume)."""

    with hubs() as hub:
        config = hub.handles.get(Legacy).config
        if args.line not in config.lines:
            print(f"no legacy line {args.line!r}; configured: {', '.join(sorted(config.lines))}", file=sys.stderr)
            return 2
        if not args.file.is_file():
            print(f"{args.file}: no such file", file=sys.stderr)
            return 2

        sizing = {"batch_size": max(1, args.batch_size)} if args.batch_size else {"hold_target": HOLD_TARGET_SECONDS}
        if not args.batch_size and hub.db.is_sqlite:
            _lower_priority()
        importer = LegacyImporter(hub, config, progress=None if args.quiet else sys.stderr, **sizing)
        # Ctrl-C (SIGINT) stops the import after the batch in hand has committed, with its summary;
        # a second one stops it at once (still resumable: the reject file is cut back on resume).
        stop = threading.Event()

        def on_interrupt(signum: int, frame: object) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            summary = importer.run(args.line, args.file, dry_run=args.dry_run, reject_path=args.reject_file, stop=stop.is_set, dedupe=not args.no_dedupe)
        except UnreadableFile as exc:
            print(str(exc), file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted: committed batches are kept; run the same command to continue", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, previous)
        print("\n".join(summary.lines()))  # interrupted: "stopped after N batches; run the same command again ..."
        return 130 if summary.interrupted else 0


def _cmd_check(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        config = load_legacy(settings.mappings_dir, load_catalogue(settings.mappings_dir))
    except MappingError as exc:
        print(exc)
        return 1
    gaps = bridge_gaps(config, settings.destinations)
    for entry in config.lines.values():
        extra = entry.sub_centre_unit or ""
        if entry.bridge is not None:
            dest = bridge_destination(settings.destinations, entry.line)
            extra = f"bridge {entry.bridge.transport} -> destination {dest}" if dest else f"bridge {entry.bridge.transport}: NOT CONNECTED ({gaps[entry.line]})"
        print(f"{entry.line} {entry.name_zh:<16} {entry.mode.value} {','.join(entry.categories) or '-'} {extra}")
    for line, why in gaps.items():
        print(
            f"warning: line {line} is 双号并行 but has no live bridge ({why}): nothing is exchanged with it until a {BRIDGE_ADAPTER} destination names it",
            file=sys.stderr,
        )
    return 1 if gaps and args.strict else 0


def _cmd_dedupe(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        bar = Progress(sys.stderr, "duplicate search", unit="records")
        try:
            result = find_candidates(
                hub.db,
                hub.handles.get(Legacy).config.dedupe,
                hub.clock.now(),
                progress=lambda done, fraction: bar.update(done, fraction, force=fraction >= 1.0),
            )
        finally:
            bar.close()
        print(f"indexed {result.indexed_hub_cases} 12345 cases, compared {result.compared}, new candidates {len(result.candidates)}")
        return 0


def _cmd_candidates(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        candidates = hub.handles.get(Legacy).candidates.list(args.status, 0.0, args.limit)
        if args.json:
            print_json(candidates)
            return 0
        for c in candidates:
            print(
                f"{c.id:>6}  {c.score:.2f}  {c.case_a} ({c.line_a})  {c.case_b} ({c.line_b})  "
                f"text {c.text_similarity:.2f}, {c.hours_apart:.1f} h apart  {c.status} {c.resolution or ''}"
            )
        return 0


def _cmd_decide(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        actor = Actor(party=args.party, role=Role.SUPERVISOR)
        try:
            c = getattr(hub.handles.get(Legacy).candidates, args.verb)(args.candidate_id, actor, args.note)
        except (CandidateNotFound, RuleViolation) as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"candidate {c.id}: {c.status} {c.resolution or ''}")
        return 0


def _cmd_pull(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    try:
        pullers = [w for w in hub.workers if isinstance(w, LegacyPuller) and w.name == f"legacy-puller-{args.line}"]
        if not pullers:
            print(f"line {args.line} has no enabled legacy_bridge destination in the settings", file=sys.stderr)
            return 1
        puller = pullers[0]
        try:
            r = puller.run_once()
        except AdapterError as exc:
            print(f"pull failed: {exc}", file=sys.stderr)
            return 1
        finally:
            puller.lease.release()  # a one-shot pull must not block the serving puller for a lease period
        if not r.leader:  # another process pulls this line: nothing was done here
            held = puller.lease.held_by()
            who = f"{held[0]}, until {held[1].isoformat(timespec='seconds')}" if held else "it has just let go; run again"
            print(f"line {args.line}: not pulled: another process leads (lease {puller.lease.name!r} held by {who})", file=sys.stderr)
            return 3
        print(f"created {len(r.created)}, already held {len(r.existing)}, refused {len(r.refused)}, cursor {r.cursor}")
        if r.refused:
            print(f"refused cases are kept: hotline-hub legacy refusals list --line {args.line}")
        return 0
    finally:
        close_hub(hub)


def _cmd_route(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    try:
        configure_logging(hub.settings.log_level, hub.settings.log_format)
        router = hub.handles.get(Legacy).sub_centre
        if router is None:
            print("no line in mode 设分中心 in mappings/legacy/lines.yaml: nothing to route", file=sys.stderr)
            return 1
        if args.once:
            try:
                result = router.run_once()
            finally:
                router.lease.release()  # a one-shot run must not hold the lead for the ttl
            if not result.leased:
                print("another router holds the lease; nothing done", file=sys.stderr)
                return 3  # cannot run now (hub.cli exit codes)
            print(f"dispatched {len(result.dispatched)}, skipped {len(result.skipped)}")
            for line in result.dispatched + result.skipped:
                print(f"  {line}")
            return 0
        router.start()
        print(f"sub-centre router looking every {router.cfg.interval_seconds:g}s; Ctrl-C stops it")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        router.stop()
        return 0
    finally:
        close_hub(hub)


feature = _Feature()
