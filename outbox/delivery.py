"""Handing claimed messages to the destinations' adapters (in the relay's thread pool, one
adapter instance per thread and destination) and sorting what they answer into outcomes.
The adapters come from a factory, so the relay needs neither the hub nor its settings."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hub.domain.clock import Clock
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    AdapterError,
    ConfigurationError,
    Delivery,
    OutboundMessage,
    PermanentError,
    TransientError,
)
from hub.integration.registry import build_adapter, discover
from hub.logmask import carrying_request_id, mask_text
from hub.settings import DestinationConfig
from outbox.breaker import LocalBreaker
from outbox.claim import Claimed

log = logging.getLogger("hub.outbox")


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    kind: str  # "delivered" | "transient" | "permanent" | "deferred" (not sent: breaker open, or misconfigured)
    delivery: Delivery | None = None
    error: str | None = None
    retry_after: float | None = None
    tripped: bool = False  # this failure paused the destination in this relay (the breaker, locally)
    misconfigured: bool = False  # deferred because the destination's settings or files are wrong: pause it


class AdapterFactory(Protocol):
    """Builds the adapter of a destination; says which destinations there are."""

    def configured(self) -> list[str]:
        """Every destination in the settings, enabled or not."""
        ...

    def deliverable(self) -> list[str]:
        """The enabled ones: the only ones this relay claims for. Another relay may have one
        this relay's settings lack (a rolling change), and a disabled one keeps its backlog."""
        ...

    def build(self, destination: str) -> Adapter:
        """A new adapter; ConfigurationError when the destination is unknown, disabled or broken."""
        ...


class DestinationAdapters:
    """The factory from Settings.destinations and the installed adapters (entry points)."""

    def __init__(self, destinations: dict[str, DestinationConfig], clock: Clock, mappings_dir: Path) -> None:
        self.destinations = destinations
        self.clock = clock
        self.mappings_dir = mappings_dir
        self._available: dict[str, type[Adapter]] | None = None

    def configured(self) -> list[str]:
        return list(self.destinations)

    def deliverable(self) -> list[str]:
        return [name for name, d in self.destinations.items() if d.enabled]

    def build(self, destination: str) -> Adapter:
        config = self.destinations.get(destination)
        if config is None or not config.enabled:
            raise ConfigurationError(f"destination {destination!r} is not configured (or disabled) on this relay")
        if self._available is None:
            self._available = discover()
        context = AdapterContext(destination, self.clock, self.mappings_dir)
        return build_adapter(destination, config.adapter, config.settings, context, self._available)


class Deliverer:
    """Delivers groups of claimed messages; keeps what it asked the adapters once."""

    def __init__(self, factory: AdapterFactory, breaker: LocalBreaker) -> None:
        self.factory = factory
        self.breaker = breaker
        self._local = threading.local()
        self._adapters: list[Adapter] = []
        self._adapters_lock = threading.Lock()
        self._facts: dict[str, tuple[str | None, int]] = {}

    def adapter(self, destination: str) -> Adapter:
        cache: dict[str, Adapter] = self._local.__dict__.setdefault("adapters", {})
        adapter = cache.get(destination)
        if adapter is None:
            adapter = cache[destination] = self.factory.build(destination)
            with self._adapters_lock:
                self._adapters.append(adapter)
        return adapter

    def facts(self, destination: str) -> tuple[str | None, int]:
        """(external system, batch limit) of a destination's adapter, asked once."""
        facts = self._facts.get(destination)
        if facts is None:
            try:
                adapter = self.adapter(destination)
                facts = (adapter.external_system(), max(1, int(adapter.batch_limit())))
            except Exception:  # noqa: BLE001 - a broken adapter fails its delivery, recorded there
                facts = (None, 1)
            self._facts[destination] = facts
        return facts

    def know_all(self) -> None:
        """Build the adapters (files, clients) before a claim takes the writer, not inside it."""
        configured = self.factory.configured()
        if len(self._facts) < len(configured):
            for destination in configured:
                self.facts(destination)

    def forget(self, destination: str) -> None:
        """Ask the rebuilt adapter again (after a misconfiguration pause)."""
        self._facts.pop(destination, None)

    def system(self, destination: str) -> str | None:
        return self.facts(destination)[0]

    def groups(self, claimed: list[Claimed]) -> list[list[Claimed]]:
        """Claimed messages as deliveries: alone, or in batches for adapters that take them.
        A claim holds at most one message per ordering key, so a batch never carries two
        messages of one case."""
        by_destination: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_destination.setdefault(c.destination, []).append(c)
        groups: list[list[Claimed]] = []
        for destination, items in by_destination.items():
            limit = self.facts(destination)[1]
            groups.extend(items[i : i + limit] for i in range(0, len(items), limit))
        return groups

    def deliver(self, group: list[Claimed]) -> list[Outcome]:
        """Deliver one message, or one batch of one destination; an outcome per message."""
        first = group[0]
        if self.breaker.is_open(first.destination):
            return [Outcome(c, "deferred", error="not sent: the destination is paused by the circuit breaker") for c in group]
        try:
            adapter = self.adapter(first.destination)
        except ConfigurationError as exc:
            return [_misconfigured(c, exc) for c in group]
        try:
            if len(group) == 1:
                try:
                    with carrying_request_id(first.body.get("request_id")):  # its log lines and the peer call
                        results: list[Any] = [adapter.deliver(_message(first))]
                except AdapterError as exc:
                    results = [exc]
            else:
                results = list(adapter.deliver_batch([_message(c) for c in group]))
                if len(results) != len(group):
                    raise TypeError(f"deliver_batch answered {len(results)} results for {len(group)} messages")
        except ConfigurationError as exc:  # deliver_batch raised it for the whole exchange
            return [_misconfigured(c, exc) for c in group]
        except Exception as exc:  # an adapter broke the contract; retrying is safer than losing the message
            log.exception("adapter for %s raised %s outside the contract", first.destination, type(exc).__name__)
            error = f"adapter raised {type(exc).__name__} (not a contract error): {mask_text(str(exc))}"
            return [Outcome(c, "transient", error=error) for c in group]
        return [self._outcome(c, r) for c, r in zip(group, results)]

    def _outcome(self, c: Claimed, result: Any) -> Outcome:
        if isinstance(result, Delivery):
            self.breaker.note(c.destination, failed=False)
            return Outcome(c, "delivered", delivery=result)
        if isinstance(result, TransientError):
            tripped = self.breaker.note(c.destination, failed=True)
            return Outcome(c, "transient", error=_describe(result), retry_after=result.retry_after, tripped=tripped)
        if isinstance(result, ConfigurationError):
            return _misconfigured(c, result)
        if isinstance(result, PermanentError):
            return Outcome(c, "permanent", error=_describe(result))
        log.error("adapter for %s answered %s outside the contract", c.destination, type(result).__name__)
        return Outcome(c, "transient", error=f"adapter answered {type(result).__name__} (not a Delivery or contract error)")

    def close(self) -> None:
        with self._adapters_lock:
            adapters, self._adapters = self._adapters, []
        for a in adapters:
            a.close()


def _misconfigured(c: Claimed, exc: ConfigurationError) -> Outcome:
    """The destination's settings or files are wrong (a file gone or changed since the
    start checked them, a setting only this adapter call reads). Neither the peer nor the
    message is at fault, so no attempt is used up and nothing goes to dead letters: the
    message waits, and the destination pauses for everyone with the reason in its pause
    state (`outbox status`). After the pause the adapter is built again, so a restored
    file heals by itself; `outbox resume` retries at once (hence no pause kept in this
    relay alone: other messages it already claimed meet the same error, at no cost)."""
    return Outcome(c, "deferred", error=f"misconfigured: {mask_text(str(exc))[:1500]}", misconfigured=True)


def _message(c: Claimed) -> OutboundMessage:
    body = dict(c.body)
    body["attempt"] = c.attempts
    if c.external_id and not body.get("external_id"):
        body["external_id"] = c.external_id
    return OutboundMessage.model_validate(body)


def _describe(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    text = f"{type(exc).__name__}: {exc}" + (f" | {detail}" if detail else "")
    return mask_text(text)[:2000]
