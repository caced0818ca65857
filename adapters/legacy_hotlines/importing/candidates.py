"""An operator's decisions on duplicate candidates. Confirming merges the later case into
the earlier through the case engine when the lifecycle allows it (并单 from 登记/受理);
historical cases are closed or archived, so most confirmations are recorded as a link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from adapters.legacy_hotlines.tables import CONFIRMED, DISMISSED, PENDING, LegacyCandidateRow
from hub.domain.access import Actor
from hub.domain.commands import Merge
from hub.domain.errors import ActionNotAllowed, DomainError, RuleViolation


class CandidateNotFound(DomainError):
    def __init__(self, candidate_id: int) -> None:
        self.candidate_id = candidate_id
        super().__init__(f"no duplicate candidate {candidate_id}")


class CandidateDecided(RuleViolation):
    """A candidate is decided once; a second decision is refused rather than silently redone."""


@dataclass(frozen=True)
class Candidate:
    id: int
    case_a: str
    case_b: str
    line_a: str
    line_b: str
    score: float
    text_similarity: float
    hours_apart: float
    status: str
    resolution: str | None
    decided_by: str | None
    note: str | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _candidate(r: LegacyCandidateRow) -> Candidate:
    return Candidate(r.id, r.case_a, r.case_b, r.line_a, r.line_b, r.score, r.text_similarity, r.hours_apart, r.status, r.resolution, r.decided_by, r.note)


class Candidates:
    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def list(self, status: str | None = PENDING, min_score: float = 0.0, limit: int = 100, after_id: int = 0) -> list[Candidate]:
        stmt = select(LegacyCandidateRow).where(LegacyCandidateRow.score >= min_score, LegacyCandidateRow.id > after_id)
        if status:
            stmt = stmt.where(LegacyCandidateRow.status == status)
        with self.hub.db.read() as s:
            rows = s.execute(stmt.order_by(LegacyCandidateRow.id).limit(limit)).scalars().all()
            return [_candidate(r) for r in rows]

    def get(self, candidate_id: int) -> Candidate:
        with self.hub.db.read() as s:
            row = s.get(LegacyCandidateRow, candidate_id)
            if row is None:
                raise CandidateNotFound(candidate_id)
            return _candidate(row)

    def confirm(self, candidate_id: int, actor: Actor, note: str | None = None) -> Candidate:
        c = self.get(candidate_id)
        self._undecided(c)
        resolution = "linked"
        try:
            self.hub.cases.act(c.case_b, Merge(into=c.case_a, note=note or f"duplicate candidate {c.id}"), actor)
            resolution = "merged"
        except (ActionNotAllowed, RuleViolation):
            # Historical cases are closed: the engine refuses 并单, and a link is what is left.
            pass
        return self._decide(candidate_id, CONFIRMED, resolution, actor, note)

    def dismiss(self, candidate_id: int, actor: Actor, note: str | None = None) -> Candidate:
        self._undecided(self.get(candidate_id))
        return self._decide(candidate_id, DISMISSED, None, actor, note)

    @staticmethod
    def _undecided(c: Candidate) -> None:
        if c.status != PENDING:
            raise CandidateDecided(f"candidate {c.id} is already {c.status}")

    def _decide(self, candidate_id: int, status: str, resolution: str | None, actor: Actor, note: str | None) -> Candidate:
        with self.hub.db.write() as s:
            row = s.get(LegacyCandidateRow, candidate_id)
            if row.status != PENDING:
                raise CandidateDecided(f"candidate {candidate_id} is already {row.status}")
            row.status, row.resolution, row.decided_by = status, resolution, actor.party
            row.decided_at, row.note = self.hub.clock.now(), note
            s.flush()
            return _candidate(row)
