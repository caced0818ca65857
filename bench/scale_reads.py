"""Case reads and case lists on a filled database (bench/scale_generate.py), each against the way
it was read before 0025, in one process, alternating rounds: p50 / p95 of each, the ratio of the
p50s, and whether both gave the same cases (they must).

- a case read (`hub.cases.get`, with history) against the read before: the whole row through the
  ORM (its text column too), a history entry model built per line, the refs through the ORM;
  each side reads its own random cases (so neither finds the other's pages in the cache);
- `q=` (free text, SQLite: the trigram index since 0025) against the LIKE over every case;
- `division=` a township, and a month of `received_*`, against the statements before 0025
  (the division prefix alone; the whole rows of the month sorted).

    .venv/bin/python -m bench.scale_reads --url sqlite:////tmp/scale-200k.db --rounds 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, select

from bench.scale import open_hub, pct
from bench.scale_generate import NOW
from hub.db.models import CaseRow, ExternalRefRow, HistoryRow
from hub.db.person_seal import PersonSeal
from hub.db.repository import CaseQuery
from hub.domain.access import Actor
from hub.domain.clock import ManualClock
from hub.domain.model import Case, CaseState, ExternalRef, HistoryEntry, Role

AGENT = Actor("centre-agent", Role.AGENT)


def read_before(hub: Any, seal: PersonSeal, number: str) -> Case:
    """CaseRepository.get as it was before 0025."""
    with hub.db.read() as s:
        row = s.execute(select(CaseRow).where(CaseRow.number == number)).scalar_one()
        lines = s.execute(select(HistoryRow).where(HistoryRow.case_id == row.id).order_by(HistoryRow.seq)).scalars()
        history = [
            HistoryEntry(
                seq=r.seq,
                at=r.at,
                actor=r.actor,
                role=Role(r.role),
                action=r.action,
                from_state=CaseState(r.from_state) if r.from_state is not None else None,
                to_state=CaseState(r.to_state),
                note=r.note,
                data=r.data,
            )
            for r in lines
        ]
        case = Case.model_validate({**seal.open(row.doc), "history": history})
        refs = s.execute(select(ExternalRefRow).where(ExternalRefRow.case_id == row.id).order_by(ExternalRefRow.system)).scalars()
        case.external_refs = [ExternalRef(system=r.system, external_id=r.external_id) for r in refs]
        return case


def list_before(hub: Any, seal: PersonSeal, where: list[Any]) -> list[str]:
    """A first page of the centre's list as CaseRepository.list read it before 0025."""
    page = bindparam("page_limit", 51, type_=Integer, literal_execute=True)
    with hub.db.read() as s:
        rows = s.execute(select(CaseRow).where(*where).order_by(CaseRow.id.desc()).limit(page)).scalars()
        return [Case.model_validate({**seal.open(r.doc), "history": []}).number for r in list(rows)[:50]]


def timed_each(fn: Callable[[], Any], n: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return times, out


def compare(name: str, rounds: int, n: int, hub_fn: Callable[[], Any], base_fn: Callable[[], Any], same: Callable[[Any, Any], bool]) -> None:
    hub_fn(), base_fn()  # plans and caches warm
    times: dict[str, list[float]] = {"hub": [], "before": []}
    results: dict[str, Any] = {}
    for i in range(rounds):
        pair = [("before", base_fn), ("hub", hub_fn)] if i % 2 else [("hub", hub_fn), ("before", base_fn)]
        for side, fn in pair:
            t, results[side] = timed_each(fn, n)
            times[side] += t
    h, b = times["hub"], times["before"]
    ratio = statistics.median(h) / statistics.median(b)
    print(
        f"{name:<34} hub p50/p95 {statistics.median(h):8.2f} / {pct(h, 95):8.2f} ms   before {statistics.median(b):8.2f} / {pct(b, 95):8.2f} ms"
        f"   ratio {ratio:.3f}   same: {same(results['hub'], results['before'])}",
        flush=True,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reads", type=int, default=200, help="case reads per side per round")
    p.add_argument("--lists", type=int, default=3, help="list pages per side per round (a walk of every case is seconds)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(args.url, tmp, ManualClock(NOW))
        seal = PersonSeal(hub.db.person_seal_key)
        try:
            with hub.db.read() as s:
                top = s.execute(select(func.max(CaseRow.id))).scalar_one()
                sample = s.execute(select(CaseRow.division_code).where(CaseRow.id == top // 2)).scalar_one()
            rnd = random.Random(11)
            need = 2 * (args.rounds * args.reads + 1)
            with hub.db.read() as s:
                ids = [rnd.randrange(1, top + 1) for _ in range(need * 2)]
                pool = list(s.execute(select(CaseRow.number).where(CaseRow.id.in_(ids))).scalars())
            rnd.shuffle(pool)
            # Each side reads its own random cases (numbers drawn before the clock runs).
            mine, theirs = iter(pool[0::2]), iter(pool[1::2])
            probe = pool[-1]
            compare(
                "case read (with history)",
                args.rounds,
                args.reads,
                lambda: hub.cases.get(next(mine), AGENT),
                lambda: read_before(hub, seal, next(theirs)),
                # One case read both ways is the same case.
                lambda a, b: hub.cases.get(probe, AGENT) == read_before(hub, seal, probe),
            )
            soon = NOW + timedelta(days=2)
            month_from = NOW - timedelta(days=400)
            month_to = month_from + timedelta(days=31)
            lists: dict[str, tuple[CaseQuery, list[Any]]] = {
                "q rare (不在库中的词)": (CaseQuery(text="不在库中的词"), [CaseRow.search_text.contains("不在库中的词", autoescape=True)]),
                "q frequent (噪音扰民)": (CaseQuery(text="噪音扰民"), [CaseRow.search_text.contains("噪音扰民", autoescape=True)]),
                f"division township ({sample})": (CaseQuery(division=sample), [CaseRow.division_code.startswith(sample, autoescape=True)]),
                f"division county ({sample[:6]})": (CaseQuery(division=sample[:6]), [CaseRow.division_code.startswith(sample[:6], autoescape=True)]),
                "received month": (
                    CaseQuery(received_from=month_from, received_to=month_to),
                    [CaseRow.received_at >= month_from, CaseRow.received_at < month_to],
                ),
                "due_before (now + 2 days)": (
                    CaseQuery(due_before=soon),
                    [CaseRow.due_at.is_not(None), CaseRow.due_at < soon],
                ),
            }
            for name, (query, where) in lists.items():
                compare(
                    f"list {name}",
                    args.rounds,
                    args.lists,
                    lambda q=query: [c.number for c in hub.cases.list(q, AGENT)[0]],
                    lambda w=where: list_before(hub, seal, w),
                    lambda a, b: a == b,
                )
        finally:
            hub.close()


if __name__ == "__main__":
    main()
