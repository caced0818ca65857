"""Sharing changes with the province: every publish and retire is written, in the same
transaction, to the knowledge base's change feed (`kb_changes`) and, through the outbox,
to each destination that receives knowledge events (mappings/knowledge/sharing.yaml)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from knowledge.model import ArticleContent
from knowledge.tables import KbChangeRow

log = logging.getLogger("hub.knowledge")

SHARING_FILE = "sharing.yaml"
PUBLISHED = "knowledge.published"
RETIRED = "knowledge.retired"

# outbox.enqueue(session, *, destination, ordering_key, event_type, payload, case=None, now=None)
Enqueue = Callable[..., Any]


class SharingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destinations: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="Names in Settings.destinations that receive knowledge events."
    )


class Sharing:
    def __init__(self, destinations: list[str], enqueue: Enqueue | None) -> None:
        self.destinations = destinations
        self.enqueue = enqueue

    def published(self, s: Session, article_id: str, version: int, content: ArticleContent, owner_unit: str, now: datetime) -> None:
        payload = {"article_id": article_id, "version": version, "owner_unit": owner_unit, "published_at": now.isoformat(), **content.model_dump(mode="json")}
        self._record(s, PUBLISHED, article_id, version, payload, now)

    def retired(self, s: Session, article_id: str, version: int, now: datetime) -> None:
        self._record(s, RETIRED, article_id, version, {"article_id": article_id, "version": version, "retired_at": now.isoformat()}, now)

    def _record(self, s: Session, event_type: str, article_id: str, version: int, payload: dict[str, Any], now: datetime) -> None:
        s.add(KbChangeRow(article_id=article_id, version=version, event_type=event_type, occurred_at=now, payload=payload))
        if self.enqueue is None:
            return
        for destination in self.destinations:
            self.enqueue(
                s, destination=destination, ordering_key=f"kb:{article_id}", event_type=event_type, payload=payload, now=now
            )  # the store's clock (the hub's), not the enqueue's default


def destinations_for(config: SharingConfig, configured: dict[str, Any]) -> list[str]:
    """Names from sharing.yaml that are configured and enabled here; the others are logged."""
    out = []
    for name in config.destinations:
        dest = configured.get(name)
        if dest is None or not getattr(dest, "enabled", True):
            log.info("knowledge events for destination %r are kept in kb_changes only: it is not configured here", name)
            continue
        out.append(name)
    return out
