"""The audit of confidential reads (保密): who read a confidential case through the API.

Core, not the records feature: the case API itself records every such read before it
answers (a read that cannot be recorded is not served), so the hub keeps it whichever
features are installed. The records feature lists the reads (`hotline-hub privacy reads`)
and puts them into the subject-access export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.database import Database
from hub.db.models import Base, BigId, UTCDateTime
from hub.domain.access import Actor
from hub.domain.model import Case


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


# -- the audit of confidential reads ------------------------------------------------------
@dataclass(frozen=True)
class ConfidentialRead:
    at: datetime
    case_number: str
    party: str
    role: str
    route: str


def record_read(db: Database, actor: Actor, case: Case, route: str, at: datetime) -> None:
    """Record the read if the case's person is confidential (保密); other cases cost nothing.
    Written before the case is answered: a read that cannot be recorded is not served."""
    if not case.person.confidential:
        return
    with db.write() as s:
        s.add(ConfidentialReadRow(at=at, case_number=case.number, party=actor.party, role=actor.role.value, route=route))


def list_reads(db: Database, case_number: str | None = None, party: str | None = None, limit: int = 1000) -> list[ConfidentialRead]:
    """The reads recorded, oldest first, of one case and/or by one party."""
    stmt = select(ConfidentialReadRow).order_by(ConfidentialReadRow.id)
    if case_number:
        stmt = stmt.where(ConfidentialReadRow.case_number == case_number)
    if party:
        stmt = stmt.where(ConfidentialReadRow.party == party)
    with db.read() as s:
        return [ConfidentialRead(r.at, r.case_number, r.party, r.role, r.route) for r in s.execute(stmt.limit(limit)).scalars()]
