"""The county adapter's tables beside the cases: the last update applied per ticket, the
signatures seen inside the replay window, and the poll cursors (store.py reads and writes them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, UTCDateTime


class CountyTicketRow(Base):
    """Per county ticket: the hub case and the newest county update applied to it."""

    __tablename__ = "county_tickets"

    county: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(40), index=True)
    last_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_update_id: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CountySignatureRow(Base):
    """Signatures already accepted: the same signed request twice is a replay."""

    __tablename__ = "county_signatures"

    county: Mapped[str] = mapped_column(String(32), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_county_signatures_seen_at", "seen_at"),)


class CountyPollCursorRow(Base):
    __tablename__ = "county_poll_cursors"

    county: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
