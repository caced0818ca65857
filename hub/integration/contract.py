"""The adapter contract: the one typed interface every adapter implements, in-tree or not.

An adapter is a class registered under the entry-point group `hotline_hub.adapters`. The
hub builds it from a validated settings model, hands it messages from the outbox one at a
time (in order per case and destination), asks it for cases to pull if it pulls, and asks
it how it is. It answers with a result or raises one of the errors below; nothing else.

    AdapterError
    ├── TransientError      retry later (network, timeout, 5xx, 429, peer busy)
    └── PermanentError      never retry: dead-letter it (4xx, a code with no mapping, a fault
        ├── MappingFailure      that says the request itself is wrong)
        └── ConfigurationError
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.clock import Clock
from hub.domain.model import CaseDraft, ExternalRef


# -- errors ---------------------------------------------------------------------------------
class AdapterError(Exception):
    """Base of everything an adapter may raise."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class TransientError(AdapterError):
    """The peer may accept the same message later. `retry_after` (seconds) is honoured."""

    def __init__(self, message: str, *, retry_after: float | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class PermanentError(AdapterError):
    """Sending the same message again cannot succeed: it goes to dead letters."""


class MappingFailure(PermanentError):
    """A canonical value has no counterpart in the peer's codes (fix the mapping, then replay)."""


class ConfigurationError(PermanentError):
    """The adapter's settings or files are wrong."""


# -- what flows through the contract --------------------------------------------------------
class AdapterSettings(BaseModel):
    """Base of every adapter's settings model: unknown keys are errors, secrets are SecretStr."""

    model_config = ConfigDict(extra="forbid")


class OutboundMessage(BaseModel):
    """One delivery from the outbox. The same message always carries the same key."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str = Field(description="Stable across retries; send it to the peer so it can dedupe.")
    destination: str
    case_number: str
    sequence: int = Field(description="Position among this case's messages to this destination.")
    event_type: str = Field(description="e.g. case.dispatched; see hub.domain.events.EVENT_TYPES.")
    event: dict[str, Any] = Field(description="The domain event as JSON.")
    case: dict[str, Any] = Field(description="The case as this destination may see it, at the event's version.")
    external_id: str | None = Field(default=None, description="The peer's own id for the case, once known.")
    attempt: int = Field(default=1, ge=1)
    request_id: str | None = Field(
        default=None,
        description="The id of the HTTP request that caused the message, if one did; HTTP wires built with hub.integration.http send it as X-Request-ID.",
    )


class Delivery(BaseModel):
    """What a successful delivery returns. `external_ref` is stored on the case (first time)."""

    external_ref: ExternalRef | None = None
    detail: str | None = None


class PulledCase(BaseModel):
    """A case the peer assigns to the hub (e.g. 省转办). Its external ref is the dedupe key."""

    ref: ExternalRef
    draft: CaseDraft
    ack_token: str | None = Field(default=None, description="What acknowledge() needs to tell the peer.")


class PullBatch(BaseModel):
    items: list[PulledCase] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="Stored durably; the next pull starts here.")


class HealthReport(BaseModel):
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class AdapterContext:
    """What the hub lends an adapter: its destination name, the clock, the mappings folder."""

    destination: str
    clock: Clock
    mappings_dir: Path


SettingsT = TypeVar("SettingsT", bound=AdapterSettings)


class Adapter(ABC, Generic[SettingsT]):
    """Implement deliver() and health(); set supports_pull and implement pull() and
    acknowledge() if the peer assigns cases to the hub."""

    name: ClassVar[str]
    settings_model: ClassVar[type[AdapterSettings]]
    supports_pull: ClassVar[bool] = False

    def __init__(self, settings: SettingsT, context: AdapterContext) -> None:
        self.settings = settings
        self.context = context

    @abstractmethod
    def deliver(self, message: OutboundMessage) -> Delivery:
        """Send one message. Return on success; raise TransientError or PermanentError."""

    @abstractmethod
    def health(self) -> HealthReport:
        """A cheap check that the peer is reachable; never raises."""

    @classmethod
    def mapping_tables(cls, settings: Any, mappings_dir: Path) -> Sequence[object] | None:
        """The optional mapping-file extension: the tables (`integration_kit.tables.MappingTable`)
        that `settings` name under `mappings_dir`, which the adapter loads at start and the kit
        checks. None, the default, says the adapter does not use the extension; an empty list
        says it does and declares no table. A classmethod: the kit asks before building one."""
        return None

    def external_system(self) -> str | None:
        """The system name under which this peer's own case ids are kept (the `system` of
        the ExternalRef its deliveries return). The outbox then fills each message's
        `external_id` with the id the case holds for it at delivery time. None: no such id."""
        return None

    def batch_limit(self) -> int:
        """How many messages this adapter takes in one deliver_batch() call; 1 (the default)
        means one message per call. Peers with a batch endpoint say more."""
        return 1

    def deliver_batch(self, messages: list[OutboundMessage]) -> list[Delivery | AdapterError]:
        """Send up to batch_limit() messages, each of a different case, in one exchange.

        Returns one result per message, in order: its Delivery, or the TransientError /
        PermanentError that message met (an error of the whole exchange is every message's).
        The outbox records each result on its own message, exactly as for deliver(). The
        default sends them one by one.
        """
        results: list[Delivery | AdapterError] = []
        for message in messages:
            try:
                results.append(self.deliver(message))
            except AdapterError as exc:
                results.append(exc)
        return results

    def pull(self, cursor: str | None) -> PullBatch:
        """Cases the peer assigns to the hub since `cursor`. Only when supports_pull."""
        raise ConfigurationError(f"adapter {self.name} does not pull")

    def acknowledge(self, item: PulledCase, case_number: str) -> None:
        """Tell the peer the hub holds `item` as `case_number`. Only when supports_pull."""
        raise ConfigurationError(f"adapter {self.name} does not pull")

    def close(self) -> None:
        """Release connections. Called once when the hub stops."""
