"""Several states and short place prefixes on a filled database (issue 21, target 6): the lists
hub/db/case_pages.py reads as merged ranges, timed through `hub.cases.list` (the centre's view,
first page of 50) with this checkout's code and with another's (--before: a checkout of the
code before, e.g. /work/main), in alternating rounds in the same minutes.

Each side runs in its own process (this file with --side, PYTHONPATH set to that checkout), so
each imports its own `hub`; a round is every list, median of --rounds calls after an untimed
one. Printed per list: before and after p50 (medians over the sides' runs), the ratio
after / before, whether both sides gave the same first and last case of the page, and with
--explain each side's plans (EXPLAIN (COSTS OFF) of every statement on cases the list sent).

    PYTHONPATH=$PWD .venv/bin/python -m bench.case_pages_pg --url postgresql+psycopg://postgres@127.0.0.1:5432/pgpages200k --before /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.scale import NOW, captured_sql, open_hub, timed
from hub.db.models import CaseRow
from hub.db.repository import CaseQuery
from hub.domain.access import Actor
from hub.domain.clock import ManualClock
from hub.domain.model import Role

AGENT = Actor("centre-agent", Role.AGENT)
HERE = Path(__file__).resolve()


def queries(division: str) -> dict[str, CaseQuery]:
    return {
        "state=redo_required,returned (none)": CaseQuery(state=["redo_required", "returned"]),
        "state=rejected,transferred": CaseQuery(state=["rejected", "transferred"]),
        "state=replied,awaiting_follow_up": CaseQuery(state=["replied", "awaiting_follow_up"]),
        "state=archived,closed": CaseQuery(state=["archived", "closed"]),
        "division=44 (none)": CaseQuery(division="44"),
        "division=51209 (none)": CaseQuery(division="51209"),
        f"division={division[:4]} (4 digits)": CaseQuery(division=division[:4]),
        f"division={division[:2]} (2 digits)": CaseQuery(division=division[:2]),
    }


def side(url: str, rounds: int, explain: bool) -> dict[str, Any]:
    """One side's figures: per list, p50 ms, the page's first and last numbers, the plans."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(url, tmp, ManualClock(NOW))
        with hub.db.read() as s:
            # The newest case's place: its county and city hold cases, as a user's prefix would.
            division = s.execute(select(CaseRow.division_code).order_by(CaseRow.id.desc()).limit(1)).scalar_one()
        for name, q in queries(division).items():
            p50, _ = timed(lambda q=q: hub.cases.list(q, AGENT), rounds)
            page, _ = hub.cases.list(q, AGENT)
            plans: list[str] = []
            if explain:
                with captured_sql(hub) as seen:
                    hub.cases.list(q, AGENT)
                with hub.db.read() as s:
                    conn = s.connection()
                    for statement, parameters in seen:
                        rows = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, parameters).all()
                        plans.append(" | ".join(r[0].strip() for r in rows))
            out[name] = {"p50": p50, "first": page[0].number if page else None, "last": page[-1].number if page else None, "n": len(page), "plans": plans}
    return out


def run_side(checkout: str, url: str, rounds: int, explain: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": checkout}
    cmd = [sys.executable, str(HERE), "--side", "--url", url, "--rounds", str(rounds)] + (["--explain"] if explain else [])
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--url", required=True, help="a database filled by bench/scale_generate.py")
    p.add_argument("--before", help="a checkout of the code before (its root: PYTHONPATH for the 'before' side)")
    p.add_argument("--runs", type=int, default=3, help="alternating runs of each side")
    p.add_argument("--rounds", type=int, default=5, help="timed calls of each list in a run")
    p.add_argument("--explain", action="store_true")
    p.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.side:
        print(json.dumps(side(args.url, args.rounds, args.explain), ensure_ascii=False))
        return
    after_root = str(HERE.parent.parent)
    sides = {"after": after_root, **({"before": args.before} if args.before else {})}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
    for i in range(args.runs):
        for name, root in sides.items():
            runs[name].append(run_side(root, args.url, args.rounds, args.explain and i == 0))
    names = list(runs["after"][0])
    print(f"{'list':<40} {'before p50':>11} {'after p50':>10} {'ratio':>7}  same page")
    for name in names:
        after = statistics.median(r[name]["p50"] for r in runs["after"])
        first = runs["after"][0][name]
        if "before" in runs:
            before = statistics.median(r[name]["p50"] for r in runs["before"])
            b = runs["before"][0][name]
            same = (b["first"], b["last"], b["n"]) == (first["first"], first["last"], first["n"])
            print(f"{name:<40} {before:11.1f} {after:10.1f} {after / before:7.3f}  {same} ({first['n']} cases)")
        else:
            print(f"{name:<40} {'-':>11} {after:10.1f} {'-':>7}  ({first['n']} cases)")
    if args.explain:
        for side_name, side_runs in runs.items():
            for name in names:
                for plan in side_runs[0][name]["plans"]:
                    print(f"[{side_name}] {name}: {plan}")


if __name__ == "__main__":
    main()
