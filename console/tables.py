"""The console's tables: operator accounts, their sessions, and the sign-in audit log.

Sessions are kept server-side (a random token in the cookie, its SHA-256 here) rather than in
a signed cookie: signing out, disabling an account or resetting a password must end every
session of that person at once, which a self-contained signed cookie cannot do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.models import Base, BigId, JSONDoc, UTCDateTime


class OperatorRow(Base):
    """A person who signs in to the console. `role`, `unit_code` and `divisions` become the
    same Actor an API key becomes, so the console applies the API's access rules."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    divisions: Mapped[list[str]] = mapped_column(JSONDoc)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_signins: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorSessionRow(Base):
    __tablename__ = "operator_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(Integer, ForeignKey("operators.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_operator_sessions_operator", "operator_id"),)


class SigninRow(Base):
    """Every sign-in attempt, kept append-only: who, when, from where, and how it ended."""

    __tablename__ = "operator_signins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # ok, bad_password, unknown, locked, disabled, signed_out
    remote: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_operator_signins_username", "username", "id"),)
