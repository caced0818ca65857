"""The province poller's durable state: where the last pull ended, and assigned cases the
hub could not take (so an operator sees them instead of them vanishing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, UTCDateTime


class ProvinceCursorRow(Base):
    __tablename__ = "province_cursors"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProvincePullFailureRow(Base):
    __tablename__ = "province_pull_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(String(64), index=True)
    province_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
