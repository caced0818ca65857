"""A month's assessment on a filled database (bench/scale_generate.py): the cases it reads
since 0023 (supervision.queries.assessed_cases: the period's assessed lines and the look-back's
deadlines falling in the period) against the whole look-back as read before (every case with
history in the 180 days before the period, its assessed lines), same process, alternating
rounds, medians. Prints both, the ratio, and whether the figures are equal (they must be).

    .venv/bin/python -m bench.scale_assessment --url sqlite:////tmp/scale-200k.db --month 2026-11 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta

from sqlalchemy import or_, select

from bench.scale import open_hub
from bench.scale_generate import NOW
from hub.db.models import CaseRow, HistoryRow
from hub.domain.clock import ManualClock
from supervision.assessment import CaseLines, Line, Period, compute
from supervision.queries import APPEAL_ACTIONS, ASSESSED_ACTIONS, assessment_lines


def whole_lookback(db, since, until) -> list[CaseLines]:  # noqa: ANN001
    """The reading before 0023: every case with a line in [since, until)."""
    active = select(HistoryRow.case_id).where(HistoryRow.at >= since, HistoryRow.at < until).distinct()
    stmt = (
        select(CaseRow.number, CaseRow.county_code, HistoryRow.seq, HistoryRow.at, HistoryRow.action, HistoryRow.role, HistoryRow.data)
        .join(HistoryRow, HistoryRow.case_id == CaseRow.id)
        .where(CaseRow.id.in_(active), HistoryRow.action.in_(ASSESSED_ACTIONS), or_(HistoryRow.at < until, HistoryRow.action.in_(APPEAL_ACTIONS)))
    )
    by_case: dict[str, CaseLines] = {}
    with db.read() as s:
        for row in s.execute(stmt.order_by(CaseRow.number, HistoryRow.seq)):
            by_case.setdefault(row.number, CaseLines(row.number, row.county_code, [])).lines.append(Line(row.seq, row.at, row.action, row.role, row.data or {}))
    return list(by_case.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--month", default=(NOW.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    period = Period.parse(args.month)
    since = period.start - timedelta(days=180)
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(args.url, tmp, ManualClock(NOW))
        try:
            times: dict[str, list[float]] = {"0023": [], "before": []}
            results = {}
            for _ in range(args.rounds):
                for name, read in (
                    ("0023", lambda: assessment_lines(hub.db, since, period.start, period.end, None)),
                    ("before", lambda: whole_lookback(hub.db, since, period.end)),
                ):
                    t = time.perf_counter()
                    lines = read()
                    results[name] = (len(lines), compute(lines, period, NOW))
                    times[name].append(time.perf_counter() - t)
            new, old = statistics.median(times["0023"]), statistics.median(times["before"])
            shown = f"0023 {new * 1000:.0f} ms ({results['0023'][0]:,} cases read), before {old * 1000:.0f} ms ({results['before'][0]:,} cases read)"
            print(f"assessment of {args.month}: {shown}, ratio {new / old:.2f}")
            print("figures equal:", results["0023"][1] == results["before"][1])
        finally:
            hub.close()


if __name__ == "__main__":
    main()
