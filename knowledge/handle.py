"""What the knowledge feature hands its API, its CLI and tests: `hub.handles.get(Knowledge)`."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.answer import KnowledgeAnswers
from knowledge.store import KnowledgeStore


@dataclass
class Knowledge:
    store: KnowledgeStore
    answers: KnowledgeAnswers
