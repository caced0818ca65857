"""SQLAlchemy 2 typed tables. The full case lives in `doc`; the columns beside it are the
ones queries filter on, kept in step by the repository on every write."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    bindparam,
    case,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

if TYPE_CHECKING:
    from sqlalchemy import Table


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database; the clock gives aware ones")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDoc = JSON().with_variant(JSONB(), "postgresql")
# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for event ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        # Every model is mapped to a Table (none to a join or subquery): its insert(), indexes
        # and columns are typed as a Table's (DeclarativeBase says only FromClause).
        __table__: ClassVar[Table]


# Objects a migration creates outside the models because they exist on one dialect only
# (SQLite FTS5 tables and their shadow tables, PostgreSQL expression indexes). Features
# add their names here; schema comparison (autogenerate, the drift test) skips them.
UNMANAGED_NAMES: set[str] = set()


def is_managed(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic `include_name` hook: False for the names in UNMANAGED_NAMES."""
    return name not in UNMANAGED_NAMES


# The states in which a case's time limits run (hub.domain.lifecycle.RUNNING_STATES, held equal
# by a unit test), as the literals of the partial index `ix_cases_running` (0018): a query
# reaches that index only when it names exactly these values, inline (`running_cases_clause`).
RUNNING_STATE_VALUES = ("awaiting_sign_off", "in_progress", "return_requested")
_RUNNING_SQL = "state IN (" + ", ".join(f"'{s}'" for s in RUNNING_STATE_VALUES) + ")"
# The stored overdue flag, as the partial index `ix_cases_overdue_flag` (0023) is written and
# as `overdue_flag_clause` asks for it.
OVERDUE_FLAG_SQL = "overdue = true"  # TRUE: a keyword on SQLite (3.23+) as on PostgreSQL


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32), index=True)
    request_type: Mapped[str] = mapped_column(String(16), index=True)
    category_code: Mapped[str] = mapped_column(String(32))
    division_code: Mapped[str] = mapped_column(String(12))
    county_code: Mapped[str] = mapped_column(String(6))  # division_code[:6]; indexed with id (0025), below
    urgency: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    lead_unit: Mapped[str | None] = mapped_column(String(32), index=True)
    sign_off_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)  # flagged ones indexed apart (ix_cases_overdue_flag, 0023)
    # 预警: the doc's flags.warned, as a column so counting warned running cases reads no documents (0021).
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    search_text: Mapped[str] = mapped_column(Text)
    doc: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    # The caller's phone as a keyed hash (hub.db.phone_index), never in clear, and when the
    # case came in (intake.received_at): the centre's searches (0013_phone_index).
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # indexed with id (0025), below

    __table_args__ = (
        Index("ix_cases_phone_hash", "phone_hash", "received_at"),
        # Only the running cases' ids: the scheduler's pass and the 预警 list cost what is
        # running, not every case ever received (0018_scale_indexes).
        Index("ix_cases_running", "id", sqlite_where=text(_RUNNING_SQL), postgresql_where=text(_RUNNING_SQL)),
        # Only the running cases' deadlines (0027): the running side of `overdue=true` is a range
        # of these, never the whole deadline index (every finished case keeps its old deadline).
        Index("ix_cases_running_deadline", "due_at", sqlite_where=text(_RUNNING_SQL), postgresql_where=text(_RUNNING_SQL)),
        # Only the flagged overdue cases (0023): `overdue=true` reads them, not every case.
        Index("ix_cases_overdue_flag", "overdue", sqlite_where=text(OVERDUE_FLAG_SQL), postgresql_where=text(OVERDUE_FLAG_SQL)),
        # An equality filter in id order (0023): each page is a range of the index, the last as the first.
        Index("ix_cases_channel_id", "channel", "id"),
        Index("ix_cases_category_id", "category_code", "id"),
        # A county's cases in id order (0025): the county role's view, and `division=` of six digits or more.
        Index("ix_cases_county_id", "county_code", "id"),
        # A range of receipt times (0025): the page's ids are read from the index alone and sorted,
        # not the range's whole rows (PostgreSQL: an index-only scan; SQLite's index held the rowid).
        Index("ix_cases_received_id", "received_at", "id"),
    )


def overdue_flag_clause() -> Any:
    """`cases.overdue` (the stored flag) in the form the partial index ix_cases_overdue_flag answers."""
    return text("cases." + OVERDUE_FLAG_SQL)


# PostgreSQL only (0023, made by the migration, outside the models): the running cases'
# deadlines as an expression index, NULL for every other case. PostgreSQL keeps statistics of
# an expression index, so it knows how few running cases are past due (the column's own
# statistics say "almost every case", and it walked every case for `overdue=true`).
RUNNING_DUE_INDEX = "ix_cases_running_due"
# PostgreSQL only (0023), where pg_trgm can be created: a trigram index of search_text, which
# answers `q=` (LIKE '%text%') without reading every case.
SEARCH_TRGM_INDEX = "ix_cases_search_trgm"
# SQLite only (0025): an FTS5 table with the trigram tokenizer over cases.search_text (external
# content: the index only), kept in step by triggers on the cases' writes; it answers `q=`
# (LIKE '%text%') for a needle of three characters or more without reading every case.
CASE_TEXT_TABLE = "cases_fts"
# FTS5 keeps its index in shadow tables named after the virtual table (columnsize=0: no docsize).
CASE_TEXT_SHADOW_TABLES = tuple(f"{CASE_TEXT_TABLE}_{suffix}" for suffix in ("data", "idx", "config"))
UNMANAGED_NAMES.update({RUNNING_DUE_INDEX, SEARCH_TRGM_INDEX, CASE_TEXT_TABLE, *CASE_TEXT_SHADOW_TABLES})


# Both dialects (0025, made by the migration, outside the models: an expression index): the
# township part of the place's code with the id, so `division=` of nine digits or more is a
# range of it in id order (`township_code`).
TOWNSHIP_INDEX = "ix_cases_township_id"
TOWNSHIP_DIGITS = 9
UNMANAGED_NAMES.add(TOWNSHIP_INDEX)


# SQLite only (0028, made by the migration, outside the models: an expression index): the
# deadlines in id order, `(id + 0, due_at)`, which `due_before`'s newest-first walk reads alone
# (hub/db/case_pages.py) instead of the cases' rows, a document to a page. On `id + 0`, not
# `id`: an index led by the rowid itself is one SQLite takes for lookups by id and for id
# order in other lists, where the table's own b-tree is the better read.
DEADLINE_BY_ID_INDEX = "ix_cases_id_due"
UNMANAGED_NAMES.add(DEADLINE_BY_ID_INDEX)


def id_by_deadline() -> Any:
    """The id as ix_cases_id_due's first expression is written (only it uses that index)."""
    return literal_column("cases.id + 0", type_=Integer)


def township_code() -> Any:
    """The first nine digits of the place's code, written as ix_cases_township_id's expression
    (literal numbers: an index on an expression answers only that expression, not one with parameters)."""
    return func.substr(CaseRow.division_code, literal_column("1"), literal_column(str(TOWNSHIP_DIGITS)))


def running_due() -> Any:
    """The deadline of a running case, NULL for any other: the expression of ix_cases_running_due."""
    return case((running_cases_clause(), CaseRow.due_at), else_=None)


def running_cases_clause() -> Any:
    """`cases.state IN (the running states)` written with inline literals, the form the
    partial index ix_cases_running answers (a bound parameter list would not match its WHERE)."""
    return CaseRow.state.in_(bindparam("running_states", RUNNING_STATE_VALUES, expanding=True, literal_execute=True))


class RepeatCallRow(Base):
    """重复来电: a case registered while the same phone had an open case of the same category
    within settings.repeat_call_days, linked for the agent to confirm or dismiss (0014)."""

    __tablename__ = "repeat_calls"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    earlier_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12))  # suggested, confirmed, dismissed
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class CaseUnitRow(Base):
    """Which units hold a case: the access rule for unit keys reads this."""

    __tablename__ = "case_units"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8))


class ExternalRefRow(Base):
    """Every external system's id for a case, unique per system."""

    __tablename__ = "case_external_refs"

    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)

    __table_args__ = (Index("uq_case_ref_system", "case_id", "system", unique=True),)


class HistoryRow(Base):
    __tablename__ = "case_history"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed (0018): a period's assessment finds its cases by the lines written in it.
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))  # indexed with `at` (0023), below
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)

    # A period's assessment (0023): the period's assessed lines and the look-back's deadline
    # lines, each a few ranges of this index (supervision.queries.assessed_cases).
    __table_args__ = (Index("ix_case_history_action_at", "action", "at"),)


class EventRow(Base):
    """Domain events, written in the transaction of the change that caused them."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    case_number: Mapped[str] = mapped_column(String(40))
    case_version: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class CaseNumberSeqRow(Base):
    """Per-day sequence behind case numbers (region code + date + sequence)."""

    __tablename__ = "case_number_seq"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class IdempotencyRow(Base):
    """Intake requests already answered, per caller and Idempotency-Key."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    """Parties' API keys, stored as SHA-256 of 32 random bytes: a leak of this table leaks no key."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    party: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    divisions: Mapped[list[str]] = mapped_column(JSONDoc)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For role channel: the intake channel (web, wechat, ...) its cases must carry (migration 0015).
    channel: Mapped[str | None] = mapped_column(String(16))


class CalendarOverrideRow(Base):
    """Operator-edited working days; they win over the published calendar."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class CalendarYearRow(Base):
    """A year's official schedule, imported whole (hotline-hub calendar import): the
    YearSchedule document as loaded. Overrides still win over it, day by day."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(Text)
    sample: Mapped[bool] = mapped_column(Boolean)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[str] = mapped_column(String(64))


class LeaseRow(Base):
    """Named leases: one holder at a time across processes (poller, scheduler, ...)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkerPassRow(Base):
    """Each leader worker's last successful pass and last failed one, by lease name (0021):
    a holder that keeps its lease but fails every pass shows here, not on the lease."""

    __tablename__ = "worker_passes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
