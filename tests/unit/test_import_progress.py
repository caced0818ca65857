"""The import's progress line (issue #19: long work shows progress with an ETA)."""

from __future__ import annotations

import io

from adapters.legacy_hotlines.importing import report
from adapters.legacy_hotlines.importing.report import Progress, eta_text


def test_eta_text_reads_as_minutes_and_seconds_or_hours():
    assert eta_text(0) == "0:00"
    assert eta_text(59.6) == "1:00"
    assert eta_text(754) == "12:34"
    assert eta_text(3 * 3600 + 5 * 60 + 7) == "3:05:07"


def test_the_line_shows_the_time_left_by_the_fraction_done_and_none_once_finished(monkeypatch):
    clock = iter([100.0, 130.0, 200.0])  # started, a quarter done 30 s later, finished
    monkeypatch.setattr(report.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    bar = Progress(out, "duplicate search", unit="records")
    bar.update(250, 0.25)
    bar.update(1000, 1.0, force=True)
    first, last = out.getvalue().split("\r")[1:]
    # A quarter in 30 s: three quarters left take 90 s more.
    assert first == "duplicate search [#######.......................]  25.0% 250 records 8 records/s ETA 1:30"
    assert last.rstrip() == "duplicate search [##############################] 100.0% 1,000 records 10 records/s"
    assert len(last) == len(first)  # padded over the longer line before it
