"""The records feature's table: who read a confidential (保密) case through the API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, BigId, UTCDateTime


class ConfidentialReadRow(Base):
    """One API read of a case whose person is confidential: who, when, through which route.
    Append-only; kept as long as the hub keeps cases (docs/operations.md)."""

    __tablename__ = "confidential_reads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    case_number: Mapped[str] = mapped_column(String(40))
    party: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_confidential_reads_case", "case_number", "id"),
        Index("ix_confidential_reads_party", "party", "id"),
    )
