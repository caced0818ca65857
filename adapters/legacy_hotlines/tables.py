"""The legacy feature's tables: import runs (resume), the dedupe index, duplicate
candidates for an operator, the bridge's pull cursor per line, and the cases a line offered
that the hub could not take."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.db.models import Base, BigId, JSONDoc, UTCDateTime

RUNNING, DONE, FAILED = "running", "done", "failed"
PENDING, CONFIRMED, DISMISSED = "pending", "confirmed", "dismissed"


class LegacyImportRunRow(Base):
    """One import of one file into one line. (line, file hash) identifies it: running the
    same file again resumes after `last_row`, or does nothing once `done`. A run that
    stopped on an error is `failed` with the reason in `failure`; running it again retries."""

    __tablename__ = "legacy_import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line: Mapped[str] = mapped_column(String(8))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(12))
    last_row: Mapped[int] = mapped_column(Integer, default=0)  # last row committed (accepted, rejected or skipped)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)  # already held from an earlier file
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("uq_legacy_run_file", "line", "file_sha256", unique=True),)


class LegacyRecordRow(Base):
    """The dedupe index: one row per imported case (line = the legacy line, run_id set), per
    case the live bridge pulled (line = the legacy line, run_id null) and per 12345 case
    indexed for comparison (line = '12345', run_id null). The phone is kept only as a hash (a pseudonym, not encryption):
    the index finds 'same person' without a second copy of the number."""

    __tablename__ = "legacy_records"

    line: Mapped[str] = mapped_column(String(8), primary_key=True)
    original_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, index=True)
    case_number: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[int | None] = mapped_column(Integer)
    row: Mapped[int | None] = mapped_column(Integer)
    phone_key: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
    compared: Mapped[bool] = mapped_column(default=False)  # dedupe has looked at it

    __table_args__ = (
        Index("ix_legacy_records_phone", "phone_key", "received_at"),
        Index("ix_legacy_records_compared", "compared"),
    )


PHONE_INDEX = next(i for i in LegacyRecordRow.__table__.indexes if i.name == "ix_legacy_records_phone")


def ensure_phone_index(s: Session) -> None:
    """Put back the phone index if an import deferred it and did not get to rebuild it (a
    crash): the duplicate search finds a person's records through it. A no-op when present."""
    PHONE_INDEX.create(s.connection(), checkfirst=True)


def drop_phone_index(s: Session) -> None:
    PHONE_INDEX.drop(s.connection(), checkfirst=True)


class LegacyCandidateRow(Base):
    """A likely duplicate pair, for an operator to confirm or dismiss: never merged by itself."""

    __tablename__ = "legacy_duplicate_candidates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_a: Mapped[str] = mapped_column(String(40))  # the earlier case
    case_b: Mapped[str] = mapped_column(String(40))  # the later case: the duplicate if confirmed
    line_a: Mapped[str] = mapped_column(String(8))
    line_b: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    text_similarity: Mapped[float] = mapped_column(Float)
    hours_apart: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), index=True)
    resolution: Mapped[str | None] = mapped_column(String(16))  # merged | linked
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_legacy_candidate_pair", "case_a", "case_b", unique=True),)


class LegacyCursorRow(Base):
    """Where the bridge's last pull from a 双号并行 line ended."""

    __tablename__ = "legacy_bridge_cursors"

    line: Mapped[str] = mapped_column(String(8), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


REFUSAL_PENDING, REFUSAL_TAKEN, REFUSAL_DISMISSED = "pending", "taken", "dismissed"


class LegacyBridgeRefusalRow(Base):
    """A case a 双号并行 line took and offered to 12345 that the hub could not take: a code its
    mapping lacks, a draft the hub refuses, or an acknowledgement the line refused. The line
    moves on once its list is read, so this row is the case's only trace in the hub: it keeps
    the line's item as it came (`item`, personal data included: never listed or logged) so
    that it can be taken again once the mapping is fixed (`pending` -> `taken`), or
    dismissed by an operator. One pending row per (line, line's id): a second refusal of the
    same item counts an attempt. (province_pull_failures, the province poller's log, keeps
    no item and no state, so it cannot be retried; hence this table.)"""

    __tablename__ = "legacy_bridge_refusals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    line: Mapped[str] = mapped_column(String(8))
    line_case_id: Mapped[str | None] = mapped_column(String(128))  # None: the item carried no id
    stage: Mapped[str] = mapped_column(String(12))  # map | register | acknowledge: where it failed last
    reason: Mapped[str] = mapped_column(Text)
    item: Mapped[Any] = mapped_column(JSONDoc)
    case_number: Mapped[str | None] = mapped_column(String(40))  # registered, but the line has no acknowledgement
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_legacy_bridge_refusals_item", "line", "line_case_id"),)
