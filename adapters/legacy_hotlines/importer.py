"""`hotline-hub legacy import`: a line's export becomes historical canonical cases.

- Streaming: rows are read one at a time and written in batches, one transaction each;
  memory stays bounded by the batch, whatever the file's size.
- Resumable: the run (line + the file's SHA-256) records the last committed row in the
  same transaction as the batch; running the same file again continues after it, and once
  the run is done does nothing.
- Idempotent: a case is keyed by (line, original id) as ExternalRef("legacy.<line>", id);
  an id the hub already holds is skipped, a second row with an id in the same file refused.
- Historical imports emit no domain events, so the outbox sends none of them to peers:
  these cases happened years ago on another line, and the province and counties either
  never should hear of them or already did through that line.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from adapters.legacy_hotlines.config import LegacyConfig
from adapters.legacy_hotlines.dedupe import DedupeResult, find_candidates, index_text, phone_key
from adapters.legacy_hotlines.mapping import (
    IMPORT_ACTOR, MappedRow, RowMapper, RowRefused, case_document, history_document, json_time,
)
from adapters.legacy_hotlines.readers import Row, RowSource, UnreadableFile, file_kind, inspect_file
from adapters.legacy_hotlines.tables import (
    DONE, FAILED, RUNNING, LegacyImportRunRow, LegacyRecordRow, drop_phone_index, ensure_phone_index,
)
from hub.db.phone_index import phone_hash
from hub.db.models import CaseNumberSeqRow, CaseRow, CaseUnitRow, ExternalRefRow, HistoryRow
from hub.domain.clock import LOCAL_TZ
from hub.mappings import UnknownCode


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
        out = [f"{head}line {self.line} file {self.file} ({self.encoding or 'binary'}): accepted {self.accepted}, "
               f"rejected {self.rejected}, skipped (already held) {self.skipped}"]
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
    """A one-line progress bar on stderr, redrawn at most a few times a second."""

    def __init__(self, stream: TextIO | None, label: str) -> None:
        self.stream, self.label = stream, label
        self.started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, fraction: float | None, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        rate = done / max(now - self.started, 1e-6)
        if fraction is not None:
            filled = int(fraction * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}%"
        else:
            bar = ""
        self.stream.write(f"\r{self.label} {bar} {done:,} rows {rate:,.0f} rows/s")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


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
        text = text[:text.rfind("\n") + 1]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    kept = rows[:1] + [r for r in rows[1:] if len(r) == 4 and r[0].isdigit() and int(r[0]) <= keep_through_row]
    if len(kept) != len(rows) or not whole:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(_csv_text(kept), encoding="utf-8-sig", newline="")
        os.replace(tmp, path)


# On SQLite the import's transactions hold the one writer lock of the file that `serve` uses:
# an API write waits for the batch in hand. With a hold target, a batch that held it longer
# halves the next one (down to MIN_BATCH rows), and one well under it doubles it again (up to
# batch_size), so that wait stays short whatever the machine's load.
HOLD_TARGET_SECONDS = 0.1
MIN_BATCH = 50


def next_batch_size(size: int, held: float, most: int, target: float) -> int:
    if held > target:
        return max(min(MIN_BATCH, most), size // 2)
    if held < target / 2:
        return min(most, size * 2)
    return size


class LegacyImporter:
    def __init__(self, hub: Any, config: LegacyConfig, batch_size: int = 1000, progress: TextIO | None = sys.stderr,
                 hold_target: float | None = None) -> None:
        """`batch_size` rows a transaction; with `hold_target` (seconds), at most that many,
        fewer while a transaction holds the SQLite writer longer (next_batch_size)."""
        self.hub, self.config = hub, config
        self.batch_size = batch_size
        self.hold_target = hold_target if hub.db.is_sqlite else None
        self.progress_stream = progress

    def run(self, line: str, path: Path, *, dry_run: bool = False, reject_path: Path | None = None,
            stop_after_batches: int | None = None, stop: Callable[[], bool] | None = None,
            dedupe: bool = True) -> ImportSummary:
        """Import (or resume) the file. `stop` is asked after each committed batch (the CLI's
        Ctrl-C sets it): true, the run stops there, `interrupted`, and the same call resumes it."""
        mapping = self.config.mapping(line)
        mapper = RowMapper(mapping, self.hub.catalogue)
        kind = file_kind(path)
        facts = inspect_file(path, kind)
        summary = ImportSummary(line=line, file=path.name, encoding=facts.encoding, dry_run=dry_run)
        run = None if dry_run else self._open_run(line, path, facts.sha256)
        if run is not None:
            summary.run_id = run.id
            summary.accepted, summary.rejected, summary.skipped = run.accepted, run.rejected, run.skipped
            if run.status == DONE:
                summary.already_done = True
                return summary
            summary.resumed_after_row = run.last_row
        start_after = summary.resumed_after_row
        seen_in_dry_run: dict[str, int] = {}
        rejects = RejectFile(reject_path, keep_through_row=start_after)
        bar = Progress(self.progress_stream, f"{line} {path.name}")
        source = RowSource(path, kind, facts)
        batch: list[Row] = []
        done, size = 0, self.batch_size
        deferred = run is not None and self._defer_phone_index(facts.size)
        # Millions of short-lived objects trigger collections; a full one would also walk the
        # whole long-lived heap (models, schemas, the app). Frozen, that heap sits them out.
        gc.freeze()
        try:
            for row in source:
                if row.number <= start_after:
                    continue
                batch.append(row)
                if len(batch) >= size:
                    held = self._batch(mapper, line, batch, summary, rejects, seen_in_dry_run)
                    if self.hold_target is not None:
                        size = next_batch_size(size, held, self.batch_size, self.hold_target)
                    done += len(batch)
                    batch = []
                    bar.update(done, source.progress())
                    if (stop_after_batches is not None and summary.batches >= stop_after_batches) or (stop and stop()):
                        summary.interrupted = True
                        break
            else:
                if batch:
                    self._batch(mapper, line, batch, summary, rejects, seen_in_dry_run)
                    done += len(batch)
                bar.update(done, 1.0, force=True)
        except Exception as exc:
            # An unreadable file (empty, truncated) or a fault mid-way: the run says so instead
            # of staying `running`; the same command retries it from its last committed row.
            if run is not None:
                self._fail(run.id, exc)
            raise
        finally:
            gc.unfreeze()
            bar.close()
            rejects.close()
            if deferred:  # stopped, failed or done: the index is back before anything else runs
                with self.hub.db.write() as s:
                    ensure_phone_index(s)
        if run is not None:
            with self.hub.db.write() as s:
                _checkpoint_less_often(s, restore=True)
        if summary.interrupted:
            return summary
        if run is not None:
            with self.hub.db.write() as s:
                s.get(LegacyImportRunRow, run.id).status = DONE
                s.get(LegacyImportRunRow, run.id).finished_at = self.hub.clock.now()
            if dedupe:
                summary.dedupe = self.dedupe()
        return summary

    def _fail(self, run_id: int, exc: Exception) -> None:
        reason = str(exc) if isinstance(exc, (UnreadableFile, csv.Error)) else f"{type(exc).__name__} (see the log)"
        try:
            with self.hub.db.write() as s:
                run = s.get(LegacyImportRunRow, run_id)
                run.status, run.failure, run.updated_at = FAILED, reason[:1000], self.hub.clock.now()
        except Exception:  # the database itself is what failed: the run stays as it was, the error goes up
            pass

    def dedupe(self) -> DedupeResult:
        return find_candidates(self.hub.db, self.config.dedupe, self.hub.clock.now())

    def _defer_phone_index(self, file_size: int) -> bool:
        """Leave the dedupe index by phone out while a large file loads, and build it once at
        the end. Its key is a hash, so each row lands at a random place in it: a batch dirties
        a page of that index per row, which is written to the WAL at every commit. Building it
        afterwards is one sort. Only when the file may hold at least as many rows as the table
        already does (a small file into a large table keeps the index and inserts into it).
        While it is out only the duplicate search, which runs after the import, is slower;
        `ensure_phone_index` puts it back (here, after the loop, and before any search)."""
        with self.hub.db.write() as s:
            held = s.execute(select(func.count()).select_from(LegacyRecordRow)).scalar_one()
            # Beside live traffic (a hold target) not at all: building the index is one long hold.
            if self.hold_target is not None or file_size // _MAX_BYTES_PER_ROW < held:
                ensure_phone_index(s)  # a run that crashed while it was out
                return False
            drop_phone_index(s)
            return True

    # -- runs ------------------------------------------------------------------------------
    def _open_run(self, line: str, path: Path, sha: str) -> LegacyImportRunRow:
        now = self.hub.clock.now()
        with self.hub.db.write() as s:
            run = s.execute(select(LegacyImportRunRow).where(LegacyImportRunRow.line == line,
                                                              LegacyImportRunRow.file_sha256 == sha)).scalar_one_or_none()
            if run is None:
                run = LegacyImportRunRow(line=line, file_sha256=sha, file_name=path.name[:255], status=RUNNING, last_row=0,
                                         accepted=0, rejected=0, skipped=0, started_at=now, updated_at=now)
                s.add(run)
                s.flush()
            elif run.status == FAILED:  # tried again: it resumes after its last committed row
                run.status, run.failure, run.updated_at = RUNNING, None, now
                s.flush()
            s.expunge(run)
            return run

    # -- one batch, one transaction --------------------------------------------------------------
    def _batch(self, mapper: RowMapper, line: str, rows: list[Row], summary: ImportSummary, rejects: RejectFile,
               seen_in_dry_run: dict[str, int]) -> float:
        """Map and write one batch; the seconds its transaction held the writer (0 in a dry run)."""
        refused: list[Rejected] = []
        mapped: list[tuple[Row, MappedRow]] = []
        first_row: dict[str, int] = {}
        for row in rows:
            if row.values is None:
                refused.append(Rejected(row.number, "", "(row)", row.error or "unreadable"))
                continue
            try:
                m = mapper.map(row.values)
            except RowRefused as exc:
                refused.append(Rejected(row.number, _id_of(mapper, row.values), exc.column, exc.reason))
                continue
            except UnknownCode as exc:
                refused.append(Rejected(row.number, _id_of(mapper, row.values), exc.field, f"unknown code {exc.code!r}"))
                continue
            if m.original_id in first_row:
                refused.append(Rejected(row.number, m.original_id, mapper.f.original_id,
                                        f"duplicate of row {first_row[m.original_id]} (same original id)"))
                continue
            first_row[m.original_id] = row.number
            mapped.append((row, m))
        now = self.hub.clock.now()
        skipped = 0
        if summary.dry_run:
            keep = []
            for row, m in mapped:
                if m.original_id in seen_in_dry_run:
                    refused.append(Rejected(row.number, m.original_id, mapper.f.original_id,
                                            f"duplicate of row {seen_in_dry_run[m.original_id]} (same original id)"))
                else:
                    seen_in_dry_run[m.original_id] = row.number
                    keep.append((row, m))
            with self.hub.db.read() as s:
                held = self._held(s, line, [m.original_id for _, m in keep], None)
            skipped = sum(1 for _, m in keep if m.original_id in held)
            accepted = len(keep) - skipped
            refused.sort(key=lambda r: r.row)
            rejects.write(refused)
        else:
            began = time.monotonic()
            with self.hub.db.write() as s:
                _checkpoint_less_often(s)
                held = self._held(s, line, [m.original_id for _, m in mapped], summary.run_id)
                fresh = []
                for row, m in mapped:
                    earlier = held.get(m.original_id)
                    if earlier is None:
                        fresh.append((row, m))
                    elif earlier == "held":
                        skipped += 1
                    else:  # the same run took this id on an earlier row: the file repeats it
                        refused.append(Rejected(row.number, m.original_id, mapper.f.original_id,
                                                f"duplicate of row {earlier} (same original id)"))
                accepted = len(fresh)
                if fresh:
                    self._write(s, line, fresh, summary.run_id, now)
                run = s.get(LegacyImportRunRow, summary.run_id)
                run.last_row = rows[-1].number
                run.accepted += accepted
                run.rejected += len(refused)
                run.skipped += skipped
                run.updated_at = now
                refused.sort(key=lambda r: r.row)
                # Before the commit: a stop after it cannot lose these rows; a stop before it
                # leaves rows past run.last_row, which a resume cuts back (RejectFile).
                rejects.write(refused)
            hold = time.monotonic() - began
        summary.accepted += accepted
        summary.rejected += len(refused)
        summary.skipped += skipped
        summary.batches += 1
        for r in refused:
            summary.reasons[f"{r.column}: {_reason_kind(r.reason)}"] += 1
        return 0.0 if summary.dry_run else hold

    @staticmethod
    def _held(s: Session, line: str, ids: list[str], run_id: int | None) -> dict[str, Any]:
        """id -> 'held' (an earlier file or the live bridge has it) or the row of this run that took it."""
        if not ids:
            return {}
        out: dict[str, Any] = {}
        for original_id, rid, row in s.execute(select(LegacyRecordRow.original_id, LegacyRecordRow.run_id, LegacyRecordRow.row)
                                               .where(LegacyRecordRow.line == line, LegacyRecordRow.original_id.in_(ids))):
            out[original_id] = row if (run_id is not None and rid == run_id) else "held"
        for (original_id,) in s.execute(select(ExternalRefRow.external_id).where(
                ExternalRefRow.system == f"legacy.{line}", ExternalRefRow.external_id.in_(ids))):
            out.setdefault(original_id, "held")
        return out

    def _write(self, s: Session, line: str, fresh: list[tuple[Row, MappedRow]], run_id: int | None, now: datetime) -> None:
        """The batch variant of CaseRepository.add: the same rows and values (the columns of
        CaseRepository._columns, the document of build_case), a few multi-row statements
        instead of several statements per case. On SQLite the values are rendered as the
        column types would store them and go to the driver's executemany (`_SqliteRows`);
        elsewhere through SQLAlchemy Core with the model's types (`_CoreRows`)."""
        numbers = self._numbers(s, [m.received_at for _, m in fresh])
        region = self.hub.settings.region_code
        out = _SqliteRows(s) if s.get_bind().dialect.name == "sqlite" else _CoreRows(s)
        ts, doc = out.time, out.doc
        now_db, now_doc = ts(now), json_time(now)
        system, limit = f"legacy.{line}", self.config.dedupe.max_text_chars
        index_key = s.info["phone_index_key"]  # the hub's phone index (hub.db.phone_index)
        cases, received = [], []
        for (_, m), number in zip(fresh, numbers):
            number = region + number
            at = ts(m.received_at)
            received.append(at)
            cases.append((number, 1, m.state.value, m.request_type.value, m.category_code, m.division_code,
                          m.division_code[:6], m.urgency.value if m.urgency else "normal", "legacy", m.unit or None, None, None,
                          False, at, now_db, f"{m.title}\n{m.content}", doc(case_document(m, number, now_doc, line)),
                          phone_hash(index_key, m.person_phone) if m.person_phone else None, at))
        ids = out.cases(cases)
        out.insert(ExternalRefRow, ("system", "external_id", "case_id"),
                   [(system, m.original_id, i) for (_, m), i in zip(fresh, ids)])
        units = [(i, m.unit, "lead") for (_, m), i in zip(fresh, ids) if m.unit]
        if units:
            out.insert(CaseUnitRow, ("case_id", "unit_code", "role"), units)
        out.insert(HistoryRow, ("case_id", "seq", "at", "actor", "role", "action", "from_state", "to_state", "note", "data"),
                   [(i, 1, now_db, IMPORT_ACTOR, "system", "import", None, m.state.value, None,
                     doc(history_document(m, line, run_id, row.number))) for (row, m), i in zip(fresh, ids)])
        out.insert(LegacyRecordRow, ("line", "original_id", "case_id", "case_number", "run_id", "row", "phone_key",
                                     "received_at", "text", "compared"),
                   [(line, m.original_id, i, c[0], run_id, row.number, phone_key(m.person_phone), at,
                     index_text(m.title, m.content, limit), False)
                    for (row, m), i, c, at in zip(fresh, ids, cases, received)])

    def _numbers(self, s: Session, received: list[datetime]) -> list[str]:
        """Case numbers for a batch: region + the day the line received the case + sequence.
        One upsert per distinct day reserves a block (the batch variant of next_number)."""
        days = [r.astimezone(LOCAL_TZ).strftime("%Y%m%d") for r in received]
        need = Counter(days)
        dialect = s.get_bind().dialect.name
        next_free: dict[str, int] = {}
        for day, k in need.items():
            last = s.execute(_reserve_stmt(dialect), {"day": day, "k": k}).scalar_one()
            next_free[day] = last - k + 1
        out = []
        for day in days:
            out.append(f"{day}{next_free[day]:06d}")
            next_free[day] += 1
        return out


# No export row is longer than this on average (the bench's are ~180 bytes): file size / this
# is a low estimate of the rows in a file, so the index is deferred only when it pays.
_MAX_BYTES_PER_ROW = 512


# SQLite copies the WAL back into the database (a checkpoint, with its own fsync) once the WAL
# passes wal_autocheckpoint pages, 1000 by default: with a few MB written per batch that is
# nearly every commit. During an import it waits for ~40 MB instead; a commit is as durable
# either way (synchronous=FULL syncs the WAL on each). The setting is the connection's, so
# it is put back when the import ends.
IMPORT_WAL_PAGES, DEFAULT_WAL_PAGES = 10_000, 1000


def _checkpoint_less_often(s: Session, restore: bool = False) -> None:
    if s.get_bind().dialect.name == "sqlite":
        s.connection().exec_driver_sql(f"PRAGMA wal_autocheckpoint={DEFAULT_WAL_PAGES if restore else IMPORT_WAL_PAGES}")


def sqlite_time(value: datetime) -> str:
    """UTCDateTime's value on SQLite: naive UTC, as SQLAlchemy's DATETIME writes it."""
    if value.tzinfo is not timezone.utc:
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database; the clock gives aware ones")
        value = value.astimezone(timezone.utc)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


_CASE_COLUMNS = ("number", "version", "state", "request_type", "category_code", "division_code", "county_code", "urgency",
                 "channel", "lead_unit", "sign_off_due", "due_at", "overdue", "created_at", "updated_at", "search_text", "doc", "phone_hash", "received_at")


class _CoreRows:
    """Batch inserts through SQLAlchemy Core: the model's column types bind the values."""

    def __init__(self, s: Session) -> None:
        self.s = s

    @staticmethod
    def time(value: datetime) -> Any:
        return value

    @staticmethod
    def doc(text: str) -> Any:
        """A JSON column's value, from the JSON text mapping.py writes: the type dumps it again."""
        return json.loads(text)

    def cases(self, rows: list[tuple]) -> list[int]:
        table = CaseRow.__table__
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return [r[0] for r in self.s.execute(stmt, [dict(zip(_CASE_COLUMNS, r)) for r in rows])]

    def insert(self, model: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self.s.execute(model.__table__.insert(), [dict(zip(columns, r)) for r in rows])


class _SqliteRows(_CoreRows):
    """Batch inserts straight to sqlite3's executemany, in the session's transaction, with
    values rendered as the columns' types render them on SQLite (UTCDateTime: naive UTC
    text with microseconds; JSON: the dialect's serializer, json.dumps by default). The unit
    tests hold them equal to the types' own bind processors."""

    def __init__(self, s: Session) -> None:
        super().__init__(s)
        self.conn = s.connection()
        serializer = getattr(self.conn.dialect, "_json_serializer", None)
        if serializer is not None:  # an engine with its own JSON serializer: let it write the text
            self.doc = lambda text: serializer(json.loads(text))  # type: ignore[method-assign]

    @staticmethod
    def doc(text: str) -> Any:
        return text  # mapping.py wrote it as json.dumps, the JSON type's default serializer, would

    time = staticmethod(sqlite_time)

    def cases(self, rows: list[tuple]) -> list[int]:
        # The transaction holds the write lock (BEGIN IMMEDIATE; the number upsert wrote already):
        # the new rows are exactly those above the old max id.
        last = self.conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM cases").scalar_one()
        self._executemany("cases", _CASE_COLUMNS, rows)
        ids = dict(self.conn.exec_driver_sql("SELECT number, id FROM cases WHERE id > ?", (last,)).all())
        return [ids[r[0]] for r in rows]

    def insert(self, model: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
        self._executemany(model.__tablename__, columns, rows)

    def _executemany(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        self.conn.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)


def _reserve_stmt(dialect: str):  # noqa: ANN202
    stmt = _RESERVE.get(dialect)
    if stmt is None:
        table = CaseNumberSeqRow.__table__
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (insert(table).values(day=bindparam("day"), last=bindparam("k"))
                .on_conflict_do_update(index_elements=["day"], set_={"last": table.c.last + bindparam("k")})
                .returning(table.c.last))
        _RESERVE[dialect] = stmt
    return stmt


_RESERVE: dict[str, Any] = {}


def _id_of(mapper: RowMapper, values: dict[str, Any]) -> str:
    value = values.get(mapper.f.original_id)
    return "" if value is None else str(value).strip()[:128]


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: the same fault with different values counts once."""
    for marker in (" '", " \"", " of row"):
        if marker in reason:
            return reason.split(marker)[0] + " ..."
    return reason
