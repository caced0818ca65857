"""`hotline-hub legacy refusals list|retry|dismiss`: the cases a bridged line offered that
the hub could not take (refusals.py), for an operator at a terminal. A retry reads the
line's mapping file afresh (a one-shot command loads it at start), so: fix the file, retry."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any

from adapters.legacy_hotlines.bridge.refusals import RefusalNotFound, RefusalSettled
from adapters.legacy_hotlines.handle import Legacy, close_hub
from hub.cli import print_json
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.features import HubOpener


def add_refusals_cli(lsub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
    p = lsub.add_parser("refusals", help="cases a 双号并行 line offered that the hub could not take: list, retry, dismiss")
    rsub = p.add_subparsers(dest="refusals_cmd", required=True)
    ls = rsub.add_parser("list", help="list refused cases (no personal data)")
    ls.add_argument("--status", default="pending", choices=["pending", "taken", "dismissed"])
    ls.add_argument("--line", help="only this line, e.g. 12315")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true", help="as a JSON array")
    ls.set_defaults(func=partial(_cmd_list, hubs=hubs))
    retry = rsub.add_parser("retry", help="take refused cases again with the mapping as it is now")
    retry.add_argument("refusal_ids", type=int, nargs="*", help="the refusals' ids (default with --line: all pending)")
    retry.add_argument("--line", help="retry every pending refusal of this line")
    retry.add_argument("--party", default="cli-supervisor", help="who retries (recorded)")
    retry.set_defaults(func=partial(_cmd_retry, hubs=hubs))
    dismiss = rsub.add_parser("dismiss", help="dismiss a refused case; --note says why")
    dismiss.add_argument("refusal_id", type=int)
    dismiss.add_argument("--note")
    dismiss.add_argument("--party", default="cli-supervisor", help="who dismisses (recorded)")
    dismiss.set_defaults(func=partial(_cmd_dismiss, hubs=hubs))


def _print(r: Any) -> None:
    case = f" case {r.case_number}" if r.case_number else ""
    print(f"{r.id:>6}  {r.line}  {r.line_case_id or '?':<20} {r.status:<9} {r.stage:<11} x{r.attempts}  {r.last_at:%Y-%m-%d %H:%M}{case}  {r.reason}")


def _cmd_list(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    try:
        rows = hub.handles.get(Legacy).refusals.list(args.status, args.line, max(1, args.limit))
        if args.json:
            print_json(rows)
            return 0
        for r in rows:
            _print(r)
        return 0
    finally:
        close_hub(hub)


def _cmd_retry(args: argparse.Namespace, hubs: HubOpener) -> int:
    if not args.refusal_ids and not args.line:
        print("name refusal ids, or --line for every pending refusal of a line", file=sys.stderr)
        return 2
    hub = hubs()
    try:
        refusals, pullers = hub.handles.get(Legacy).refusals, hub.handles.get(Legacy).pullers
        ids = args.refusal_ids or [r.id for r in refusals.list("pending", args.line, limit=100_000)]
        actor = Actor(party=args.party, role=Role.SUPERVISOR)
        still = 0
        for refusal_id in ids:
            try:
                pending = refusals.pending(refusal_id)
            except (RefusalNotFound, RefusalSettled) as exc:
                print(str(exc), file=sys.stderr)
                still += 1
                continue
            puller = pullers.get(pending.line)
            if puller is None:
                print(
                    f"refusal {refusal_id}: line {pending.line} has no enabled legacy_bridge destination in the settings: nothing can acknowledge the case",
                    file=sys.stderr,
                )
                still += 1
                continue
            r = puller.retry(refusal_id, actor)
            if r.status == "taken":
                print(f"refusal {r.id}: taken as case {r.case_number}")
            else:
                still += 1
                print(f"refusal {r.id}: still refused ({r.stage}): {r.reason}")
        return 1 if still else 0
    finally:
        close_hub(hub)


def _cmd_dismiss(args: argparse.Namespace, hubs: HubOpener) -> int:
    hub = hubs()
    try:
        try:
            r = hub.handles.get(Legacy).refusals.dismiss(args.refusal_id, Actor(party=args.party, role=Role.SUPERVISOR), args.note)
        except (RefusalNotFound, RefusalSettled) as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"refusal {r.id}: dismissed")
        return 0
    finally:
        close_hub(hub)
