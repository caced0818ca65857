"""The knowledge base in the case engine: suggest articles for a case, answer an enquiry
directly (直接答复) citing article versions, and refuse an answer that cites an article
that is not published and valid — whichever route the answer took."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hub.db.models import EventRow
from hub.domain import commands as c
from hub.domain.access import Actor
from hub.domain.errors import RuleViolation
from hub.domain.model import Case
from knowledge.search import Hit, SearchQuery
from knowledge.store import InvalidField, KnowledgeStore

if TYPE_CHECKING:
    from hub.service import CaseService

ANSWERED = "case.answered"


class CitationRefused(RuleViolation):
    """An answer cites an article version that is not published and valid."""


class KnowledgeAnswers:
    def __init__(self, store: KnowledgeStore, cases: CaseService) -> None:
        self.store, self.cases = store, cases

    def suggest(self, number: str, actor: Actor, limit: int = 5) -> tuple[Case, list[Hit]]:
        case = self.cases.get(number, actor)
        # Valid today: the agent answers now, whatever applied when the call came in.
        hits = self.store.search(SearchQuery(text=f"{case.title}\n{case.content}", valid_on=self.store.today(), limit=limit))
        return case, hits

    def answer(self, number: str, answer: str, citations: list[str], actor: Actor, note: str | None = None) -> Case:
        if not citations:
            raise InvalidField("articles", "a direct answer from the knowledge base cites at least one article")
        self.store.check_citations(citations, self.store.today())
        return self.cases.act(number, c.AnswerDirectly(answer=answer, articles=citations, note=note), actor)

    def sink(self, session: Session, case: Case, rows: list[EventRow]) -> None:
        """Inside the case transaction: an answer citing a draft, retired or expired article
        is refused and the transaction rolls back (also for answers sent to /actions)."""
        for row in rows:
            if row.type != ANSWERED:
                continue
            cited = list((row.payload.get("data") or {}).get("articles") or [])
            if not cited:
                continue
            try:
                self.store.check_citations(cited, self.store.today(), session=session)
            except InvalidField as exc:
                raise CitationRefused(f"the answer cites {exc.reason}") from None
