"""What an import run tells its operator: the summary, the progress bar on stderr and the
file of refused rows (importer.py runs the import and fills them in)."""

from __future__ import annotations

import csv
import io
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from adapters.legacy_hotlines.importing.dedupe import DedupeResult


@dataclass(frozen=True)
class Rejected:
    row: int
    original_id: str
    column: str
    reason: str


@dataclass
class ImportSummary:
    line: str
    file: str
    encoding: str | None
    run_id: int | None = None
    dry_run: bool = False
    resumed_after_row: int = 0
    already_done: bool = False
    interrupted: bool = False
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    batches: int = 0
    reasons: Counter = field(default_factory=Counter)
    dedupe: DedupeResult | None = None

    def lines(self) -> list[str]:
        head = "dry run: nothing stored; " if self.dry_run else ""
        out = [
            f"{head}line {self.line} file {self.file} ({self.encoding or 'binary'}): accepted {self.accepted}, "
            f"rejected {self.rejected}, skipped (already held) {self.skipped}"
        ]
        if self.already_done:
            out.append(f"this file was imported completely by run {self.run_id}: nothing new")
        if self.resumed_after_row:
            out.append(f"resumed run {self.run_id} after row {self.resumed_after_row}")
        if self.interrupted:
            out.append(f"stopped after {self.batches} batches; run the same command again to continue")
        for reason, n in self.reasons.most_common(10):
            out.append(f"  {n:>7}  {reason}")
        if self.dedupe is not None:
            out.append(f"duplicate candidates: {len(self.dedupe.candidates)} new (compared {self.dedupe.compared})")
        return out


class Progress:
    """A one-line progress bar on stderr, redrawn at most a few times a second: the fraction
    done, the count and rate of `unit`, and while not finished an ETA (the time left at the
    rate so far, by the fraction)."""

    def __init__(self, stream: TextIO | None, label: str, unit: str = "rows") -> None:
        self.stream, self.label, self.unit = stream, label, unit
        self.started = time.monotonic()
        self._last = 0.0
        self._width = 0

    def update(self, done: int, fraction: float | None, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        eta = ""
        if fraction is not None:
            fraction = min(max(fraction, 0.0), 1.0)
            filled = int(fraction * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}%"
            if 0.0 < fraction < 1.0:
                eta = f" ETA {eta_text(elapsed * (1 - fraction) / fraction)}"
        else:
            bar = ""
        text = f"{self.label} {bar} {done:,} {self.unit} {rate:,.0f} {self.unit}/s{eta}"
        # Padded to the last one: a shorter redraw (the ETA gone at 100%) leaves none of it behind.
        self.stream.write("\r" + text.ljust(self._width))
        self._width = len(text)
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def eta_text(seconds: float) -> str:
    """Time left as h:mm:ss (m:ss under an hour)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RejectFile:
    """Every refused row: row number, original id, the line's column and why. No personal
    data goes in it (values of phone and name columns are never quoted).

    A batch's rows are appended (one write, flushed and synced) inside the batch's
    transaction, before it commits; resuming a run first cuts the file back to the rows the
    run committed (`keep_through_row`, the run's last_row) and any partial last line. So
    whenever the import stops (Ctrl-C, a kill, a crash, before, during or after a commit)
    the file ends up listing each refused row once."""

    HEADER = ["row", "original_id", "column", "reason"]

    def __init__(self, path: Path | None, keep_through_row: int = 0) -> None:
        self._f = None
        if path is None:
            return
        fresh = not (keep_through_row > 0 and path.exists())
        if not fresh:
            _cut_back(path, keep_through_row)
        self._f = path.open("w" if fresh else "a", encoding="utf-8-sig" if fresh else "utf-8", newline="")
        if fresh:
            self._f.write(_csv_text([self.HEADER]))
            self._f.flush()

    def write(self, rejected: list[Rejected]) -> None:
        if self._f is not None and rejected:
            self._f.write(_csv_text([r.row, r.original_id, r.column, r.reason] for r in rejected))
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


def _csv_text(rows: Any) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _cut_back(path: Path, keep_through_row: int) -> None:
    """Keep the header and the rows up to `keep_through_row` (those of committed batches);
    drop the rows of a batch that never committed and a line cut short by a kill."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        text = f.read()
    whole = not text or text.endswith("\n")
    if not whole:
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    kept = rows[:1] + [r for r in rows[1:] if len(r) == 4 and r[0].isdigit() and int(r[0]) <= keep_through_row]
    if len(kept) != len(rows) or not whole:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(_csv_text(kept), encoding="utf-8-sig", newline="")
        os.replace(tmp, path)
