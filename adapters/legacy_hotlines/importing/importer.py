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

Over 400 lines on purpose: the import's transaction loop (batch, resume point, idempotency,
yielding to writers) is read as one; readers, dedupe and the report live beside it.
"""

from __future__ import annotations

import csv
import gc
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.legacy_hotlines.config import LegacyConfig
from adapters.legacy_hotlines.importing.ahead import Prepared, ReadAhead, finish_document, prepared_rows
from adapters.legacy_hotlines.importing.dedupe import DedupeResult, find_candidates
from adapters.legacy_hotlines.importing.readers import RowSource, UnreadableFile, file_kind, inspect_file
from adapters.legacy_hotlines.importing.report import ImportSummary, Progress, Rejected, RejectFile
from adapters.legacy_hotlines.mapping import IMPORT_ACTOR, RowMapper, json_time
from adapters.legacy_hotlines.tables import (
    DONE,
    FAILED,
    RUNNING,
    LegacyImportRunRow,
    LegacyRecordRow,
    drop_phone_index,
    ensure_phone_index,
)
from hub.db import bulk
from hub.db.bulk import HistoricalCase, bulk_rows
from hub.db.models import CaseRow
from hub.db.person_seal import seal_of
from hub.db.repository import CaseRepository

# On SQLite the import's transactions hold the one writer lock of the file that `serve` uses:
# an API write waits for the batch in hand. With a hold target, a batch that held it longer
# halves the next one (down to MIN_BATCH rows), and one well under it doubles it again (up to
# batch_size), so that wait stays short whatever the machine's load. Before each batch the
# import lets the writers of other processes that are waiting for the lock go first
# (Database.yield_writer), waiting at most YIELD_MAX_SECONDS for them: an API write waits for
# at most the one batch in hand, not for the next ones too.
HOLD_TARGET_SECONDS = 0.05
MIN_BATCH = 50
YIELD_MAX_SECONDS = 1.0


def next_batch_size(size: int, held: float, most: int, target: float) -> int:
    if held > target:
        return max(min(MIN_BATCH, most), size // 2)
    if held < target / 2:
        return min(most, size * 2)
    return size


class LegacyImporter:
    def __init__(
        self,
        hub: Any,
        config: LegacyConfig,
        batch_size: int = 1000,
        progress: TextIO | None = sys.stderr,
        hold_target: float | None = None,
        read_ahead: bool | None = None,
    ) -> None:
        """`batch_size` rows a transaction; with `hold_target` (seconds), at most that many,
        fewer while a transaction holds the SQLite writer longer (next_batch_size).
        `read_ahead`: rows read and mapped in a process of its own (True), in this one
        (False), or as `_read_ahead` decides by the file and the mode (None)."""
        self.hub, self.config = hub, config
        self.read_ahead = read_ahead
        self.batch_size = batch_size
        self.hold_target = hold_target if hub.db.is_sqlite else None
        self.progress_stream = progress

    def run(
        self,
        line: str,
        path: Path,
        *,
        dry_run: bool = False,
        reject_path: Path | None = None,
        stop_after_batches: int | None = None,
        stop: Callable[[], bool] | None = None,
        dedupe: bool = True,
    ) -> ImportSummary:
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
        batch: list[Prepared | Rejected] = []
        done, size = 0, self.batch_size
        deferred = run is not None and self._defer_phone_index(facts.size)
        with self.hub.db.read() as s:
            seal = seal_of(s)
        limit = self.config.dedupe.max_text_chars
        ahead = ReadAhead(source, mapper, start_after, line, summary.run_id, limit, seal) if self._read_ahead(run is not None, facts.size) else None
        rows = ahead if ahead is not None else prepared_rows(source, mapper, start_after, line, summary.run_id, limit, seal)
        progress = ahead.progress if ahead is not None else source.progress
        # Millions of short-lived objects trigger collections; a full one would also walk the
        # whole long-lived heap (models, schemas, the app). Frozen, that heap sits them out.
        gc.freeze()
        try:
            for row in rows:
                batch.append(row)
                if len(batch) >= size:
                    held = self._batch(mapper, line, batch, summary, rejects, seen_in_dry_run)
                    if self.hold_target is not None:
                        size = next_batch_size(size, held, self.batch_size, self.hold_target)
                    done += len(batch)
                    batch = []
                    bar.update(done, progress())
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
            if ahead is not None:
                ahead.close()
            gc.unfreeze()
            bar.close()
            rejects.close()
            if deferred:  # stopped, failed or done: the indexes are back before anything else runs
                with self.hub.db.write() as s:
                    ensure_phone_index(s)
                    bulk.ensure_phone_index(s)
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
        """The duplicate search, with its own progress line (records compared, ETA)."""
        bar = Progress(self.progress_stream, "duplicate search", unit="records")
        try:
            return find_candidates(
                self.hub.db, self.config.dedupe, self.hub.clock.now(), progress=lambda done, fraction: bar.update(done, fraction, force=fraction >= 1.0)
            )
        finally:
            bar.close()

    def _defer_phone_index(self, file_size: int) -> bool:
        """Leave the indexes by phone out while a large file loads, and build them once at the
        end: the dedupe's (legacy_records) and, on SQLite, the cases' (hub.db.bulk.PHONE_INDEX).
        Their keys are hashes, so each row lands at a random place in them: a batch dirties a
        page of each per row, which is written to the WAL at every commit. Building one
        afterwards is one sort. Each only when the file may hold at least as many rows as its
        table already does (a small file into a large table keeps the index and inserts into
        it). While they are out a search by phone reads the table (slower, never wrong); they
        are put back here after the loop, and the dedupe's before any search."""
        with self.hub.db.write() as s:
            held = s.execute(select(func.count()).select_from(LegacyRecordRow)).scalar_one()
            # max(id) bounds the cases from above without counting them: a hub that holds
            # more cases than the file can add keeps the index.
            cases = s.execute(select(func.coalesce(func.max(CaseRow.id), 0))).scalar_one()
            rows = file_size // _MAX_BYTES_PER_ROW
            # Beside live traffic (a hold target) not at all: building an index is one long hold.
            # On PostgreSQL the cases' is kept: dropping and building it locks `cases` to writers.
            leave_cases = self.hold_target is None and self.hub.db.is_sqlite and rows >= cases
            if self.hold_target is not None or rows < held:
                ensure_phone_index(s)  # a run that crashed while it was out
            else:
                drop_phone_index(s)
            if leave_cases:
                bulk.drop_phone_index(s)
            else:
                bulk.ensure_phone_index(s)
            return leave_cases or (self.hold_target is None and rows >= held)

    # -- runs ------------------------------------------------------------------------------
    def _open_run(self, line: str, path: Path, sha: str) -> LegacyImportRunRow:
        now = self.hub.clock.now()
        with self.hub.db.write() as s:
            run = s.execute(select(LegacyImportRunRow).where(LegacyImportRunRow.line == line, LegacyImportRunRow.file_sha256 == sha)).scalar_one_or_none()
            if run is None:
                run = LegacyImportRunRow(
                    line=line,
                    file_sha256=sha,
                    file_name=path.name[:255],
                    status=RUNNING,
                    last_row=0,
                    accepted=0,
                    rejected=0,
                    skipped=0,
                    started_at=now,
                    updated_at=now,
                )
                s.add(run)
                s.flush()
            elif run.status == FAILED:  # tried again: it resumes after its last committed row
                run.status, run.failure, run.updated_at = RUNNING, None, now
                s.flush()
            s.expunge(run)
            return run

    # -- one batch, one transaction --------------------------------------------------------------
    def _batch(
        self, mapper: RowMapper, line: str, rows: list[Prepared | Rejected], summary: ImportSummary, rejects: RejectFile, seen_in_dry_run: dict[str, int]
    ) -> float:
        """Write one batch of mapped rows; the seconds its transaction held the writer (0 in a dry run)."""
        refused: list[Rejected] = []
        mapped: list[Prepared] = []
        first_row: dict[str, int] = {}
        for m in rows:
            if isinstance(m, Rejected):
                refused.append(m)
                continue
            if m.original_id in first_row:
                refused.append(Rejected(m.row, m.original_id, mapper.f.original_id, f"duplicate of row {first_row[m.original_id]} (same original id)"))
                continue
            first_row[m.original_id] = m.row
            mapped.append(m)
        now = self.hub.clock.now()
        skipped = 0
        if summary.dry_run:
            keep = []
            for m in mapped:
                if m.original_id in seen_in_dry_run:
                    refused.append(
                        Rejected(m.row, m.original_id, mapper.f.original_id, f"duplicate of row {seen_in_dry_run[m.original_id]} (same original id)")
                    )
                else:
                    seen_in_dry_run[m.original_id] = m.row
                    keep.append(m)
            with self.hub.db.read() as s:
                held = self._held(s, line, [m.original_id for m in keep], None)
            skipped = sum(1 for m in keep if m.original_id in held)
            accepted = len(keep) - skipped
            refused.sort(key=lambda r: r.row)
            rejects.write(refused)
        else:
            if self.hold_target is not None:
                # Beside live traffic: writers of other processes waiting for the lock (the
                # API of `serve`) have it before this batch takes it again.
                self.hub.db.yield_writer(YIELD_MAX_SECONDS)
            began = time.monotonic()
            with self.hub.db.write() as s:
                _checkpoint_less_often(s)
                held = self._held(s, line, [m.original_id for m in mapped], summary.run_id)
                fresh = []
                for m in mapped:
                    earlier = held.get(m.original_id)
                    if earlier is None:
                        fresh.append(m)
                    elif earlier == "held":
                        skipped += 1
                    else:  # the same run took this id on an earlier row: the file repeats it
                        refused.append(Rejected(m.row, m.original_id, mapper.f.original_id, f"duplicate of row {earlier} (same original id)"))
                accepted = len(fresh)
                if fresh:
                    self._write(s, line, fresh, summary.run_id, now)
                run = s.get(LegacyImportRunRow, summary.run_id)
                run.last_row = rows[-1].row
                run.accepted += accepted
                run.rejected += len(refused)
                run.skipped += skipped
                run.updated_at = now
                refused.sort(key=lambda r: r.row)
                # Before the commit: a stop after it cannot lose these rows; a stop before it
                # leaves rows past run.last_row, which a resume cuts back (RejectFile).
                rejects.write(refused)
            hold = time.monotonic() - began
            if self.hold_target is not None:
                _copy_back(self.hub.db)
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
        for original_id, rid, row in s.execute(
            select(LegacyRecordRow.original_id, LegacyRecordRow.run_id, LegacyRecordRow.row).where(
                LegacyRecordRow.line == line, LegacyRecordRow.original_id.in_(ids)
            )
        ):
            out[original_id] = row if (run_id is not None and rid == run_id) else "held"
        for original_id in CaseRepository(s).held_refs(f"legacy.{line}", ids):
            out.setdefault(original_id, "held")
        return out

    def _write(self, s: Session, line: str, fresh: list[Prepared], run_id: int | None, now: datetime) -> None:
        """The batch's cases through the case repository's bulk write (the rows CaseRepository.add
        would write, the document of build_case), then the import's own record of each."""
        cases = CaseRepository(s)
        received = [m.received_at for m in fresh]
        if self.hub.db.is_sqlite:
            numbers = cases.reserve_numbers(self.hub.settings.region_code, received)
        else:
            # On PostgreSQL the numbers are reserved in a transaction of their own: in the
            # batch's, the counter row of a day would stay locked until the batch commits, and
            # an API write numbering a case of that day (today's, in an export of today) would
            # wait for it. A batch that then fails leaves a gap in that day's numbers, as a
            # sequence does; a number is never given twice.
            with self.hub.db.write() as own:
                numbers = CaseRepository(own).reserve_numbers(self.hub.settings.region_code, received)
        now_doc = json_time(now)
        system = f"legacy.{line}"
        ids = cases.add_historical(
            [
                HistoricalCase(
                    number,
                    m.state,
                    m.request_type,
                    m.category_code,
                    m.division_code,
                    m.urgency,
                    "legacy",
                    m.unit,
                    m.received_at,
                    m.search_text,
                    finish_document(m.document, number, now_doc),
                    m.phone,
                    system,
                    m.original_id,
                    IMPORT_ACTOR,
                    "import",
                    m.history,
                )
                for m, number in zip(fresh, numbers)
            ],
            now,
        )
        out = bulk_rows(s)
        out.insert(
            LegacyRecordRow,
            ("line", "original_id", "case_id", "case_number", "run_id", "row", "phone_key", "received_at", "text", "compared"),
            [
                (line, m.original_id, i, number, run_id, m.row, m.phone_key, out.time(m.received_at), m.index_text, False)
                for m, i, number in zip(fresh, ids, numbers)
            ],
        )

    def _read_ahead(self, writing: bool, file_size: int) -> bool:
        """Read and map in a process of its own (ahead.ReadAhead): for a load with a fixed batch
        size of a file of at least READ_AHEAD_ROWS rows (by size), where the two processes'
        work overlaps most. Not beside live traffic (the import there leaves the cores to the
        API), not for a dry run (nothing to overlap), nor a small file (a fork is not free)."""
        if self.read_ahead is not None:
            return self.read_ahead and writing
        return writing and self.hold_target is None and file_size // _MAX_BYTES_PER_ROW >= READ_AHEAD_ROWS


# A file of at least this many rows is read ahead, in a process of its own (`_read_ahead`).
READ_AHEAD_ROWS = 10_000

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


def _copy_back(db: Any) -> None:
    """Beside live traffic, after each batch: copy the WAL back into the database now, from the
    import's process and without the write lock (a PASSIVE checkpoint waits for nobody and
    nobody waits for it). Otherwise the first API write after the batch finds the WAL past
    its connection's 1,000 pages and does that copy, with its fsync, before it answers."""
    raw = db.reader.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: the same fault with different values counts once."""
    for marker in (" '", ' "', " of row"):
        if marker in reason:
            return reason.split(marker)[0] + " ..."
    return reason
