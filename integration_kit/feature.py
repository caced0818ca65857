"""`hotline-hub kit check`: the conformance kit from the command line. Adds nothing to a running hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.features import FeatureBase, HubOpener
from hub.settings import Settings, config_file
from integration_kit.peer import HttpPeerControl
from integration_kit.report import CheckResult
from integration_kit.runner import address_mismatch, default_mappings_dir, load_settings_file, run_kit


def cmd_kit_check(args: argparse.Namespace) -> int:
    path = Path(args.settings)
    try:
        raw, lines = load_settings_file(path)
    except FileNotFoundError:
        print(f"hotline-hub kit: settings file {path} not found", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a YAML syntax error, said plainly
        print(f"hotline-hub kit: {path}: not readable YAML: {exc}", file=sys.stderr)
        return 2
    if args.peer is None and not args.static:
        print("hotline-hub kit: give --peer URL (a peer with the /_kit endpoints) or --static for the checks that need no peer", file=sys.stderr)
        return 2
    scope = None
    if args.destination:
        scope = _destination_scope(args.destination)
        if isinstance(scope, str):
            print(f"hotline-hub kit: {scope}", file=sys.stderr)
            return 2
    peer = HttpPeerControl(args.peer) if args.peer else None
    try:
        report = run_kit(
            args.adapter,
            raw,
            peer,
            mappings_dir=Path(args.mappings_dir) if args.mappings_dir else default_mappings_dir(),
            settings_source=str(path),
            settings_lines=lines,
            events=args.events.split(",") if args.events else None,
            division=args.division,
            unit=args.unit,
            category=args.category,
            cases=scope,
        )
    finally:
        if peer is not None:
            peer.close()
    mismatch = address_mismatch(raw, args.peer) if args.peer else None
    if mismatch:
        report.checks.insert(0, CheckResult("peer address", warnings=[f"{path}: {mismatch}"]))
    print(report.render(verbose=args.verbose))
    return 0 if (report.ok if args.static else report.complete) else 1


def _destination_scope(name: str):  # noqa: ANN202 - the CaseScope, or what is wrong as text
    """The `cases:` scope of destination `name` in the hub's settings file (HUB_CONFIG_FILE)."""

    if config_file() is None:
        return "--destination reads the hub's settings file: set HUB_CONFIG_FILE to it"
    destination = Settings().destinations.get(name)
    if destination is None:
        return f"no destination {name!r} in {config_file()}"
    return destination.cases


class _Feature(FeatureBase):
    name = "kit"
    order = 20

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:  # noqa: ANN001
        kit = sub.add_parser("kit", help="the integrator's conformance kit").add_subparsers(dest="kit_command", required=True)
        check = kit.add_parser("check", help="check an installed adapter against the contract, its mappings and a peer")
        check.add_argument("--adapter", required=True, help="entry-point name in group hotline_hub.adapters")
        check.add_argument("--settings", required=True, help="YAML file: the adapter's settings (destinations.<name>.settings)")
        check.add_argument("--peer", help="base URL of the peer's /_kit control endpoints")
        check.add_argument("--static", action="store_true", help="only the checks that need no peer")
        check.add_argument("--mappings-dir", help="the hub's mappings folder (default: the installed hub's mappings/)")
        check.add_argument(
            "--events",
            help="comma-separated event types the sample cases go through, for an adapter "
            "that takes only some (default: registered, accepted, dispatched, signed_off, progress_reported, replied)",
        )
        check.add_argument("--division", help="division code of the sample cases (default: the first county)")
        check.add_argument("--unit", help="lead unit of the sample cases (default: the category's default unit)")
        check.add_argument(
            "--category",
            help="category of the sample cases, an item ('0105') or a group ('01': its "
            "first item) (default: the destination's first category with --destination, else 0101)",
        )
        check.add_argument(
            "--destination",
            help="a destination in the hub's settings file (HUB_CONFIG_FILE): the sample "
            "cases are ones its cases: scope lets through (its first category, unit and division)",
        )
        check.add_argument("-v", "--verbose", action="store_true", help="also print what each check exercised")
        check.set_defaults(func=cmd_kit_check)


feature = _Feature()
