"""The channels feature's tables: retrieval codes and lookup failures (migration 0015_channels), the
shared rate counters (0016_rate_counters), the WeChat guided dialogues (0022_wechat_dialogues)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, JSONDoc, UTCDateTime


class RetrievalCodeRow(Base):
    """A case's retrieval code (提取码), never in clear: HMAC-SHA256 under a key kept outside the
    database (channels/codes.py says why a keyed hash and not argon2)."""

    __tablename__ = "retrieval_codes"

    case_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LookupFailureRow(Base):
    """Wrong codes counted per subject: a case number or a client address, each as a keyed hash
    (so the table lists neither the numbers tried nor the addresses that tried them). A number
    that does not exist is counted like one that does, so a lockout reveals nothing."""

    __tablename__ = "lookup_failures"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateCounterRow(Base):
    """Requests per subject (e.g. `intake:<party>`) per 60-second window, shared by every hub
    process through the database (migration 0016_rate_counters). Windows older than the one
    before the current are deleted as the subject is counted again."""

    __tablename__ = "rate_counters"

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class WeChatDialogueRow(Base):
    """A WeChat follower's guided dialogue (channels/wechat_dialogue_store.py), shared by every
    hub process: the step and the answers so far (they may hold a phone and a place: personal
    data, pruned once expired, listed by the subject-access export), and the last reply, sealed,
    for WeChat's retry of the same MsgId. `state` null: the dialogue is over and the row is kept
    only for that retry, a minute at most."""

    __tablename__ = "wechat_dialogues"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    last_msg_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_wechat_dialogues_expires_at", "expires_at"),)
