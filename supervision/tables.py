"""The supervision feature's table: each case's assessment items over time (supervision.assessment
`facts_of`), written in the transaction that writes the case's history lines (supervision.items),
so a period's assessment reads the items dated in it instead of walking every case's lines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, BigId, UTCDateTime

# The rows of the 考核申诉 lines, as the partial index below is written and the read names them.
APPEAL_SQL = "figure = 'appeal'"


class AssessmentItemRow(Base):
    """One item of a case's figures while its history said so: in force from `since` to `until`
    (NULL: still). The case's number and county are copied so the read joins nothing."""

    __tablename__ = "assessment_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    case_number: Mapped[str] = mapped_column(String(40))
    county_code: Mapped[str] = mapped_column(String(6))
    figure: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    unit: Mapped[str | None] = mapped_column(String(32))
    counted: Mapped[bool] = mapped_column(Boolean)
    resolved: Mapped[bool] = mapped_column(Boolean)
    open: Mapped[bool] = mapped_column(Boolean)
    part: Mapped[bool] = mapped_column(Boolean)
    township: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # A period reads the items dated in it (a deadline, or the line's time).
        Index("ix_assessment_items_at", "at"),
        # The cases with a 考核申诉 line, walked instead of read (few).
        Index("ix_assessment_items_appeals", "case_id", sqlite_where=text(APPEAL_SQL), postgresql_where=text(APPEAL_SQL)),
    )
