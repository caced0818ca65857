"""`hotline-hub` (also `python -m hub`): serve, migrate, export the API, manage keys and the calendar.

Exit codes, the same for every command (README, Commands):
0 done; 1 nothing done or not found (nothing to revoke, a check that found a gap);
2 usage, bad input or bad configuration (unknown code, bad date, missing file, bad mapping or setting);
3 cannot run now (database unreachable or not migrated, another process holds the lead);
130 interrupted (run it again to resume).

Over 400 lines on purpose: the core's commands and the exit-code rules they share; each
feature adds its own commands from its own module.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import date
from enum import Enum
from functools import partial
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, ProgrammingError

from hub import __version__
from hub.calendar_import import YearAlreadyLoaded, import_year, load_schedule_file
from hub.db.database import Database
from hub.db.engine import make_engine
from hub.db.migrate import migration_status, upgrade
from hub.db.person_seal import PersonSeal, PersonSealKeyMismatch, remember_engine_seal_key
from hub.db.phone_index import key_from_file, remember_engine_key
from hub.db.repository import CaseRepository
from hub.domain.access import Actor
from hub.domain.calendar import calendar_status
from hub.domain.errors import CaseNotFound, DomainError
from hub.domain.model import Role
from hub.features import Feature, load_features
from hub.init_dir import InitRefused, init_dir
from hub.integration.contract import ConfigurationError
from hub.integration.destinations import DestinationErrors, _file_lines, scope_problems
from hub.integration.registry import describe_errors
from hub.mappings import MappingError, UnknownCode, load_catalogue
from hub.openapi_export import export_openapi
from hub.runtime import HubOpener, NoSuchWorker, serve, work
from hub.settings import REPO_ROOT, Settings, config_file, load_settings_file

EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_CANNOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def day(text: str) -> date:
    """An argparse type: a bad date is a usage error (exit 2) naming the value, not a traceback."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _jsonable(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def print_json(value: object) -> None:
    """What a listing command prints with --json: one JSON document (dataclasses as objects,
    dates as ISO text), so scripts need not parse the table."""
    print(json.dumps(value, ensure_ascii=False, indent=2, default=_jsonable))


def _settings() -> Settings:
    return Settings()


def cmd_serve(args: argparse.Namespace, hubs: HubOpener) -> int:
    settings = _settings()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("serve_workers", args.workers)) if v is not None}
    settings = settings.model_copy(update=overrides)
    serve(settings, hubs.features, processes=settings.api_processes())
    return 0


def cmd_work(args: argparse.Namespace, hubs: HubOpener) -> int:
    try:
        return work(_settings(), args.only or [], args.skip or [], hubs.features)
    except NoSuchWorker as exc:
        print(f"hotline-hub work: {exc}", file=sys.stderr)
        return 2


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()

    engine = make_engine(settings.database_url)
    remember_engine_key(engine, settings.phone_index_key_bytes())  # the backfill of the phone index hashes with it
    remember_engine_seal_key(engine, settings.person_seal_key_bytes())  # 0019 seals the documents with it
    upgrade(engine)
    status = migration_status(engine)
    print(f"database at {', '.join(status.current)} (head {', '.join(status.heads)})")
    engine.dispose()
    return 0


def cmd_db_reindex_phones(args: argparse.Namespace) -> int:
    """After phone_index_key changed: every case's phone index again, with the current key."""

    settings = _settings()
    db = Database(settings.database_url, phone_index_key=settings.phone_index_key_bytes())
    last, done = 0, 0
    try:
        while True:
            with db.write() as s:
                upto, count = CaseRepository(s).reindex_phones(last, 1000)
            if not count:
                break
            last, done = upto, done + count
    finally:
        db.dispose()
    print(f"phone index rebuilt for {done} cases")
    return 0


def cmd_db_reseal(args: argparse.Namespace) -> int:
    """After person_seal_key changed: every case document opened with the old key and sealed
    with the current one (documents still in clear are sealed; those already under the
    current key are left), a batch a transaction, so a run cut short is run again."""

    if bool(args.old_key) == bool(args.old_key_file):
        print("hotline-hub db reseal: give the old key with exactly one of --old-key, --old-key-file", file=sys.stderr)
        return EXIT_USAGE
    if args.old_key_file:
        path = Path(args.old_key_file)
        if not path.is_file():
            raise FileNotFoundError(2, "no such key file", str(path))
        old_key = key_from_file(path)
    else:
        old_key = args.old_key.encode("utf-8")
    settings = _settings()
    db = Database(settings.database_url, phone_index_key=settings.phone_index_key_bytes(), person_seal_key=settings.person_seal_key_bytes())
    old, last, done = PersonSeal(old_key), 0, 0
    try:
        while True:
            with db.write() as s:
                upto, count = CaseRepository(s).reseal(old, last, 500)
            if not count:
                break
            last, done = upto, done + count
    finally:
        db.dispose()
    print(f"case documents sealed again under the current person_seal_key: {done}")
    return 0


def cmd_openapi_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(export_openapi(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def cmd_keys_create(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    role = Role(args.role)
    if args.unit:
        hub.catalogue.unit(args.unit)
    for d in args.division or []:
        hub.catalogue.division(d)
    try:
        key = hub.keys.create(args.party, role, hub.clock.now(), unit_code=args.unit, divisions=args.division, note=args.note, channel=args.channel)
    except ValueError as exc:  # a scope the role needs is missing (--unit, --division, --channel)
        print(f"hotline-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(key)
    print("store it now: the hub keeps only its hash", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    if args.json:
        print_json(
            [
                {
                    "key_id": k.key_id,
                    "party": k.party,
                    "role": k.role.value,
                    "unit": k.unit_code,
                    "divisions": list(k.divisions),
                    "channel": k.channel,
                    "note": k.note,
                    "created_at": k.created_at,
                    "revoked_at": k.revoked_at,
                }
                for k in hub.keys.list()
            ]
        )
        return 0
    for k in hub.keys.list():
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        scope = k.unit_code or ",".join(k.divisions) or k.channel or "-"
        print(f"{k.key_id}  {k.party:<20} {k.role.value:<10} {scope:<20} {state}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    if not hub.keys.revoke(args.key_id, hub.clock.now()):
        print(f"no active key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0


def cmd_calendar_set(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    hub.calendars.set(args.day, args.workday, args.note, "cli", hub.clock.now())
    print(f"{args.day}: {'working day' if args.workday else 'holiday'}")
    return 0


def cmd_calendar_list(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    if args.json:
        print_json([{"day": d, "workday": w, "note": n} for d, w, n in hub.calendars.overrides()])
        return 0
    for d, w, n in hub.calendars.overrides():
        print(f"{d}  {'work' if w else 'off '}  {n or ''}")
    return 0


def cmd_calendar_unset(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    if hub.calendars.remove(args.day):
        return 0
    print(f"no override on {args.day}", file=sys.stderr)
    return 1


def cmd_calendar_import(args: argparse.Namespace, hubs: HubOpener) -> int:
    try:
        schedule = load_schedule_file(Path(args.file))
    except MappingError as exc:
        # Refused as a whole: every problem with its line, and nothing written.
        print(f"hotline-hub: calendar refused, nothing loaded: {exc}", file=sys.stderr)
        return 2
    hub = hubs()
    try:
        done = import_year(hub.cases, schedule, Actor(party="cli", role=Role.SUPERVISOR), replace=args.replace)
    except YearAlreadyLoaded as exc:
        print(f"hotline-hub: {exc} (--replace)", file=sys.stderr)
        return 1
    days = schedule.days()
    off, on = sum(1 for w in days.values() if not w), sum(1 for w in days.values() if w)
    print(
        f"{schedule.year}: {'replaced' if done.replaced else 'loaded'}, {len(schedule.holidays)} holidays "
        f"({off} days off), {on} make-up working days{' (SAMPLE DATA, not the official notice)' if schedule.sample else ''}"
    )
    print(f"deadlines counted again: {len(done.moved)} moved, {len(done.confirmed)} confirmed")
    return 0


def cmd_calendar_status(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    status = calendar_status(hub.calendars.calendar(), hub.clock.now())
    if args.json:
        years = [{"year": r.year, "loaded_at": r.loaded_at, "loaded_by": r.loaded_by, "sample": r.sample, "source": r.source} for r in hub.calendars.years()]
        print_json({"years": years} | dataclasses.asdict(status) | {"warning": status.warning})
        return 1 if status.warning else 0
    for row in hub.calendars.years():
        print(f"{row.year}  imported {row.loaded_at:%Y-%m-%d} by {row.loaded_by}{'  SAMPLE' if row.sample else ''}  {row.source}")
    print(
        f"{status.today.year}: {'known' if status.year_known else 'PROVISIONAL'}; {status.next_year}: {'known' if status.next_year_known else 'not known yet'}"
    )
    if status.warning:
        print(f"warning: {status.warning}", file=sys.stderr)
        return 1
    return 0


def cmd_mappings_check(args: argparse.Namespace) -> int:
    settings = _settings()
    cat = load_catalogue(settings.mappings_dir)
    problems = scope_problems(settings, cat, *_file_lines(config_file()))  # the destinations' category scopes
    if problems:
        raise DestinationErrors(problems)
    print(f"mappings ok: {len(cat.request_types)} request types, {len(cat.categories)} categories, {len(cat.divisions)} divisions, {len(cat.units)} units")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    try:
        done = init_dir(Path(args.dir))
    except InitRefused as exc:
        print(f"hotline-hub init: {exc}", file=sys.stderr)
        return EXIT_NOTHING
    print(f"wrote {done.settings_file}, {done.mappings_dir}/, {done.deploy_dir}/ and {done.data_dir}/")
    print("next:")
    print(f"  export HUB_CONFIG_FILE={done.settings_file}")
    print("  hotline-hub db upgrade")
    print("  hotline-hub keys create --party centre --role supervisor   # the first API key, printed once")
    print("  hotline-hub serve")
    return 0


def parser(features: Sequence[Feature] | None = None) -> argparse.ArgumentParser:
    """The commands of the core and of every feature (installed ones unless given). The
    features are loaded once here; each command opens the hub with them (`hubs`)."""
    hubs = HubOpener(load_features() if features is None else features)
    p = argparse.ArgumentParser(prog="hotline-hub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"hotline-hub {version()}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="API processes sharing the port (default: the setting serve_workers, else 2 on two cores or more); "
        "each runs the background workers, which lead through their leases",
    )
    s.set_defaults(func=partial(cmd_serve, hubs=hubs))

    w = sub.add_parser(
        "work",
        help="run the background workers (pollers, scheduler, retention, relay ...) without "
        "the API, until SIGTERM/Ctrl-C: the scaled-out topology's worker process (deploy/)",
    )
    w.add_argument(
        "--only", action="append", metavar="NAME", help="run only workers whose name starts so (repeat); e.g. province-poller, county-poller, scheduler"
    )
    w.add_argument("--skip", action="append", metavar="NAME", help="leave out workers whose name starts so (repeat); e.g. outbox-relay when relays run apart")
    w.set_defaults(func=partial(cmd_work, hubs=hubs))

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    db.add_parser("reindex-phones", help="rebuild the phone index with the current phone_index_key").set_defaults(func=cmd_db_reindex_phones)
    rs = db.add_parser("reseal", help="seal the callers' names and phones again under the current person_seal_key (after a key change)")
    rs.add_argument("--old-key", help="the person_seal_key the documents were sealed with (as it was set)")
    rs.add_argument("--old-key-file", help="or the key file they were sealed with (the old person-seal.key)")
    rs.set_defaults(func=cmd_db_reseal)

    oa = sub.add_parser("openapi", help="the API description").add_subparsers(dest="openapi_command", required=True)
    ex = oa.add_parser("export", help="write the OpenAPI document")
    ex.add_argument("--out", default=str(REPO_ROOT / "openapi" / "openapi.json"))
    ex.set_defaults(func=cmd_openapi_export)

    keys = sub.add_parser("keys", help="API keys of the parties").add_subparsers(dest="keys_command", required=True)
    kc = keys.add_parser("create", help="create a key (printed once)")
    kc.add_argument("--party", required=True, help="who holds it, e.g. yanjiang, ZY-SCJGJ, province")
    kc.add_argument("--role", required=True, choices=["agent", "supervisor", "unit", "province", "county", "system", "channel"])
    kc.add_argument("--unit", help="unit code, for role unit")
    kc.add_argument(
        "--channel", choices=["web", "wechat", "weibo", "app", "other"], help="the intake channel its cases carry, for role channel (docs/channels.md)"
    )
    kc.add_argument("--division", action="append", help="6-digit division, for role county (repeatable)")
    kc.add_argument("--note")
    kc.set_defaults(func=partial(cmd_keys_create, hubs=hubs))
    kl = keys.add_parser("list", help="every key: id, party, role, scope, active or revoked (never the key)")
    kl.add_argument("--json", action="store_true", help="as a JSON array")
    kl.set_defaults(func=partial(cmd_keys_list, hubs=hubs))
    kr = keys.add_parser("revoke")
    kr.add_argument("key_id")
    kr.set_defaults(func=partial(cmd_keys_revoke, hubs=hubs))

    cal = sub.add_parser("calendar", help="working-day calendar: imported years and overrides").add_subparsers(dest="cal_command", required=True)
    cs = cal.add_parser("set", help="mark a day as working or holiday")
    cs.add_argument("day", type=day, help="YYYY-MM-DD")
    g = cs.add_mutually_exclusive_group(required=True)
    g.add_argument("--workday", dest="workday", action="store_true")
    g.add_argument("--holiday", dest="workday", action="store_false")
    cs.add_argument("--note")
    cs.set_defaults(func=partial(cmd_calendar_set, hubs=hubs))
    cl = cal.add_parser("list", help="the working-day overrides")
    cl.add_argument("--json", action="store_true", help="as a JSON array")
    cl.set_defaults(func=partial(cmd_calendar_list, hubs=hubs))
    cu = cal.add_parser("unset")
    cu.add_argument("day", type=day, help="YYYY-MM-DD")
    cu.set_defaults(func=partial(cmd_calendar_unset, hubs=hubs))
    ci = cal.add_parser("import", help="load a year's official schedule (holidays, make-up days) from a YAML file")
    ci.add_argument("file", help="see examples/calendar/ and docs/deadlines.md for the format")
    ci.add_argument("--replace", action="store_true", help="load a year that is already loaded again")
    ci.set_defaults(func=partial(cmd_calendar_import, hubs=hubs))
    cst = cal.add_parser("status", help="imported years; exit 1 with a warning while a needed year is missing")
    cst.add_argument("--json", action="store_true", help="as one JSON object: the imported years and the status")
    cst.set_defaults(func=partial(cmd_calendar_status, hubs=hubs))

    it = sub.add_parser("init", help="write a settings file, a copy of the mappings and the deploy/ examples into DIR")
    it.add_argument("dir", metavar="DIR", help="created if missing; nothing in it is overwritten")
    it.set_defaults(func=cmd_init)

    mp = sub.add_parser("mappings", help="mapping files").add_subparsers(dest="mappings_command", required=True)
    mp.add_parser("check", help="validate mappings/ and exit").set_defaults(func=cmd_mappings_check)

    for feature in hubs.features:
        feature.add_cli(sub, hubs)
    return p


def _settings_problems(exc) -> list[str]:  # noqa: ANN001 - a pydantic ValidationError of Settings
    """Each invalid setting as 'file:line: field: why', the way a bad destination is said;
    a value that came from the environment (not in the file) is named without a file."""

    file = config_file()
    lines: dict[tuple, int] = {}
    if file is not None and file.is_file():
        try:
            lines = load_settings_file(file)[1]
        except Exception:  # noqa: BLE001 - unreadable YAML: pydantic's own words are all there is
            lines = {}
    return [
        problem for err in exc.errors() for problem in describe_errors(Settings, [err], str(file) if err["loc"] and (err["loc"][0],) in lines else None, lines)
    ]


def database_reason(exc: Exception) -> str:
    """The driver's first line (e.g. 'no such table: api_keys'), without SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def version() -> str:
    try:
        return installed("hotline-hub")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return __version__


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("hotline-hub: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UnknownCode as exc:  # e.g. keys create --unit NOPE
        print(f"hotline-hub: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CaseNotFound as exc:
        print(f"hotline-hub: {exc}", file=sys.stderr)
        return EXIT_NOTHING
    except DomainError as exc:
        print(f"hotline-hub: refused: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        if exc.filename is None:
            raise
        print(f"hotline-hub: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except (OperationalError, ProgrammingError) as exc:
        print(
            f"hotline-hub: cannot run now: the database answered: {database_reason(exc)}\n"
            "  is it running, and migrated? `hotline-hub db upgrade` applies the migrations",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    except PersonSealKeyMismatch as exc:
        print(f"hotline-hub: bad configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MappingError as exc:
        print(f"hotline-hub: bad mapping: {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:  # a destination that cannot be built (hub.integration.destinations)
        print(f"hotline-hub: bad configuration: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            print(f"hotline-hub: bad settings:\n{exc}", file=sys.stderr)
            return 2
        problems = _settings_problems(exc)
        print("hotline-hub: bad settings:" + (f" {problems[0]}" if len(problems) == 1 else "\n  " + "\n  ".join(problems)), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
