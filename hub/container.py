"""The composition root: the one place that builds the database, the clock and the services
from one Settings object. Tests build it with their own settings and clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from hub.attachments import AttachmentService
from hub.calendar_store import CalendarStore
from hub.db.database import Database
from hub.domain.clock import Clock, SystemClock
from hub.features import Worker
from hub.handles import Handles
from hub.keys import KeyStore
from hub.mappings import Catalogue, load_catalogue
from hub.metrics_processes import new_registry
from hub.read_audit import ConfidentialReadRow  # noqa: F401  (registers the audit table the case API writes)
from hub.service import CaseService, EventSink
from hub.settings import Settings

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass
class Hub:
    settings: Settings
    clock: Clock
    db: Database
    catalogue: Catalogue
    calendars: CalendarStore
    keys: KeyStore
    cases: CaseService
    attachments: AttachmentService
    routers: list[APIRouter] = field(default_factory=list)  # added by features
    workers: list[Worker] = field(default_factory=list)  # background workers added by features
    handles: Handles = field(default_factory=Handles)  # what features hand each other, keyed by type
    # The registry /metrics serves: the hub's own metrics and any feature's (outbox, supervision) go here.
    # Summed over the API processes when `serve` runs several (hub/metrics_processes.py).
    metrics_registry: CollectorRegistry = field(default_factory=new_registry)
    # (logger, message) said when a long-running process starts (serve, relay), not by every one-shot command
    start_warnings: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, sinks: list[EventSink] | None = None) -> Hub:
        clock = clock or SystemClock()
        catalogue = load_catalogue(settings.mappings_dir)  # a bad mapping stops the start here
        db = Database(
            settings.database_url,
            sqlite_synchronous=settings.sqlite_synchronous,
            phone_index_key=settings.phone_index_key_bytes(),
            person_seal_key=settings.person_seal_key_bytes(),
        )
        calendars = CalendarStore(db, ttl=settings.calendar_cache_seconds)
        cases = CaseService(db, settings, catalogue, clock, calendars, sinks)
        attachments = AttachmentService(db, settings, clock, cases)
        return cls(settings, clock, db, catalogue, calendars, KeyStore(db), cases, attachments)

    def close(self) -> None:
        self.db.dispose()

    # A one-shot command's hub: `with hubs() as hub:` closes it however the command ends.
    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
