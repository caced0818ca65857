"""The console feature: its tables, its pages, and `hotline-hub users ...`."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from functools import partial
from typing import TYPE_CHECKING

from console import tables  # noqa: F401  (registers the console's tables with the metadata)
from console.accounts import OPERATOR_ROLES, AccountError, Accounts
from hub.cli import print_json
from hub.domain.model import Role
from hub.features import FeatureBase, HubOpener

if TYPE_CHECKING:
    from hub.container import Hub


class _Feature(FeatureBase):
    name = "console"
    order = 95  # after the features whose services its pages show

    def install(self, hub: Hub) -> None:
        from console import casework, intake, kb, outbox_pages, oversight, web  # start-up cost: jinja2 and the templates, only for a hub that serves pages

        hub.handles.add(Accounts(hub.db, hub.clock))
        hub.routers.extend([web.router, intake.router, casework.router, oversight.router, outbox_pages.router, kb.router])

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        users = sub.add_parser("users", help="operator accounts of the console (people; systems use API keys)").add_subparsers(
            dest="users_command", required=True
        )
        c = users.add_parser("create", help="create an operator; the password is read from stdin or generated and printed once")
        c.add_argument("username")
        c.add_argument("--role", required=True, choices=[r.value for r in OPERATOR_ROLES])
        c.add_argument("--unit", help="a unit clerk's unit code")
        c.add_argument("--division", action="append", help="a county clerk's division (repeat for several)")
        c.add_argument("--name", help="display name, e.g. 王芳")
        c.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead of generating one")
        c.set_defaults(func=partial(_cmd_create, hubs=hubs))
        ls = users.add_parser("list", help="operators, their role and scope, and whether disabled or locked")
        ls.add_argument("--json", action="store_true")
        ls.set_defaults(func=partial(_cmd_list, hubs=hubs))
        d = users.add_parser("disable", help="disable an operator and end their sessions")
        d.add_argument("username")
        d.set_defaults(func=partial(_cmd_disable, hubs=hubs))
        r = users.add_parser("reset-password", help="set a new password (stdin or generated), unlock, end sessions")
        r.add_argument("username")
        r.add_argument("--password-stdin", action="store_true")
        r.set_defaults(func=partial(_cmd_reset, hubs=hubs))
        s = users.add_parser("signins", help="the sign-in audit log, newest first")
        s.add_argument("--user")
        s.add_argument("--limit", type=int, default=100)
        s.add_argument("--json", action="store_true")
        s.set_defaults(func=partial(_cmd_signins, hubs=hubs))


feature = _Feature()


def _accounts(hubs: HubOpener) -> tuple[Hub, Accounts]:
    hub = hubs()
    return hub, hub.handles.get(Accounts)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated?)"""
    if from_stdin:
        return (sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("password: ")), False
    return secrets.token_urlsafe(12), True


def _cmd_create(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub, accounts = _accounts(hubs)
    if args.unit:
        hub.catalogue.unit(args.unit, field="--unit")  # UnknownCode: exit 2 naming it
    for d in args.division or []:
        hub.catalogue.division(d, field="--division")
    password, generated = _password(args.password_stdin)
    try:
        op = accounts.create(args.username, Role(args.role), password, args.name, args.unit, args.division)
    except AccountError as exc:
        print(f"hotline-hub users create: {exc}", file=sys.stderr)
        return 2
    print(f"created {op.username} ({op.role.value})")
    if generated:
        print(f"password: {password}")
        print("give it to the person now: the hub keeps only its argon2 hash", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub, accounts = _accounts(hubs)
    now = hub.clock.now()
    ops = accounts.list()
    if args.json:
        print_json(
            [
                {
                    "username": o.username,
                    "name": o.display_name,
                    "role": o.role.value,
                    "unit": o.unit_code,
                    "divisions": list(o.divisions),
                    "disabled": o.disabled,
                    "locked": o.locked_until is not None and o.locked_until > now,
                    "created_at": o.created_at,
                }
                for o in ops
            ]
        )
        return 0
    for o in ops:
        state = "disabled" if o.disabled else ("locked" if o.locked_until and o.locked_until > now else "active")
        print(f"{o.username:<20} {o.role.value:<10} {o.unit_code or ','.join(o.divisions) or '-':<20} {state:<8} {o.display_name}")
    return 0


def _cmd_disable(args: argparse.Namespace, hubs: HubOpener) -> int:
    _, accounts = _accounts(hubs)
    try:
        done = accounts.disable(args.username)
    except AccountError as exc:
        print(f"hotline-hub users disable: {exc}", file=sys.stderr)
        return 1
    if not done:
        print(f"{args.username} was already disabled", file=sys.stderr)
        return 1
    print(f"disabled {args.username}; their sessions ended")
    return 0


def _cmd_reset(args: argparse.Namespace, hubs: HubOpener) -> int:
    _, accounts = _accounts(hubs)
    password, generated = _password(args.password_stdin)
    try:
        accounts.reset_password(args.username, password)
    except AccountError as exc:
        print(f"hotline-hub users reset-password: {exc}", file=sys.stderr)
        return 1 if str(exc).startswith("no operator") else 2
    print(f"password of {args.username} reset; account unlocked; sessions ended")
    if generated:
        print(f"password: {password}")
    return 0


def _cmd_signins(args: argparse.Namespace, hubs: HubOpener) -> int:
    _, accounts = _accounts(hubs)
    rows = accounts.signins(args.user, args.limit)
    if args.json:
        print_json([{"at": r.at, "username": r.username, "outcome": r.outcome, "remote": r.remote} for r in rows])
        return 0
    for r in rows:
        print(f"{r.at:%Y-%m-%d %H:%M:%S}Z  {r.username:<20} {r.outcome:<12} {r.remote or '-'}")
    return 0
