"""A month's assessment on a filled database (bench/scale_generate.py): the stored items read since
0024 (supervision.queries.period_items: the items dated in the month, in force at its end, by
their date's index; no history line decoded) against the reading of 0023 (the cases with an
assessed line or a deadline in the month, every assessed line of each, decoded and walked), same
process, alternating rounds, medians. Prints both, the ratio, and whether the figures are equal
(they must be): the whole city's, each county's total and every unit's.

    .venv/bin/python -m bench.scale_assessment --url sqlite:////tmp/scale-200k.db --month 2026-11 --rounds 3
    # a fill made before 0024's items were built by the generator: --build-items first
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta

from bench.scale import open_hub
from bench.scale_generate import NOW, build_items
from hub.domain.clock import ManualClock
from supervision.assessment import Period, compute, gather, scoped, units_in
from supervision.queries import assessment_lines, period_items


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--month", default=(NOW.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lookback-days", type=int, default=180, help="the 0023 reading's look-back (settings.supervision.assessment_lookback_days)")
    p.add_argument("--build-items", action="store_true", help="build the assessment items from the history first (a fill made before they were)")
    args = p.parse_args()
    if args.build_items:
        build_items(args.url)
    period = Period.parse(args.month)
    since = period.start - timedelta(days=args.lookback_days)
    with tempfile.TemporaryDirectory() as tmp:
        hub = open_hub(args.url, tmp, ManualClock(NOW))
        try:
            times: dict[str, list[float]] = {"0024": [], "0023": []}
            results = {}

            def new() -> tuple[int, object]:
                items = period_items(hub.db, period, NOW, None)
                return sum(len(v) for v in items.raw.values()), (items, scoped(items))

            def old() -> tuple[int, object]:
                lines = assessment_lines(hub.db, since, period.start, period.end, None)
                return len(lines), (lines, compute(lines, period, NOW))

            for _ in range(args.rounds):
                for name, read in (("0024", new), ("0023", old)):
                    t = time.perf_counter()
                    results[name] = read()
                    times[name].append(time.perf_counter() - t)
            a, b = statistics.median(times["0024"]), statistics.median(times["0023"])
            shown = f"0024 {a * 1000:.0f} ms ({results['0024'][0]:,} items read), 0023 {b * 1000:.0f} ms ({results['0023'][0]:,} cases read)"
            print(f"assessment of {args.month}: {shown}, ratio {a / b:.2f}  (rounds {args.rounds}: 0024 {_ms(times['0024'])}, 0023 {_ms(times['0023'])})")
            (items, city), (lines, city_before) = results["0024"][1], results["0023"][1]  # type: ignore[misc]
            print("figures equal (the city):", city == city_before, "|", ", ".join(f"{f.key} {f.numerator}/{f.denominator}" for f in city.figures))
            before = gather(lines, period, NOW)
            units = units_in(items, period, NOW)
            print("units equal:", units == units_in(before, period, NOW), f"({len(units)} units)")
            unequal = [u for u in units if scoped(items, u) != scoped(before, u)]
            counties = sorted({i.county for f in city.figures for i in f.items})
            unequal += [c for c in counties if scoped(items, county=c) != scoped(before, county=c)]
            print(f"every unit's and county's figures equal: {not unequal}", unequal[:10])
        finally:
            hub.close()


def _ms(values: list[float]) -> str:
    return "/".join(f"{v * 1000:.0f}" for v in values)


if __name__ == "__main__":
    main()
